using Pathfinder.Signaling.Routing;
using StackExchange.Redis;

namespace Pathfinder.Signaling.Cluster;

/// <summary>Presence leases: this replica's ids renewed in batches, re-registered after an outage, and the ones another token took reported.</summary>
public sealed partial class RedisPeerDirectory
{
    /// <summary>
    /// Renews this replica's leases (and re-registers them after an outage) in batches. Returns the local
    /// connections whose id is now held by someone else; the caller closes them.
    /// </summary>
    public async Task<IReadOnlyList<IPeerConnection>> RenewLeasesAsync(CancellationToken cancellationToken)
    {
        var lost = new List<IPeerConnection>();
        if (IsCluster)
        {
            // A script batches only keys of one slot, and fewer peers than slots put each in a slot of its own: one
            // script call per peer. Plain PEXPIRE + GET per key, pipelined, cost Redis a fraction of that (bench
            // --capacity, docs/scaling.md); only ids found missing go through the script (re-registered after an outage).
            foreach (var batch in _local.Connections.Chunk(500))
            {
                cancellationToken.ThrowIfCancellationRequested();
                await RenewPipelinedAsync(batch, lost);
            }

            return lost;
        }

        foreach (var batch in _local.Connections.Chunk(200))
        {
            cancellationToken.ThrowIfCancellationRequested();
            await RenewByScriptAsync(batch, lost);
        }

        return lost;
    }

    private async Task RenewByScriptAsync(IPeerConnection[] batch, List<IPeerConnection> lost)
    {
        var keys = batch.Select(p => _keys.Peer(p.Id)).ToArray();
        var values = new RedisValue[batch.Length + 1];
        values[0] = _leaseMs;
        for (var i = 0; i < batch.Length; i++)
        {
            values[i + 1] = ValueOf(batch[i]);
        }

        var result = await Db.ScriptEvaluateAsync(ClaimScripts.Renew, keys, values);
        foreach (RedisResult index in (RedisResult[])result!)
        {
            lost.Add(batch[(int)index - 1]);
        }
    }

    // PEXPIRE first, then GET: a key that holds our value has its lease renewed; one that holds another value was
    // taken (its owner's lease is extended once by this, harmlessly: its own replica renews it too) and our socket is
    // lost; a missing one is re-registered through the script, which sets it only if it is still missing.
    private async Task RenewPipelinedAsync(IPeerConnection[] batch, List<IPeerConnection> lost)
    {
        var lease = TimeSpan.FromMilliseconds(_leaseMs);
        var pipeline = Db.CreateBatch();
        var reads = new Task<RedisValue>[batch.Length];
        var renewals = new Task<bool>[batch.Length];
        for (var i = 0; i < batch.Length; i++)
        {
            var key = _keys.Peer(batch[i].Id);
            renewals[i] = pipeline.KeyExpireAsync(key, lease);
            reads[i] = pipeline.StringGetAsync(key);
        }

        pipeline.Execute();
        await Task.WhenAll(renewals);
        await Task.WhenAll(reads);
        var missing = new List<IPeerConnection>();
        for (var i = 0; i < batch.Length; i++)
        {
            var current = reads[i].Result;
            if (current.IsNull)
            {
                missing.Add(batch[i]);
            }
            else if (current != ValueOf(batch[i]))
            {
                lost.Add(batch[i]);
            }
        }

        // After an outage every lease may be missing: re-register them a script per slot, not one round trip per peer.
        foreach (var slot in missing.GroupBy(p => RedisKeys.SlotOf(p.Id)))
        {
            await RenewByScriptAsync([.. slot], lost);
        }
    }
}
