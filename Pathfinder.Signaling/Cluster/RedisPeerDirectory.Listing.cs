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
            var page = new List<RedisKey>(ListingPage);
            foreach (var server in primaries)
            {
                await foreach (var key in server.KeysAsync(pattern: _keys.PeerPattern, pageSize: ListingPage).WithCancellation(cancellationToken))
                {
                    page.Add(key);
                    if (page.Count == ListingPage)
                    {
                        await AddLiveAsync(page, ids);
                    }
                }

                await AddLiveAsync(page, ids);
            }

            return [.. ids];
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            ClusterLog.RouteFailed(_logger, "(peer list)", ex.Message);
            return [.. _local.Ids];
        }
    }

    private const int ListingPage = 1000;

    /// <summary>
    /// Adds the ids of the page's keys that a connection holds, and empties the page. A reserved id (IdReservation:
    /// "\n{token}\n", no replica) is on no replica, so it is not listed, as in memory. One GET per key, pipelined (the
    /// keys of a page lie in many hash slots).
    /// </summary>
    private async Task AddLiveAsync(List<RedisKey> page, HashSet<string> ids)
    {
        if (page.Count == 0)
        {
            return;
        }

        var db = Db;
        var values = await Task.WhenAll(page.Select(key => db.StringGetAsync(key)));
        for (var i = 0; i < page.Count; i++)
        {
            var value = (string?)values[i];
            if (value is { Length: > 0 } && value[0] != '\n')
            {
                ids.Add(_keys.IdOfPeerKey((string)page[i]!));
            }
        }

        page.Clear();
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
