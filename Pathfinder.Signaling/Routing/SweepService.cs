using Microsoft.Extensions.Options;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Routing;

/// <summary>
/// Runs the liveness sweep (peers without HEARTBEAT for alive_timeout) and the offline-queue expiry sweep on
/// <see cref="TimeProvider"/> timers, and closes every peer when the application stops.
/// </summary>
public sealed class SweepService(
    PeerRouter router,
    TimeProvider time,
    IOptions<SignalingOptions> options,
    IHostApplicationLifetime lifetime,
    ILogger<SweepService> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        lifetime.ApplicationStopping.Register(() => router.CloseAll(Routing.DisconnectReason.Shutdown));
        var settings = options.Value;
        return Task.WhenAll(
            RunAsync(TimeSpan.FromMilliseconds(settings.LivenessCheckInterval), _ => ValueTask.FromResult(router.SweepLiveness()), stoppingToken),
            RunAsync(TimeSpan.FromMilliseconds(settings.CleanupOutMsgs), router.SweepExpiredAsync, stoppingToken));
    }

    private async Task RunAsync(TimeSpan period, Func<CancellationToken, ValueTask<int>> sweep, CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await sweep(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.SweepFailed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
