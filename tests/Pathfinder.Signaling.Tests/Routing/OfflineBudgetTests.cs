using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Tests;

/// <summary>The in-memory offline queues honour the same budgets as Redis: in total and per sender, with no drift.</summary>
public sealed class OfflineBudgetTests
{
    private static Outbound M(string src, string dst, int size) => new(MessageType.Offer, src, dst, new byte[size]);

    [Fact]
    public void Offline_budgets_hold_per_sender_and_in_total_and_are_given_back_exactly()
    {
        var queues = new OfflineQueues(perDestination: 10, totalBytes: 1000, totalMessages: 5, perSender: 3, perSenderBytes: 300);

        Assert.Equal(RouteOutcome.Queued, queues.Enqueue(M("s", "d1", 100), 0));
        Assert.Equal(RouteOutcome.Queued, queues.Enqueue(M("s", "d2", 100), 0));
        Assert.Equal(RouteOutcome.Queued, queues.Enqueue(M("s", "d3", 100), 0));
        Assert.Equal(RouteOutcome.QueueFull, queues.Enqueue(M("s", "d4", 1), 0)); // s: 3 messages
        Assert.Equal(RouteOutcome.QueueFull, queues.Enqueue(M("s", "d4", 1), 0)); // no queue for d4: told every time
        Assert.Equal(RouteOutcome.QueueFull, queues.Enqueue(M("s", "d1", 1), 0)); // d1 has a queue: told once...
        Assert.Equal(RouteOutcome.Dropped, queues.Enqueue(M("s", "d1", 1), 0)); // ...then dropped

        Assert.Equal(RouteOutcome.Queued, queues.Enqueue(M("t", "d1", 100), 0));
        Assert.Equal(RouteOutcome.QueueFull, queues.Enqueue(M("t", "d5", 250), 0)); // t: 350 bytes > 300
        Assert.Equal(RouteOutcome.Queued, queues.Enqueue(M("u", "d6", 10), 0));
        Assert.Equal(RouteOutcome.QueueFull, queues.Enqueue(M("v", "d7", 10), 0)); // 5 messages in total
        Assert.Equal(5, queues.Messages);
        Assert.Equal(410, queues.Bytes);
        Assert.Equal((3, 300L), queues.SenderUsage("s"));
        Assert.Equal(4, queues.Destinations);

        // Delivered: d1's two messages give back s's and t's shares.
        Assert.Equal(2, queues.Take("d1").Count);
        Assert.Equal((2, 200L), queues.SenderUsage("s"));
        Assert.Equal((0, 0L), queues.SenderUsage("t"));
        Assert.Equal(2, queues.Senders);

        // Expired: everything else, and nothing stays counted.
        var expired = new List<ExpiredPair>();
        queues.TakeExpired(now: 10, timeoutTicks: 10, expired);
        Assert.Equal(3, expired.Count);
        Assert.Equal(0, queues.Messages);
        Assert.Equal(0, queues.Bytes);
        Assert.Equal(0, queues.Senders);
        Assert.Equal(0, queues.Destinations);

        // The whole budget is free again, exactly.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(RouteOutcome.Queued, queues.Enqueue(M("s", $"e{i}", 100), 20));
        }

        Assert.Equal(RouteOutcome.QueueFull, queues.Enqueue(M("s", "e3", 1), 20));
    }
}
