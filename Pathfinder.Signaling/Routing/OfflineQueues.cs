namespace Pathfinder.Signaling.Routing;

/// <summary>
/// Messages for destinations that are not connected, bounded per destination and in total (bytes). Not thread-safe:
/// the owning directory serialises access. The expiry clock is per destination queue, started by its first message,
/// as in the reference (§6).
/// </summary>
public sealed class OfflineQueues(int perDestination, long totalBytes)
{
    private readonly Dictionary<string, Queue> _queues = new(StringComparer.Ordinal);
    private long _bytes;

    public long Bytes => _bytes;

    public int Destinations => _queues.Count;

    /// <summary>
    /// Appends a message. When a bound is hit the message is refused: the result is <see cref="RouteOutcome.QueueFull"/>
    /// the first time for this (sender, destination) pair — the caller tells the sender with EXPIRE — and
    /// <see cref="RouteOutcome.Dropped"/> afterwards, so a sender hears EXPIRE once per destination.
    /// </summary>
    public RouteOutcome Enqueue(Outbound message, long now)
    {
        if (!_queues.TryGetValue(message.Dst, out var queue))
        {
            queue = new Queue(now);
            _queues.Add(message.Dst, queue);
        }

        if (queue.Messages.Count >= perDestination || _bytes + message.Frame.Length > totalBytes)
        {
            if (queue.Messages.Count == 0)
            {
                _queues.Remove(message.Dst);
            }

            return (queue.Notified ??= new HashSet<string>(StringComparer.Ordinal)).Add(message.Src)
                ? RouteOutcome.QueueFull
                : RouteOutcome.Dropped;
        }

        queue.Messages.Add(message);
        _bytes += message.Frame.Length;
        return RouteOutcome.Queued;
    }

    /// <summary>Removes and returns the destination's queue in arrival order (empty when none).</summary>
    public IReadOnlyList<Outbound> Take(string dst)
    {
        if (!_queues.Remove(dst, out var queue))
        {
            return [];
        }

        _bytes -= queue.Bytes;
        return queue.Messages;
    }

    /// <summary>Removes every queue whose age reached <paramref name="timeoutTicks"/> and lists the senders to tell.</summary>
    public void TakeExpired(long now, long timeoutTicks, List<ExpiredPair> into)
    {
        List<string>? expired = null;
        foreach (var (dst, queue) in _queues)
        {
            if (now - queue.CreatedAt >= timeoutTicks)
            {
                (expired ??= []).Add(dst);
            }
        }

        if (expired is null)
        {
            return;
        }

        foreach (var dst in expired)
        {
            _queues.Remove(dst, out var queue);
            _bytes -= queue!.Bytes;
            var told = queue.Notified ?? new HashSet<string>(StringComparer.Ordinal);
            foreach (var message in queue.Messages)
            {
                if (told.Add(message.Src))
                {
                    into.Add(new ExpiredPair(dst, message.Src));
                }
            }
        }
    }

    private sealed class Queue(long createdAt)
    {
        public long CreatedAt { get; } = createdAt;

        public List<Outbound> Messages { get; } = [];

        public HashSet<string>? Notified { get; set; }

        public long Bytes
        {
            get
            {
                long sum = 0;
                foreach (var m in Messages)
                {
                    sum += m.Frame.Length;
                }

                return sum;
            }
        }
    }
}
