using Pathfinder.Signaling.Cluster;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Tests;

/// <summary>Issue 14: what waits for the backplane is bounded in bytes, per sender and per replica.</summary>
public sealed class RouteBudgetTests
{
    [Fact]
    public void A_senders_bytes_in_flight_are_counted_until_each_route_has_its_outcome()
    {
        var order = new RouteOrder();
        order.Started(mark: 1, idle: true, bytes: 60_000);
        order.Started(mark: 1, idle: false, bytes: 40_000);
        Assert.Equal(100_000, order.BytesInFlight);
        Assert.Equal(2, order.InFlight);

        order.Finished(60_000);
        Assert.Equal(40_000, order.BytesInFlight);
        order.Finished(40_000);
        Assert.Equal(0, order.BytesInFlight);
        Assert.Equal(0, order.InFlight);
    }

    [Fact]
    public async Task The_outbox_refuses_past_its_byte_capacity_while_a_call_is_out_and_takes_again_once_it_returns()
    {
        var callOut = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var batches = new List<int>();
        var outbox = new RouteOutbox(
            async batch =>
            {
                batches.Add(batch.Count);
                await callOut.Task;
                foreach (var request in batch)
                {
                    request.Complete(RouteOutcome.Delivered);
                }
            },
            capacity: 1000,
            byteCapacity: 100_000);

        static RouteRequest Request(int bytes) =>
            RouteRequest.Rent(new Outbound(MessageType.Offer, "a", "b", new byte[bytes]), new byte[bytes], hop: 0, started: 0);

        // The first request starts a call (held open); the bytes it carries still count.
        var first = Request(60_000);
        Assert.True(outbox.TryEnqueue(first));
        var second = Request(30_000);
        Assert.True(outbox.TryEnqueue(second));
        var third = Request(20_000);
        Assert.False(outbox.TryEnqueue(third)); // 110,000 > 100,000
        Assert.True(outbox.TryEnqueue(Request(10_000))); // exactly 100,000

        callOut.SetResult();
        Assert.Equal(RouteOutcome.Delivered, await first.Outcome.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(RouteOutcome.Delivered, await second.Outcome.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));

        // Every call has returned: the whole budget is free again.
        await Poll.AssertAsync(() => outbox.TryEnqueue(Request(100_000)), TimeSpan.FromSeconds(10), "the outbox never gave its bytes back", TimeSpan.FromMilliseconds(1));

        Assert.Equal(1, batches[0]);
    }
}
