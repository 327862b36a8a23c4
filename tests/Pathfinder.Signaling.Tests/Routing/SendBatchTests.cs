using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Tests;

/// <summary>An explicit batch of sends: deferred peers are flushed once each when whoever opened it flushes it.</summary>
public sealed class SendBatchTests
{
    [Fact]
    public void Deferred_peers_are_flushed_once_each_at_Flush_and_the_batch_can_be_used_again()
    {
        var batch = new SendBatch();
        var a = new FakePeer();
        var b = new FakePeer();

        batch.Defer(a);
        batch.Defer(b);
        batch.Defer(a); // already waiting: one flush covers both
        Assert.Equal(0, a.Flushes);
        Assert.Equal(0, b.Flushes);

        batch.Flush();
        Assert.Equal(1, a.Flushes);
        Assert.Equal(1, b.Flushes);

        batch.Flush(); // empty now
        Assert.Equal(1, a.Flushes);

        batch.Defer(a); // reused for the next burst
        batch.Flush();
        Assert.Equal(2, a.Flushes);
        Assert.Equal(1, b.Flushes);
    }

    [Fact]
    public void A_peer_deferred_while_the_batch_flushes_is_flushed_too()
    {
        var batch = new SendBatch();
        var late = new FakePeer();
        var first = new FakePeer { OnFlush = () => batch.Defer(late) }; // e.g. a LEAVE queued by a flush

        batch.Defer(first);
        batch.Flush();

        Assert.Equal(1, first.Flushes);
        Assert.Equal(1, late.Flushes);
    }

    [Fact]
    public void A_batch_closed_in_finally_flushes_what_was_deferred_before_an_exception()
    {
        var batch = new SendBatch();
        var peer = new FakePeer();

        Action burst = () =>
        {
            try
            {
                batch.Defer(peer);
                throw new InvalidOperationException("handling the burst failed");
            }
            finally
            {
                batch.Flush();
            }
        };

        Assert.Throws<InvalidOperationException>(burst);

        Assert.Equal(1, peer.Flushes);
        Assert.True(peer.MarkFlushPending()); // no longer waiting for a flush: later sends are not stranded
    }

    private sealed class FakePeer : IBatchedPeer
    {
        private bool _pending;

        public int Flushes { get; private set; }

        public Action? OnFlush { get; init; }

        public bool MarkFlushPending()
        {
            if (_pending)
            {
                return false;
            }

            _pending = true;
            return true;
        }

        public void FlushDeferred()
        {
            _pending = false;
            Flushes++;
            OnFlush?.Invoke();
        }
    }
}
