namespace Pathfinder.Signaling.Routing;

/// <summary>
/// What keeps one peer's messages in order when some of them travel through the directory (another replica, the
/// offline queue) and are not waited for. Owned by routing; each connection carries one.
/// <para>
/// While a peer has messages on their way through the directory (a "streak"), a message of its for a peer on this
/// replica may only be handed over directly if that peer was registered here before the streak began: then none of
/// the earlier messages can be for it. Otherwise (it registered here meanwhile — say it moved from another replica)
/// the message goes through the directory too, which delivers in order.
/// </para>
/// </summary>
public sealed class RouteOrder
{
    private int _inFlight;
    private long _bytesInFlight;
    private long _streakMark;
    private long _registration;

    /// <summary>
    /// Set by <see cref="LocalPeerTable"/> just after the connection became visible in the table: its place in the
    /// registration order (0 until then).
    /// </summary>
    public long Registration
    {
        get => Volatile.Read(ref _registration);
        internal set => Volatile.Write(ref _registration, value);
    }

    /// <summary>Messages of this peer still on their way through the directory.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Bytes (frames) of this peer still on their way through the directory.</summary>
    public long BytesInFlight => Volatile.Read(ref _bytesInFlight);

    /// <summary>
    /// True when a message of this peer for a local peer registered at <paramref name="registration"/> may be handed
    /// over directly: no streak, or the peer was stamped (so visible) before the streak's first message was routed.
    /// <paramref name="idle"/> tells whether there was no streak at this moment; pass it to <see cref="Started"/>.
    /// Called from the peer's own read loop only.
    /// </summary>
    public bool MayDeliverDirectly(long registration, out bool idle)
    {
        idle = InFlight == 0;
        return idle || (registration != 0 && registration <= _streakMark);
    }

    /// <summary>
    /// Counts a message handed to the directory and returns how many are on their way. A streak begins only if
    /// <paramref name="idle"/> (seen by <see cref="MayDeliverDirectly"/> for this message): it then keeps
    /// <paramref name="mark"/>, the <see cref="LocalPeerTable.RegistrationMark"/> read before the message was looked
    /// up. Otherwise the running streak keeps its older mark, even if its messages all finished meanwhile (the
    /// message being counted may have been sent this way because of that mark). Called from the peer's own read loop.
    /// </summary>
    public int Started(long mark, bool idle, int bytes = 0)
    {
        Interlocked.Add(ref _bytesInFlight, bytes);
        var inFlight = Interlocked.Increment(ref _inFlight);
        if (idle)
        {
            _streakMark = mark;
        }

        return inFlight;
    }

    /// <summary>A message handed to the directory has its outcome (from any thread); <paramref name="bytes"/> as given to <see cref="Started"/>.</summary>
    public void Finished(int bytes = 0)
    {
        Interlocked.Add(ref _bytesInFlight, -bytes);
        Interlocked.Decrement(ref _inFlight);
    }
}
