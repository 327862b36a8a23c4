namespace Pathfinder.Signaling.Routing;

/// <summary>
/// Ids of closed peers kept for their token until a deadline (<c>Signaling:IdReservation</c>) on a replica without a
/// backplane (the cluster keeps them in Redis). Not thread-safe: the in-memory directory calls it under its lock.
/// Lapsed entries are removed on the next claim of the id and by every expiry sweep, so the table holds at most the
/// ids closed within one reservation, and never more than <paramref name="capacity"/>: when it is full of live
/// reservations, a closing id is freed at once, as with reservations off.
/// </summary>
public sealed class IdReservations(long reservationTicks, int capacity)
{
    private readonly Dictionary<string, (string Token, long Until)> _reserved = new(StringComparer.Ordinal);

    /// <summary>Reserves <paramref name="id"/> for <paramref name="token"/> from <paramref name="now"/> (a timestamp); nothing when off.</summary>
    public void Reserve(string id, string token, long now)
    {
        if (reservationTicks <= 0)
        {
            return;
        }

        if (_reserved.Count >= capacity && !_reserved.ContainsKey(id))
        {
            RemoveLapsed(now);
            if (_reserved.Count >= capacity)
            {
                return;
            }
        }

        _reserved[id] = (token, now + reservationTicks);
    }

    /// <summary>
    /// Whether a claim of <paramref name="id"/> with <paramref name="token"/> may go ahead: no live reservation, the
    /// reservation's own token, or (<paramref name="signedToken"/>) a verified signed token, which is the id's owner.
    /// </summary>
    public bool MayClaim(string id, string token, bool signedToken, long now)
    {
        if (!_reserved.TryGetValue(id, out var reservation))
        {
            return true;
        }

        if (now >= reservation.Until)
        {
            _reserved.Remove(id);
            return true;
        }

        return signedToken || string.Equals(reservation.Token, token, StringComparison.Ordinal);
    }

    /// <summary>The id was claimed: its reservation (if any) is used up.</summary>
    public void Remove(string id)
    {
        if (_reserved.Count > 0)
        {
            _reserved.Remove(id);
        }
    }

    /// <summary>Drops every reservation that has lapsed.</summary>
    public void RemoveLapsed(long now)
    {
        if (_reserved.Count == 0)
        {
            return;
        }

        foreach (var (id, reservation) in _reserved)
        {
            if (now >= reservation.Until)
            {
                _reserved.Remove(id); // removing the current entry while enumerating is allowed
            }
        }
    }
}
