using Microsoft.Extensions.Options;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Routing;
using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

/// <summary>
/// Subscribes this replica to its channel, renews its peers' presence leases every third of the lease, and
/// re-registers them at once when a lost Redis connection comes back. A local connection whose id turns out to be
/// held by someone else (claimed elsewhere during an outage, or taken over) is closed. On a Redis Cluster, a lost node
/// makes it refresh the cluster's topology every half second for a while: the Redis client would otherwise keep
/// sending a lost primary's slots to the dead node until its next periodic check (tens of seconds), long after a
/// replica took over (about the cluster-node-timeout plus an election).
/// </summary>
public sealed class PresenceLeaseService(
    RedisPeerDirectory directory,
    IConnectionMultiplexer redis,
    IOptions<ClusterOptions> options,
    ILogger<PresenceLeaseService> logger) : BackgroundService
{
    private readonly SemaphoreSlim _wake = new(0, 1);
    private int _refreshing;

    /// <summary>How long after a lost cluster node the topology is refreshed (a failover takes a few node timeouts).</summary>
    private static readonly TimeSpan RefreshWindow = TimeSpan.FromSeconds(30);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        redis.ConnectionFailed += OnConnectionFailed;
        redis.ConnectionRestored += OnConnectionRestored;
        if (redis.IsConnected)
        {
            // Normally Redis is there at start: be subscribed before the first peer can be routed to us.
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bounded.CancelAfter(TimeSpan.FromSeconds(5));
            try
            {
                await directory.SubscribeAsync(bounded.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Keeps trying in the background (ExecuteAsync).
            }
        }

        ClusterLog.Started(logger, directory.ReplicaId, options.Value.KeyPrefix, options.Value.LeaseMilliseconds);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromMilliseconds(Math.Max(100, options.Value.LeaseMilliseconds / 3));
        try
        {
            await directory.SubscribeAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(interval, stoppingToken);
                foreach (var peer in await directory.RenewLeasesAsync(stoppingToken))
                {
                    ClusterLog.LeaseLost(logger, peer.Id);
                    peer.Close(DisconnectReason.Takeover);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                ClusterLog.RenewFailed(logger, ex.Message);
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        redis.ConnectionFailed -= OnConnectionFailed;
        redis.ConnectionRestored -= OnConnectionRestored;
        await base.StopAsync(cancellationToken);
        await directory.StopAsync();
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Interactive)
        {
            ClusterLog.ConnectionLost(logger, e.FailureType.ToString());
        }

        if (directory.IsCluster && Interlocked.Exchange(ref _refreshing, 1) == 0)
        {
            _ = RefreshTopologyAsync();
        }
    }

    private async Task RefreshTopologyAsync()
    {
        ClusterLog.TopologyRefresh(logger);
        try
        {
            var window = System.Diagnostics.Stopwatch.StartNew();
            while (window.Elapsed < RefreshWindow)
            {
                await Task.Delay(500);
                try
                {
                    if (await redis.ConfigureAsync())
                    {
                        Wake(); // leases of the moved slots are renewed (or taken again) at once
                    }
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    ClusterLog.RenewFailed(logger, ex.Message);
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // Shutting down.
        }
        finally
        {
            Volatile.Write(ref _refreshing, 0);
        }
    }

    private void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (Exception ex) when (ex is SemaphoreFullException or ObjectDisposedException)
        {
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType != ConnectionType.Interactive)
        {
            return;
        }

        ClusterLog.ConnectionRestored(logger);
        Wake();
    }

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }
}
