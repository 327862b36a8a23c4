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
        Assert.True(order.MayDeliverDirectly(0));
        Assert.True(order.MayDeliverDirectly(long.MaxValue));
    }

    [Fact]
    public void During_a_streak_only_peers_registered_before_it_began_are_served_directly()
    {
        var order = new RouteOrder();
        Assert.Equal(1, order.Started(mark: 10));
        Assert.Equal(2, order.Started(mark: 12)); // a streak keeps the mark it began with
        Assert.True(order.MayDeliverDirectly(3));
        Assert.True(order.MayDeliverDirectly(10));
        Assert.False(order.MayDeliverDirectly(11));
        Assert.False(order.MayDeliverDirectly(0)); // visible but not yet stamped, or the sender itself

        order.Finished();
        Assert.False(order.MayDeliverDirectly(11));
        order.Finished();
        Assert.Equal(0, order.InFlight);
        Assert.True(order.MayDeliverDirectly(11));

        Assert.Equal(1, order.Started(mark: 20)); // a new streak, a new mark
        Assert.True(order.MayDeliverDirectly(11));
        Assert.False(order.MayDeliverDirectly(21));
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

        public string Token => "t";

        public long ConnectionId => 1;

        public long LastHeartbeat { get; set; }

        public RouteOrder Order { get; } = new();

        public bool TrySend(ReadOnlyMemory<byte> frame) => true;

        public void Close(DisconnectReason reason)
        {
        }
    }
}
