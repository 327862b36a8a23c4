namespace Pathfinder.Signaling.Transport;

/// <summary>
/// Corks output while one read's worth of client frames is processed on this thread: frames queued for a peer during
/// the batch are written with one flush (one send) when the batch ends, instead of one send per frame. Signaling
/// arrives in bursts (an offer, then a run of ICE candidates for the same peer), so this saves a system call per
/// message without delaying anything: the batch ends before the thread waits for more input.
/// </summary>
internal static class OutputBatch
{
    [ThreadStatic]
    private static List<PeerConnection>? t_pending;

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

    /// <summary>Defers <paramref name="connection"/>'s flush to the end of this thread's batch; false when there is no batch.</summary>
    public static bool TryDefer(PeerConnection connection)
    {
        if (!t_active)
        {
            return false;
        }

        if (connection.MarkFlushPending())
        {
            (t_pending ??= []).Add(connection);
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
