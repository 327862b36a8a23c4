using System.Diagnostics;

namespace Pathfinder.Signaling.Telemetry;

/// <summary>
/// The ActivitySource of the service (same name as the meter): one activity per WebSocket handshake and per relay.
/// A relay that crosses replicas carries the W3C trace context in the cluster envelope, so the sender's relay and
/// the receiver's delivery show as one trace. Activities exist only while someone listens (OpenTelemetry, tests).
/// </summary>
public static class SignalingActivity
{
    public const string SourceName = SignalingMetrics.MeterName;

    public static ActivitySource Source { get; } = new(SourceName);

    /// <summary>True while something listens to the source (cheap to test per message).</summary>
    public static bool IsTracing => Source.HasListeners();

    public static Activity? StartRelay(string type, string src, string dst) =>
        Source.HasListeners()
            ? Source.StartActivity("peerjs relay", ActivityKind.Producer)
                ?.SetTag("peerjs.message.type", type).SetTag("peerjs.src", src).SetTag("peerjs.dst", dst)
            : null;

    /// <summary>The hand-off on the receiver's replica, parented to the sender's relay.</summary>
    public static Activity? StartDelivery(string traceParent, string type, string dst)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        ActivityContext.TryParse(traceParent, null, out var parent);
        return Source.StartActivity("peerjs deliver", ActivityKind.Consumer, parent)
            ?.SetTag("peerjs.message.type", type).SetTag("peerjs.dst", dst);
    }

    public static Activity? StartHandshake() =>
        Source.HasListeners() ? Source.StartActivity("peerjs handshake", ActivityKind.Server) : null;
}
