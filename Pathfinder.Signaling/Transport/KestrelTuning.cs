namespace Pathfinder.Signaling.Transport;

/// <summary>
/// Kestrel settings that matter for many small, long-lived WebSockets on few cores (measured with bench/run.sh):
/// socket completions run application code inline instead of hopping to another thread pool thread
/// (<c>UnsafePreferInlineScheduling</c>: safe here because nothing on the relay path blocks). Off with
/// <c>Signaling:InlineScheduling=false</c>.
/// </summary>
public static class KestrelTuning
{
    public const string InlineSchedulingSetting = "Signaling:InlineScheduling";

    public static WebApplicationBuilder UseSignalingSockets(this WebApplicationBuilder builder)
    {
        var inline = builder.Configuration.GetValue(InlineSchedulingSetting, defaultValue: true);
        builder.WebHost.UseSockets(sockets => sockets.UnsafePreferInlineScheduling = inline);
        return builder;
    }
}
