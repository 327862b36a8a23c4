using Pathfinder.Signaling.Configuration;

namespace Pathfinder.Signaling.Transport;

/// <summary>
/// Kestrel settings that matter for many small, long-lived WebSockets on few cores (measured with bench/run.sh):
/// on Kestrel's socket transport, socket completions run application code inline instead of hopping to another thread pool thread
/// (<c>UnsafePreferInlineScheduling</c>: safe here because nothing on the relay path blocks; off with
/// <c>Signaling:InlineScheduling=false</c>), and PeerJS upgrades are taken straight off the connection
/// (<see cref="PeerJsUpgradeFastPath"/>; off with <c>Signaling:UpgradeFastPath=false</c>). Connections are capped below the
/// open-file limit (<see cref="OpenFileLimit.ConnectionCap"/>).
/// </summary>
public static class KestrelTuning
{
    public static WebApplicationBuilder UseSignalingSockets(this WebApplicationBuilder builder, SignalingOptions settings)
    {
        // A peer's unread input is bounded by one message's worth, not 1 MB per connection (the socket transport's and
        // Kestrel's default): the frame reader copies payloads out of the pipe, so the pipe never needs to hold a whole
        // message, and a sender whose relays wait (its reads pause) cannot park a megabyte per socket in this process.
        var inputBudget = Math.Max(64 * 1024, settings.MaxMessageBytes);
        builder.WebHost.UseSockets(sockets =>
        {
            sockets.UnsafePreferInlineScheduling = settings.InlineScheduling;
            sockets.MaxReadBufferSize = inputBudget;
        });
        builder.Services.AddSingleton<PeerJsUpgradeFastPath>();
        var fastPathOn = settings.UpgradeFastPath;
        var inputBudgetSet = builder.Configuration["Kestrel:Limits:MaxRequestBufferSize"] is not null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            if (!inputBudgetSet)
            {
                kestrel.Limits.MaxRequestBufferSize = inputBudget;
            }

            // Never accept past the open-file limit (unless Kestrel:Limits:MaxConcurrentConnections says otherwise).
            var (openFiles, inUse) = OpenFileLimit.Budget;
            if (kestrel.Limits.MaxConcurrentConnections is null && OpenFileLimit.ConnectionCap(openFiles, inUse) is { } cap)
            {
                kestrel.Limits.MaxConcurrentConnections = cap;
            }

            if (fastPathOn)
            {
                kestrel.ConfigureEndpointDefaults(listen =>
                {
                    // Runs before TLS on https endpoints, where it sees no plain upgrade and steps aside.
                    PeerJsUpgradeFastPath? fastPath = null;
                    listen.Use(next => connection =>
                    {
                        fastPath ??= listen.ApplicationServices.GetRequiredService<PeerJsUpgradeFastPath>();
                        return fastPath.OnConnectionAsync(connection, next);
                    });
                });
            }
        });

        return builder;
    }
}
