using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Tests;

/// <summary>When a sender's message to a local peer may skip ahead of its messages still on their way through the directory.</summary>
public sealed class RouteOrderTests
{
    [Fact]
    public void Without_messages_in_flight_every_local_peer_is_served_directly()
    {
        var order = new RouteOrder();
        Assert.Equal(0, order.InFlight);
        Assert.True(order.MayDeliverDirectly(0, out var idle));
        Assert.True(idle);
        Assert.True(order.MayDeliverDirectly(long.MaxValue, out _));
    }

    [Fact]
    public void During_a_streak_only_peers_registered_before_it_began_are_served_directly()
    {
        var order = new RouteOrder();
        Assert.Equal(1, order.Started(mark: 10, idle: true));
        Assert.Equal(2, order.Started(mark: 12, idle: false)); // a running streak keeps the mark it began with
        Assert.True(order.MayDeliverDirectly(3, out var idle));
        Assert.False(idle);
        Assert.True(order.MayDeliverDirectly(10, out _));
        Assert.False(order.MayDeliverDirectly(11, out _));
        Assert.False(order.MayDeliverDirectly(0, out _)); // visible but not yet stamped, or the sender itself

        order.Finished();
        Assert.False(order.MayDeliverDirectly(11, out _));
        order.Finished();
        Assert.Equal(0, order.InFlight);
        Assert.True(order.MayDeliverDirectly(11, out _));

        Assert.Equal(1, order.Started(mark: 20, idle: true)); // a new streak, a new mark
        Assert.True(order.MayDeliverDirectly(11, out _));
        Assert.False(order.MayDeliverDirectly(21, out _));
    }

    [Fact]
    public void A_message_diverted_by_a_streak_keeps_that_streaks_mark_even_if_the_streak_ended_meanwhile()
    {
        var order = new RouteOrder();
        order.Started(mark: 10, idle: true); // m0 to another replica
        // m1 to a peer registered here at 11: diverted while m0 is out …
        Assert.False(order.MayDeliverDirectly(11, out var idle));
        order.Finished(); // … and m0 finishes before m1 is counted
        Assert.Equal(1, order.Started(mark: 11, idle: idle));
        // m2 to the same peer must still follow m1 through the directory.
        Assert.False(order.MayDeliverDirectly(11, out _));
    }

    [Fact]
    public void The_local_table_stamps_registrations_in_order_after_they_become_visible()
    {
        var table = new LocalPeerTable();
        var first = new StubPeer("a");
        var second = new StubPeer("b");
        var before = table.RegistrationMark;
        table.Set(first);
        table.Set(second);
        Assert.Equal(before + 1, first.Order.Registration);
        Assert.Equal(before + 2, second.Order.Registration);
        Assert.Equal(before + 2, table.RegistrationMark);
        Assert.True(table.TryGet("b", out var found));
        Assert.Same(second, found);
    }

    private sealed class StubPeer(string id) : IPeerConnection
    {
        public string Id { get; } = id;

        public string RemoteIp => "127.0.0.1";

        public string Token => "t";

        public long ConnectionId => 1;

        public long LastHeartbeat { get; set; }

        public RouteOrder Order { get; } = new();

        public RelayRate RelayRate { get; } = new();

        public bool TrySend(ReadOnlyMemory<byte> frame, SendBatch? batch = null) => true;

        public void Close(DisconnectReason reason)
        {
        }
    }
}
