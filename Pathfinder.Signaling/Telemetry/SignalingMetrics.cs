using System.Diagnostics.Metrics;

namespace Pathfinder.Signaling.Telemetry;

public enum RelayRoute
{
    Local,
    Remote,
}

/// <summary>Outcome of a WebSocket handshake, as a metric tag.</summary>
public enum ConnectOutcome
{
    Opened,
    InvalidKey,
    IdTaken,
    Limit,
    BadRequest,
    RateLimited,
    OriginDenied,

    /// <summary>The claim could not be decided (backplane unavailable): refused with a retryable ERROR.</summary>
    Unavailable,
}

public static class ConnectOutcomeExtensions
{
    /// <summary>The metric tag value and the reason in the handshake-rejected log event.</summary>
    public static string Reason(this ConnectOutcome outcome) => outcome switch
    {
        ConnectOutcome.Opened => "opened",
        ConnectOutcome.InvalidKey => "invalid_key",
        ConnectOutcome.IdTaken => "id_taken",
        ConnectOutcome.Limit => "limit",
        ConnectOutcome.RateLimited => "rate_limited",
        ConnectOutcome.OriginDenied => "origin_denied",
        ConnectOutcome.Unavailable => "unavailable",
        _ => "bad_request",
    };
}

/// <summary>
/// Every instrument of the meter <c>Pathfinder.Signaling</c>. Tag values come from small enums, never peer ids.
/// </summary>
public sealed class SignalingMetrics
{
    public const string MeterName = "Pathfinder.Signaling";

    /// <summary>Signaling latencies live between 50 µs and a few seconds; the SDK's default buckets (0–10000) would put them all in one.</summary>
    private static readonly InstrumentAdvice<double> LatencyBuckets = new()
    {
        HistogramBucketBoundaries = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    };

    private readonly UpDownCounter<long> _activePeers;
    private readonly Counter<long> _connections;
    private readonly Counter<long> _disconnects;
    private readonly Counter<long> _relayed;
    private readonly Counter<long> _malformed;
    private readonly Counter<long> _ignored;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _queued;
    private readonly Counter<long> _delivered;
    private readonly Counter<long> _expired;
    private readonly Counter<long> _refused;
    private readonly Counter<long> _rateLimited;
    private readonly Histogram<double> _backplanePublish;
    private readonly Counter<long> _backplaneErrors;
    private readonly Histogram<double> _relayDuration;
    private readonly Histogram<double> _connectDuration;

    public SignalingMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _activePeers = meter.CreateUpDownCounter<long>(
            "pathfinder.signaling.active_peers", "{peer}", "Peers with an open, registered connection on this replica.");
        _connections = meter.CreateCounter<long>(
            "pathfinder.signaling.connections", "{connection}", "WebSocket handshakes by outcome.");
        _disconnects = meter.CreateCounter<long>(
            "pathfinder.signaling.disconnects", "{connection}", "Registered peers that went away, by reason.");
        _relayed = meter.CreateCounter<long>(
            "pathfinder.signaling.messages.relayed", "{message}", "Messages handed to their destination, by route.");
        _malformed = meter.CreateCounter<long>(
            "pathfinder.signaling.messages.malformed", "{message}", "Frames dropped because they were not a JSON object.");
        _ignored = meter.CreateCounter<long>(
            "pathfinder.signaling.messages.ignored", "{message}", "Well-formed messages of a type the server does not relay, or without dst.");
        _dropped = meter.CreateCounter<long>(
            "pathfinder.signaling.messages.dropped", "{message}", "Messages that could not be delivered or queued.");
        _queued = meter.CreateCounter<long>(
            "pathfinder.signaling.offline.queued", "{message}", "Messages queued for an offline destination.");
        _delivered = meter.CreateCounter<long>(
            "pathfinder.signaling.offline.delivered", "{message}", "Queued messages delivered when their destination connected.");
        _expired = meter.CreateCounter<long>(
            "pathfinder.signaling.offline.expired", "{message}", "EXPIRE notices for queues that timed out.");
        _refused = meter.CreateCounter<long>(
            "pathfinder.signaling.offline.refused", "{message}", "Messages refused because an offline queue was full.");
        _rateLimited = meter.CreateCounter<long>(
            "pathfinder.signaling.messages.rate_limited", "{message}", "Messages dropped because their sender was over its relay rate.");
        _backplanePublish = meter.CreateHistogram<double>(
            "pathfinder.signaling.backplane.publish.duration", "s", "Round trip of one routing script on Redis.", tags: null, LatencyBuckets);
        _backplaneErrors = meter.CreateCounter<long>(
            "pathfinder.signaling.backplane.errors", "{error}", "Redis operations that failed.");
        _connectDuration = meter.CreateHistogram<double>(
            "pathfinder.signaling.connect.duration", "s", "Time from the WebSocket upgrade request to OPEN.", tags: null, LatencyBuckets);
        _relayDuration = meter.CreateHistogram<double>(
            "pathfinder.signaling.relay.duration", "s", "Time from a relay leaving the sender's replica to its hand-off to the receiver's send queue.", tags: null, LatencyBuckets);
    }

    public void BackplanePublished(TimeSpan elapsed) => _backplanePublish.Record(elapsed.TotalSeconds);

    public void BackplaneError() => _backplaneErrors.Add(1);

    /// <summary>End-to-end time of a relay across replicas, from the sender's replica publishing to local hand-off.</summary>
    public void RemoteRelayDuration(long microseconds) =>
        _relayDuration.Record(Math.Max(0, microseconds) / 1_000_000.0, new KeyValuePair<string, object?>("route", "remote"));

    /// <summary>Time to hand a relay to a receiver on the same replica.</summary>
    public void LocalRelayDuration(TimeSpan elapsed) =>
        _relayDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("route", "local"));

    /// <summary>From the upgrade request to OPEN being queued for the new peer.</summary>
    public void ConnectDuration(TimeSpan elapsed) => _connectDuration.Record(elapsed.TotalSeconds);

    public void PeerOpened() => _activePeers.Add(1);

    /// <summary>A registered peer's connection ended; <paramref name="reason"/> is the disconnect reason's tag (Routing's <c>DisconnectReason.Name()</c>).</summary>
    public void PeerClosed(string reason)
    {
        _activePeers.Add(-1);
        _disconnects.Add(1, new KeyValuePair<string, object?>("reason", reason));
    }

    public void Connection(ConnectOutcome outcome) =>
        _connections.Add(1, new KeyValuePair<string, object?>("outcome", OutcomeName(outcome)));

    public void Relayed(RelayRoute route) =>
        _relayed.Add(1, new KeyValuePair<string, object?>("route", route == RelayRoute.Local ? "local" : "remote"));

    public void Malformed() => _malformed.Add(1);

    public void MessageIgnored() => _ignored.Add(1);

    public void MessageDropped() => _dropped.Add(1);

    public void OfflineQueued() => _queued.Add(1);

    public void OfflineDelivered(int count)
    {
        if (count > 0)
        {
            _delivered.Add(count);
        }
    }

    public void OfflineExpired() => _expired.Add(1);

    public void OfflineRefused() => _refused.Add(1);

    public void RelayRateLimited() => _rateLimited.Add(1);

    private static string OutcomeName(ConnectOutcome outcome) => outcome.Reason();
}
