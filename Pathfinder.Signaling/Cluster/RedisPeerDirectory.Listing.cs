using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

/// <summary>Listing: the peer list across every replica's leases (a scan of every primary: no index key), and whether an id is registered anywhere.</summary>
public sealed partial class RedisPeerDirectory
{
    public async ValueTask<IReadOnlyList<string>> GetPeerIdsAsync(CancellationToken cancellationToken)
    {
        try
        {
            // Every primary holds the leases of its slots (one primary: all of them); replicas hold copies.
            var primaries = _redis.GetServers().Where(s => s.IsConnected && !s.IsReplica).ToList();
            if (primaries.Count == 0)
            {
                throw new TimeoutException("no connected Redis primary");
            }

            var ids = new HashSet<string>(StringComparer.Ordinal);
            foreach (var server in primaries)
            {
                await foreach (var key in server.KeysAsync(pattern: _keys.PeerPattern, pageSize: 1000).WithCancellation(cancellationToken))
                {
                    ids.Add(_keys.IdOfPeerKey((string)key!));
                }
            }

            return [.. ids];
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            ClusterLog.RouteFailed(_logger, "(peer list)", ex.Message);
            return [.. _local.Ids];
        }
    }

    public async ValueTask<bool> IsRegisteredAsync(string id, CancellationToken cancellationToken)
    {
        if (_local.TryGet(id, out _))
        {
            return true;
        }

        try
        {
            return await Db.KeyExistsAsync(_keys.Peer(id));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return false;
        }
    }

    public async ValueTask<string?> ReplicaOfAsync(string id, CancellationToken cancellationToken)
    {
        try
        {
            // The lease is "{replica}\n{token}\n{connectionId}": only the replica leaves this method. A reserved id
            // ("\n{token}\n", IdReservation) is on no replica.
            var lease = (string?)await Db.StringGetAsync(_keys.Peer(id));
            return lease?.Split('\n', 2)[0] is { Length: > 0 } replica ? replica : null;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return null;
        }
    }
}
