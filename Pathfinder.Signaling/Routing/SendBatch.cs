namespace Pathfinder.Signaling.Routing;

/// <summary>
/// A peer whose queued frames can be written out later, together (<see cref="SendBatch"/>).
/// </summary>
public interface IBatchedPeer
{
    /// <summary>True when this peer was not yet waiting for a batch's flush (the batch then remembers it).</summary>
    bool MarkFlushPending();

    /// <summary>Writes out what was queued during the batch.</summary>
    void FlushDeferred();
}

/// <summary>
/// Corks sends while one burst of input is handled (one read's worth of client frames, or the backplane messages that
/// arrived together): frames queued for a peer with this batch (<see cref="IPeerConnection.TrySend"/>) are written
/// with one flush (one system call) at <see cref="Flush"/>, instead of one per frame. Signaling arrives in bursts (an
/// offer, then a run of ICE candidates for the same peer), so this saves a send per message without delaying
/// anything: whoever opens a batch flushes it before it waits for more input, in a <c>finally</c>.
/// </summary>
/// <remarks>
/// A batch is a plain value passed to where frames are queued; it is not thread-safe and belongs to the code that
/// opened it. It may be handed only to synchronous work (or to the part of an asynchronous call that runs before its
/// first await): a peer deferred to a batch is not flushed by anyone else until that batch flushes. One instance can be
/// reused for batch after batch (no allocation per burst).
/// </remarks>
public sealed class SendBatch
{
    private readonly List<IBatchedPeer> _pending = [];

    /// <summary>Defers <paramref name="peer"/>'s flush to this batch's <see cref="Flush"/> (remembered once per flush).</summary>
    public void Defer(IBatchedPeer peer)
    {
        if (peer.MarkFlushPending())
        {
            _pending.Add(peer);
        }
    }

    /// <summary>Flushes every deferred peer once; the batch is then empty and can be used again.</summary>
    public void Flush()
    {
        // Flushing may queue more frames into this batch (e.g. a slow consumer's LEAVE): iterated by index, they are
        // flushed too. Should a flush throw, the peers stay listed and the next Flush of this batch flushes them
        // (flushing a peer twice is harmless).
        for (var i = 0; i < _pending.Count; i++)
        {
            _pending[i].FlushDeferred();
        }

        _pending.Clear();
    }
}
