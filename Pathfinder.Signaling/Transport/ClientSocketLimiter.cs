namespace Pathfinder.Signaling.Transport;

/// <summary>
/// Concurrent WebSockets per client IP (<see cref="Configuration.SignalingOptions.MaxConnectionsPerIp"/>, the seed's
/// MAX_CONNECTIONS_PER_PEER), in addition to the server-wide concurrent_limit. A slot is taken when the upgrade is
/// accepted and given back when the socket ends; entries disappear when an IP has no sockets left.
/// </summary>
public sealed class ClientSocketLimiter(int maxPerIp)
{
    private readonly Dictionary<string, int> _open = new(StringComparer.Ordinal);

    /// <summary>Sockets currently open from this IP.</summary>
    public int OpenFrom(string ip)
    {
        lock (_open)
        {
            return _open.GetValueOrDefault(ip);
        }
    }

    /// <summary>Takes a slot for <paramref name="ip"/>; <see cref="Slot.Acquired"/> is false when the IP is at its limit.</summary>
    public Slot TryAcquire(string ip)
    {
        if (maxPerIp <= 0)
        {
            return Unlimited;
        }

        lock (_open)
        {
            var open = _open.GetValueOrDefault(ip);
            if (open >= maxPerIp)
            {
                return new Slot(null, ip, false);
            }

            _open[ip] = open + 1;
            return new Slot(this, ip, true);
        }
    }

    private void Release(string ip)
    {
        lock (_open)
        {
            var open = _open.GetValueOrDefault(ip) - 1;
            if (open <= 0)
            {
                _open.Remove(ip);
            }
            else
            {
                _open[ip] = open;
            }
        }
    }

    private static readonly Slot Unlimited = new(null, string.Empty, true);

    /// <summary>A held slot; disposing it gives it back (once).</summary>
    public sealed class Slot(ClientSocketLimiter? owner, string ip, bool acquired) : IDisposable
    {
        private ClientSocketLimiter? _owner = owner;

        public bool Acquired { get; } = acquired;

        public void Dispose() => Interlocked.Exchange(ref _owner, null)?.Release(ip);
    }
}
