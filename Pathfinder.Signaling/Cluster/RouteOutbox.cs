using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;
using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Cluster;

/// <summary>
/// One message waiting to be routed through Redis, and the awaitable outcome of routing it. Pooled: the outcome is
/// read exactly once (by whoever awaits <see cref="Outcome"/>), after which the request goes back to the pool.
/// </summary>
internal sealed class RouteRequest : IValueTaskSource<RouteOutcome>
{
    private const int PoolLimit = 4096;
    private static readonly ConcurrentQueue<RouteRequest> Pool = new();
    private static int s_pooled;

    private ManualResetValueTaskSourceCore<RouteOutcome> _core;

    private RouteRequest()
    {
        // Completed inline: the continuation (outcome policy, a few non-blocking sends) runs on the thread that read
        // Redis' answer, in order with the other outcomes of the same call. Its sends (the sender's EXPIRE or LEAVE for
        // a failed delivery) are flushed at once: the call's SendBatch is not handed to it.
        _core.RunContinuationsAsynchronously = false;
    }

    public Outbound Message { get; private set; } = null!;

    /// <summary>The cluster envelope behind its int32 length (<see cref="ClusterEnvelope.TryWriteFramed"/>).</summary>
    public byte[] Framed { get; private set; } = null!;

    /// <summary>1 for a message re-routed by a replica that no longer had the peer: never published back to it.</summary>
    public byte Hop { get; private set; }

    /// <summary><see cref="System.Diagnostics.Stopwatch"/> timestamp of the request.</summary>
    public long Started { get; private set; }

    public ValueTask<RouteOutcome> Outcome => new(this, _core.Version);

    public static RouteRequest Rent(Outbound message, byte[] framed, byte hop, long started)
    {
        if (Pool.TryDequeue(out var request))
        {
            Interlocked.Decrement(ref s_pooled);
        }
        else
        {
            request = new RouteRequest();
        }

        request.Message = message;
        request.Framed = framed;
        request.Hop = hop;
        request.Started = started;
        return request;
    }

    /// <summary>Sets the outcome; the request must not be touched afterwards (its reader may recycle it at once).</summary>
    public void Complete(RouteOutcome outcome) => _core.SetResult(outcome);

    RouteOutcome IValueTaskSource<RouteOutcome>.GetResult(short token)
    {
        var outcome = _core.GetResult(token);
        Message = null!;
        Framed = null!;
        _core.Reset();
        if (Interlocked.Increment(ref s_pooled) <= PoolLimit)
        {
            Pool.Enqueue(this);
        }
        else
        {
            Interlocked.Decrement(ref s_pooled);
        }

        return outcome;
    }

    ValueTaskSourceStatus IValueTaskSource<RouteOutcome>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<RouteOutcome>.OnCompleted(
        Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}

/// <summary>
/// The queue in front of the route script: messages are routed in the order they were queued, by one script call
/// at a time (a group commit). The first message after a quiet spell is sent at once, on the caller's thread; whatever
/// queues up while a call is out goes in the next call, so under load one round trip carries many messages and each
/// replica gets one pub/sub message per call. Bounded in messages and in bytes: past <see cref="Capacity"/> waiting
/// messages or <see cref="ByteCapacity"/> bytes (waiting or in the call that is out), a new one is refused (the caller
/// reports the backplane unavailable) instead of growing without limit while Redis stalls.
/// </summary>
internal sealed class RouteOutbox(Func<List<RouteRequest>, Task> runBatch, int capacity, long byteCapacity)
{
    private readonly Lock _gate = new();
    private List<RouteRequest> _waiting = [];
    private List<RouteRequest>? _spare = [];
    private bool _running;
    private long _bytes;

    public int Capacity { get; } = capacity;

    public long ByteCapacity { get; } = byteCapacity;

    /// <summary>Queues a request; false when <see cref="Capacity"/> requests or <see cref="ByteCapacity"/> bytes are already held.</summary>
    public bool TryEnqueue(RouteRequest request)
    {
        lock (_gate)
        {
            if (_waiting.Count >= Capacity || _bytes + request.Framed.Length > ByteCapacity)
            {
                return false;
            }

            _bytes += request.Framed.Length;
            _waiting.Add(request);
            if (_running)
            {
                return true;
            }

            _running = true;
        }

        _ = DrainAsync();
        return true;
    }

    private async Task DrainAsync()
    {
        // Started by whichever sender found the outbox idle: its trace must not become the parent of everything the
        // drain does from here on (this only changes the drain's own async context).
        System.Diagnostics.Activity.Current = null;
        while (true)
        {
            List<RouteRequest> batch;
            lock (_gate)
            {
                if (_waiting.Count == 0)
                {
                    _running = false;
                    return;
                }

                batch = _waiting;
                _waiting = _spare ?? [];
                _spare = null;
            }

            long bytes = 0;
            foreach (var request in batch)
            {
                bytes += request.Framed.Length;
            }

            // runBatch completes every request, whatever happens to the call.
            await runBatch(batch);
            batch.Clear();
            lock (_gate)
            {
                _bytes -= bytes;
                _spare = batch;
            }
        }
    }
}
