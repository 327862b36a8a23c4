using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

/// <summary>Listing: the peer list across every replica's leases, and whether an id is registered anywhere.</summary>
public sealed partial class RedisPeerDirectory
{
    public async ValueTask<IReadOnlyList<string>> GetPeerIdsAsync(CancellationToken cancellationToken)
    {
        try
        {
            var server = _redis.GetServers().FirstOrDefault(s => s.IsConnected && !s.IsReplica)
                ?? throw new TimeoutException("no connected Redis primary");
            var ids = new List<string>();
            await foreach (var key in server.KeysAsync(pattern: _keys.PeerPattern, pageSize: 1000).WithCancellation(cancellationToken))
            {
                ids.Add(((string)key!)[_keys.PeerKeyPrefixLength..]);
            }

            return ids;
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
            // The lease is "{replica}\n{token}\n{connectionId}": only the replica leaves this method.
            var lease = (string?)await Db.StringGetAsync(_keys.Peer(id));
            return lease?.Split('\n', 2)[0];
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return null;
        }
    }
}
