using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Cluster;

/// <summary>A claim in flight (see RedisPeerDirectory.Claims.cs).</summary>
public sealed partial class RedisPeerDirectory
{
    /// <summary>
    /// A claim in flight on this replica. Messages published to us for the id before the claim finished are held
    /// here and handed over after OPEN and the queued messages, so the order OPEN → queued → live always holds.
    /// </summary>
    private sealed class PendingClaim(IPeerConnection peer)
    {
        private readonly Lock _gate = new();
        private List<Outbound>? _held = [];
        private bool _abandoned;

        /// <summary>
        /// Holds a message until the claim completes; false once the claim was abandoned. Once it has completed, the
        /// message is sent at once, or left to <paramref name="batch"/>.
        /// </summary>
        public bool TryHold(Outbound message, SendBatch batch)
        {
            lock (_gate)
            {
                if (_abandoned)
                {
                    return false;
                }

                if (_held is null)
                {
                    return peer.TrySend(message.Frame, batch);
                }

                _held.Add(message);
                return true;
            }
        }

        /// <summary>The claim failed: returns what was held, to be routed to the real holder.</summary>
        public List<Outbound> Abandon()
        {
            lock (_gate)
            {
                _abandoned = true;
                var held = _held ?? [];
                _held = null;
                return held;
            }
        }

        public IPeerConnection? Activate(LocalPeerTable table, IEnumerable<byte[]> queued)
        {
            // Batched: OPEN leaves once the peer is in the table, so a client that has OPEN is registered here.
            var batch = new SendBatch();
            try
            {
                return ActivateBatched(table, queued, batch);
            }
            finally
            {
                batch.Flush();
            }
        }

        private IPeerConnection? ActivateBatched(LocalPeerTable table, IEnumerable<byte[]> queued, SendBatch batch)
        {
            lock (_gate)
            {
                peer.TrySend(ServerMessages.Open, batch);
                foreach (var frame in queued)
                {
                    peer.TrySend(frame, batch);
                }

                foreach (var message in _held!)
                {
                    peer.TrySend(message.Frame, batch);
                }

                _held = null;
                return table.Set(peer);
            }
        }
    }
}
