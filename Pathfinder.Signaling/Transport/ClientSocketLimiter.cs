namespace Pathfinder.Signaling.Transport;

/// <summary>
/// Concurrent WebSockets per client group (<see cref="Configuration.SignalingOptions.MaxConnectionsPerIp"/>, the seed's
/// MAX_CONNECTIONS_PER_PEER; a group is an IPv4 address or an IPv6 prefix, <see cref="ClientGrouping"/>), in
/// addition to the server-wide concurrent_limit and MaxConnections. A slot is taken when the upgrade is accepted and
/// given back when the socket ends; entries disappear when a group has no sockets left. At most
/// <paramref name="maxPartitions"/> groups hold sockets at once: a socket from a new group past that is refused like
/// one over its group's limit (the concurrent-limit ERROR).
/// </summary>
public sealed class ClientSocketLimiter(int maxPerIp, int maxPartitions = int.MaxValue)
{
    private readonly Dictionary<string, int> _open = new(StringComparer.Ordinal);

    /// <summary>Sockets currently open from this client group (<see cref="ClientGrouping.KeyOf(System.Net.IPAddress?)"/>).</summary>
    public int OpenFrom(string client)
    {
        lock (_open)
        {
            return _open.GetValueOrDefault(client);
        }
    }

    /// <summary>Client groups currently holding sockets.</summary>
    public int Partitions
    {
        get
        {
            lock (_open)
            {
                return _open.Count;
            }
        }
    }

    /// <summary>Takes a slot for <paramref name="client"/>; <see cref="Slot.Acquired"/> is false when the group is at its limit or no new group fits.</summary>
    public Slot TryAcquire(string client)
    {
        if (maxPerIp <= 0)
        {
            return Unlimited;
        }

        lock (_open)
        {
            if (_open.TryGetValue(client, out var open))
            {
                if (open >= maxPerIp)
                {
                    return new Slot(null, client, SlotRefusal.ClientLimit);
                }
            }
            else if (_open.Count >= maxPartitions)
            {
                return new Slot(null, client, SlotRefusal.PartitionLimit);
            }

            _open[client] = open + 1;
            return new Slot(this, client, SlotRefusal.None);
        }
    }

    private void Release(string client)
    {
        lock (_open)
        {
            var open = _open.GetValueOrDefault(client) - 1;
            if (open <= 0)
            {
                _open.Remove(client);
            }
            else
            {
                _open[client] = open;
            }
        }
    }

    private static readonly Slot Unlimited = new(null, string.Empty, SlotRefusal.None);

    /// <summary>Why a slot was not given.</summary>
    public enum SlotRefusal
    {
        None,

        /// <summary>The client group has MaxConnectionsPerIp sockets open.</summary>
        ClientLimit,

        /// <summary>MaxClientPartitions other groups hold sockets.</summary>
        PartitionLimit,
    }

    /// <summary>A held slot; disposing it gives it back (once).</summary>
    public sealed class Slot(ClientSocketLimiter? owner, string client, SlotRefusal refusal) : IDisposable
    {
        private ClientSocketLimiter? _owner = owner;

        public bool Acquired => Refusal == SlotRefusal.None;

        public SlotRefusal Refusal { get; } = refusal;

        public void Dispose() => Interlocked.Exchange(ref _owner, null)?.Release(client);
    }
}
