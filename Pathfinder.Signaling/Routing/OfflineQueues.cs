namespace Pathfinder.Signaling.Routing;

/// <summary>
/// Messages for destinations that are not connected, bounded per destination, in total (messages and bytes) and per
/// sender (messages and bytes). Not thread-safe: the owning directory serialises access. The expiry clock is per
/// destination queue, started by its first message, as in the reference (§6). Every message that leaves a queue
/// (delivered by <see cref="Take"/>, expired by <see cref="TakeExpired"/>) gives its share of every budget back at
/// once, so the accounting never drifts: when all queues are gone, every count is zero.
/// </summary>
public sealed class OfflineQueues(
    int perDestination,
    long totalBytes,
    int totalMessages = int.MaxValue,
    int perSender = int.MaxValue,
    long perSenderBytes = long.MaxValue)
{
    private readonly Dictionary<string, Queue> _queues = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Budget> _senders = new(StringComparer.Ordinal);
    private long _bytes;
    private int _messages;

    public long Bytes => _bytes;

    /// <summary>Messages in all queues together.</summary>
    public int Messages => _messages;

    public int Destinations => _queues.Count;

    /// <summary>Senders that have at least one message waiting.</summary>
    public int Senders => _senders.Count;

    /// <summary>What <paramref name="src"/> has waiting in all queues together.</summary>
    public (int Messages, long Bytes) SenderUsage(string src) =>
        _senders.TryGetValue(src, out var budget) ? (budget.Messages, budget.Bytes) : (0, 0);

    /// <summary>
    /// Appends a message. When a bound is hit (the destination's queue, the totals, or the sender's budget) the message
    /// is refused: the result is <see cref="RouteOutcome.QueueFull"/> — the caller tells the sender with EXPIRE — the
    /// first time for this (sender, destination) pair while the destination has a queue, and
    /// <see cref="RouteOutcome.Dropped"/> afterwards, so a sender hears EXPIRE once per waiting queue. A refusal for a
    /// destination without a queue leaves nothing behind (and is answered with EXPIRE every time).
    /// </summary>
    public RouteOutcome Enqueue(Outbound message, long now)
    {
        if (!_queues.TryGetValue(message.Dst, out var queue))
        {
            queue = new Queue(now);
            _queues.Add(message.Dst, queue);
        }

        var size = message.Frame.Length;
        _senders.TryGetValue(message.Src, out var sender);
        if (queue.Messages.Count >= perDestination
            || _bytes + size > totalBytes
            || _messages >= totalMessages
            || (sender?.Messages ?? 0) >= perSender
            || (sender?.Bytes ?? 0) + size > perSenderBytes)
        {
            if (queue.Messages.Count == 0)
            {
                _queues.Remove(message.Dst);
                return RouteOutcome.QueueFull;
            }

            return (queue.Notified ??= new HashSet<string>(StringComparer.Ordinal)).Add(message.Src)
                ? RouteOutcome.QueueFull
                : RouteOutcome.Dropped;
        }

        if (sender is null)
        {
            sender = new Budget();
            _senders.Add(message.Src, sender);
        }

        queue.Messages.Add(message);
        sender.Messages++;
        sender.Bytes += size;
        _messages++;
        _bytes += size;
        return RouteOutcome.Queued;
    }

    /// <summary>Removes and returns the destination's queue in arrival order (empty when none).</summary>
    public IReadOnlyList<Outbound> Take(string dst)
    {
        if (!_queues.Remove(dst, out var queue))
        {
            return [];
        }

        Release(queue);
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
            Release(queue!);
            var told = queue!.Notified ?? new HashSet<string>(StringComparer.Ordinal);
            foreach (var message in queue.Messages)
            {
                if (told.Add(message.Src))
                {
                    into.Add(new ExpiredPair(dst, message.Src));
                }
            }
        }
    }

    /// <summary>Gives back every budget share of the messages of a queue that left.</summary>
    private void Release(Queue queue)
    {
        foreach (var message in queue.Messages)
        {
            var size = message.Frame.Length;
            _messages--;
            _bytes -= size;
            if (_senders.TryGetValue(message.Src, out var sender))
            {
                sender.Messages--;
                sender.Bytes -= size;
                if (sender.Messages == 0)
                {
                    _senders.Remove(message.Src);
                }
            }
        }
    }

    private sealed class Budget
    {
        public int Messages { get; set; }

        public long Bytes { get; set; }
    }

    private sealed class Queue(long createdAt)
    {
        public long CreatedAt { get; } = createdAt;

        public List<Outbound> Messages { get; } = [];

        public HashSet<string>? Notified { get; set; }
    }
}
