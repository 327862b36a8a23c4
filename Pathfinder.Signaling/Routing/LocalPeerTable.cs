using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Pathfinder.Signaling.Routing;

/// <summary>
/// The peers connected to THIS replica, by id. Lookups are lock-free; a removal names the connection, so a stale
/// socket's close can never evict a newer registration of the same id.
/// </summary>
public sealed class LocalPeerTable
{
    private readonly ConcurrentDictionary<string, IPeerConnection> _peers = new(StringComparer.Ordinal);
    private long _registrations;

    public int Count => _peers.Count;

    /// <summary>The place in the registration order of the latest registration (see <see cref="RouteOrder"/>).</summary>
    public long RegistrationMark => Volatile.Read(ref _registrations);

    public bool TryGet(string id, [NotNullWhen(true)] out IPeerConnection? peer) => _peers.TryGetValue(id, out peer);

    /// <summary>Registers <paramref name="peer"/> and returns the connection it replaced, if any.</summary>
    public IPeerConnection? Set(IPeerConnection peer)
    {
        IPeerConnection? previous = null;
        _peers.AddOrUpdate(
            peer.Id,
            static (_, p) => p,
            (_, existing, p) =>
            {
                previous = existing;
                return p;
            },
            peer);
        peer.Order.Registration = Interlocked.Increment(ref _registrations);
        return ReferenceEquals(previous, peer) ? null : previous;
    }

    /// <summary>Removes the id only while it is still registered to exactly this connection.</summary>
    public bool TryRemove(IPeerConnection peer) =>
        _peers.TryRemove(new KeyValuePair<string, IPeerConnection>(peer.Id, peer));

    public ICollection<string> Ids => _peers.Keys;

    public IEnumerable<IPeerConnection> Connections => _peers.Values;
}
