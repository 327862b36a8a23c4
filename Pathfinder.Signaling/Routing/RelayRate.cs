using Pathfinder.Signaling.Configuration;

namespace Pathfinder.Signaling.Routing;

/// <summary>The refill rate (tokens per second) and the size (burst) of a <see cref="TokenBucket"/>.</summary>
public readonly record struct TokenBucketLimit(long PerSecond, long Burst);

/// <summary>
/// A token bucket in exact integer arithmetic, driven by timestamps (<see cref="TimeProvider.GetTimestamp"/>): the
/// level is kept in tokens × timestamp frequency, so <c>elapsed ticks × tokens per second</c> refills it without
/// rounding. It starts full. Not thread-safe: one owner calls it.
/// </summary>
public struct TokenBucket
{
    private long _level; // tokens × frequency
    private long _updated;
    private bool _started;

    /// <summary>The whole tokens available at <paramref name="now"/> (refills first).</summary>
    public long Available(in TokenBucketLimit limit, long now, long frequency)
    {
        Refill(limit, now, frequency);
        return _level / frequency;
    }

    /// <summary>Adds what <paramref name="limit"/>'s rate earned since the last call, up to the burst.</summary>
    public void Refill(in TokenBucketLimit limit, long now, long frequency)
    {
        var capacity = limit.Burst * frequency;
        if (!_started)
        {
            _started = true;
            _level = capacity;
            _updated = now;
            return;
        }

        var elapsed = now - _updated;
        if (elapsed <= 0)
        {
            return; // time does not go back
        }

        _updated = now;
        var missing = capacity - _level;
        if (missing <= 0)
        {
            return;
        }

        // Compared before multiplying: a long idle time cannot overflow.
        _level = elapsed > missing / limit.PerSecond ? capacity : Math.Min(capacity, _level + (elapsed * limit.PerSecond));
    }

    /// <summary>Whether <paramref name="amount"/> tokens are there (after <see cref="Refill"/>).</summary>
    public readonly bool Has(long amount, long frequency) => amount * frequency <= _level;

    /// <summary>Takes <paramref name="amount"/> tokens (after <see cref="Has"/> said they are there).</summary>
    public void Take(long amount, long frequency) => _level -= amount * frequency;
}

/// <summary>The relay rate every connection gets (from the settings), and the timestamp frequency it is measured in.</summary>
public sealed record RelayRateLimits(TokenBucketLimit Messages, TokenBucketLimit Bytes, long Frequency)
{
    /// <summary>Refused messages in a row after which the sender is closed (deterministic: no time involved).</summary>
    public const int RefusalsBeforeClose = 64;

    public static RelayRateLimits From(SignalingOptions options, TimeProvider time)
    {
        var frequency = time.TimestampFrequency;
        // Levels are kept in tokens × frequency: the largest burst must fit in a long.
        _ = checked(Math.Max(options.RelayMessageBurst, options.RelayByteBurst) * frequency);
        return new RelayRateLimits(
            new TokenBucketLimit(options.RelayMessagesPerSecond, options.RelayMessageBurst),
            new TokenBucketLimit(options.RelayBytesPerSecond, options.RelayByteBurst),
            frequency);
    }
}

/// <summary>What <see cref="RelayRate.TryTake"/> decided about one message.</summary>
public enum RelayVerdict
{
    /// <summary>Within the rate: relay it.</summary>
    Allowed,

    /// <summary>Over the rate, the first of a streak: drop it and tell the sender (ERROR).</summary>
    Refused,

    /// <summary>Over the rate again in the same streak: drop it quietly.</summary>
    RefusedAgain,

    /// <summary>The <see cref="RelayRateLimits.RefusalsBeforeClose"/>th refusal in a row: drop it and close the sender.</summary>
    Close,
}

/// <summary>
/// The relay rate of one connection: a token bucket for messages and one for bytes; a message is relayed only when
/// both have room, and then takes from both. Refusals in a row form a streak that an allowed message ends. Owned by
/// routing; each connection carries one and only its own read loop calls it.
/// </summary>
public sealed class RelayRate
{
    private TokenBucket _messages;
    private TokenBucket _bytes;
    private int _refused;

    /// <summary>Refused messages in the current streak (0 after an allowed one).</summary>
    public int RefusedInARow => _refused;

    /// <summary>Decides about one message of <paramref name="bytes"/> bytes sent at <paramref name="now"/>.</summary>
    public RelayVerdict TryTake(RelayRateLimits limits, long now, int bytes)
    {
        var frequency = limits.Frequency;
        _messages.Refill(limits.Messages, now, frequency);
        _bytes.Refill(limits.Bytes, now, frequency);
        if (_messages.Has(1, frequency) && _bytes.Has(bytes, frequency))
        {
            _messages.Take(1, frequency);
            _bytes.Take(bytes, frequency);
            _refused = 0;
            return RelayVerdict.Allowed;
        }

        _refused++;
        return _refused switch
        {
            1 => RelayVerdict.Refused,
            RelayRateLimits.RefusalsBeforeClose => RelayVerdict.Close,
            _ => RelayVerdict.RefusedAgain,
        };
    }
}
