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
/// Corks sends while one burst of input is handled on this thread (one read's worth of client frames, or the backplane
/// messages that arrived together): frames queued for a peer during the batch are written with one flush (one system
/// call) when the batch ends, instead of one per frame. Signaling arrives in bursts (an offer, then a run of ICE
/// candidates for the same peer), so this saves a send per message without delaying anything: the batch ends before
/// the thread waits for more input.
/// </summary>
public static class SendBatch
{
    [ThreadStatic]
    private static List<IBatchedPeer>? t_pending;

    [ThreadStatic]
    private static bool t_active;

    /// <summary>Starts a batch on this thread; false when one is already running (the outer one flushes).</summary>
    public static bool Begin()
    {
        if (t_active)
        {
            return false;
        }

        t_active = true;
        return true;
    }

    /// <summary>Defers <paramref name="peer"/>'s flush to the end of this thread's batch; false when there is no batch.</summary>
    public static bool TryDefer(IBatchedPeer peer)
    {
        if (!t_active)
        {
            return false;
        }

        if (peer.MarkFlushPending())
        {
            (t_pending ??= []).Add(peer);
        }

        return true;
    }

    /// <summary>Ends the batch started by <see cref="Begin"/> (when it returned true) and flushes every deferred peer.</summary>
    public static void End()
    {
        var pending = t_pending;
        if (pending is not null)
        {
            // Flushing may queue more frames (e.g. a slow consumer's LEAVE) which join this batch.
            for (var i = 0; i < pending.Count; i++)
            {
                pending[i].FlushDeferred();
            }

            pending.Clear();
        }

        t_active = false;
    }
}
