using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Routing;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Tests;

/// <summary>
/// Issue 14, item 2: a per-connection relay rate (token buckets for messages/s and bytes/s). The sender over its rate
/// is refused (ERROR once per streak, then 1008 if it goes on), never the receiver. Time is a fake clock: nothing
/// refills unless the test advances it.
/// </summary>
public sealed class RelayRateTests
{
    private const string RateError = """{"type":"ERROR","payload":{"msg":"Relay rate exceeded: messages are dropped until you slow down"}}""";
    private const int Burst = 20;
    private const int RelayRateExceededEvent = 202;

    private static Task<SignalingTestHost> StartAsync(FakeTimeProvider time) =>
        SignalingTestHost.StartAsync(
            new Dictionary<string, string?>
            {
                ["Signaling:RelayMessagesPerSecond"] = "1",
                ["Signaling:RelayMessageBurst"] = Burst.ToString(CultureInfo.InvariantCulture),
            },
            services => services.AddSingleton<TimeProvider>(time),
            logging => logging.AddFakeLogging());

    [Fact]
    public async Task A_sender_over_its_rate_gets_error_then_1008_and_its_receiver_stays_open_with_at_most_the_burst()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await StartAsync(time);
        using var refused = new MetricCollector<long>(
            host.Services.GetRequiredService<IMeterFactory>(), SignalingMetrics.MeterName, "pathfinder.signaling.messages.rate_limited");
        await using var flooder = await PeerClient.ConnectAsync(host.SocketUri, PeerClient.NewId("flooder"));
        await using var receiver = await PeerClient.ConnectAsync(host.SocketUri, PeerClient.NewId("receiver"));

        // The burst, then RefusalsBeforeClose more: the last of them closes the flooder.
        for (var i = 0; i < Burst + RelayRateLimits.RefusalsBeforeClose; i++)
        {
            await flooder.SendToAsync("CANDIDATE", receiver.Id, i.ToString(CultureInfo.InvariantCulture));
        }

        // Some that come after the close: relayed never. The client may already have seen the close and answered it,
        // and then its socket refuses to send at all.
        try
        {
            for (var i = Burst + RelayRateLimits.RefusalsBeforeClose; i < Burst + RelayRateLimits.RefusalsBeforeClose + 10; i++)
            {
                await flooder.SendToAsync("CANDIDATE", receiver.Id, i.ToString(CultureInfo.InvariantCulture));
            }
        }
        catch (WebSocketException) when (flooder.Socket.State is WebSocketState.Closed or WebSocketState.CloseSent or WebSocketState.Aborted)
        {
        }

        // One ERROR for the whole streak, then the close.
        Assert.Equal([RateError], await flooder.WaitForCloseAsync());
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, flooder.CloseStatus);
        Assert.Equal("Relay rate exceeded", flooder.Socket.CloseStatusDescription);

        // The receiver got exactly the burst, in order, and stays open and served.
        var received = await receiver.DrainWithMarkerAsync();
        Assert.Equal(
            Enumerable.Range(0, Burst).Select(i => $$"""{"type":"CANDIDATE","src":"{{flooder.Id}}","dst":"{{receiver.Id}}","payload":{{i}}}"""),
            received);
        await using var other = await PeerClient.ConnectAsync(host.SocketUri);
        await other.SendToAsync("OFFER", receiver.Id, "\"still open\"");
        Assert.Equal($$"""{"type":"OFFER","src":"{{other.Id}}","dst":"{{receiver.Id}}","payload":"still open"}""", await receiver.ReceiveAsync());

        Assert.Equal(RelayRateLimits.RefusalsBeforeClose, refused.GetMeasurementSnapshot().EvaluateAsCounter());
        var logged = Assert.Single(host.Services.GetFakeLogCollector().GetSnapshot(), r => r.Id.Id == RelayRateExceededEvent);
        Assert.Equal(LogLevel.Warning, logged.Level);
        Assert.Contains(flooder.Id, logged.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sender_that_slows_down_is_served_again_and_heartbeats_do_not_count()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await StartAsync(time);
        await using var sender = await PeerClient.ConnectAsync(host.SocketUri);
        await using var receiver = await PeerClient.ConnectAsync(host.SocketUri);

        for (var i = 0; i < Burst; i++)
        {
            await sender.SendToAsync("OFFER", receiver.Id, i.ToString(CultureInfo.InvariantCulture));
        }

        // The bucket is empty; heartbeats are not relayed and cost nothing.
        for (var i = 0; i < 100; i++)
        {
            await sender.SendAsync("""{"type":"HEARTBEAT"}""");
        }

        // Over the rate: refused, ERROR once for the streak.
        await sender.SendToAsync("OFFER", receiver.Id, "\"refused 1\"");
        await sender.SendToAsync("OFFER", receiver.Id, "\"refused 2\"");
        Assert.Equal(RateError, await sender.ReceiveAsync());

        // One second later one message is allowed again (1/s), which ends the streak: the next refusal is a new one.
        time.Advance(TimeSpan.FromSeconds(1));
        await sender.SendToAsync("OFFER", receiver.Id, "\"after a second\"");
        await sender.SendToAsync("OFFER", receiver.Id, "\"refused 3\"");
        Assert.Equal(RateError, await sender.ReceiveAsync());

        var received = (await receiver.DrainWithMarkerAsync()).ToList();
        Assert.Equal(Burst + 1, received.Count);
        Assert.Contains("after a second", received[^1], StringComparison.Ordinal);
        Assert.DoesNotContain(received, m => m.Contains("refused", StringComparison.Ordinal));
        Assert.Equal(WebSocketState.Open, sender.Socket.State);
    }

    [Fact]
    public async Task The_byte_rate_refuses_a_sender_of_large_messages_before_its_message_rate_does()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await SignalingTestHost.StartAsync(
            new Dictionary<string, string?>
            {
                ["Signaling:MaxMessageBytes"] = "16384",
                ["Signaling:RelayByteBurst"] = "65536",
                ["Signaling:RelayBytesPerSecond"] = "16384",
            },
            services => services.AddSingleton<TimeProvider>(time));
        await using var sender = await PeerClient.ConnectAsync(host.SocketUri);
        await using var receiver = await PeerClient.ConnectAsync(host.SocketUri);

        // Payloads of 10,000 bytes: six fit into the 64 KiB burst, the seventh does not.
        var payload = $"\"{new string('b', 9_998)}\"";
        for (var i = 0; i < 7; i++)
        {
            await sender.SendToAsync("OFFER", receiver.Id, payload);
        }

        Assert.Equal(RateError, await sender.ReceiveAsync());
        Assert.Equal(6, (await receiver.DrainWithMarkerAsync()).Count);
    }

    // Token bucket and relay-rate logic, on a fake clock.

    private static RelayRateLimits Limits(FakeTimeProvider time, int messagesPerSecond = 4, int messageBurst = 10, int bytesPerSecond = 1_000, int byteBurst = 10_000) =>
        RelayRateLimits.From(
            new SignalingOptions
            {
                RelayMessagesPerSecond = messagesPerSecond,
                RelayMessageBurst = messageBurst,
                RelayBytesPerSecond = bytesPerSecond,
                RelayByteBurst = byteBurst,
            },
            time);

    [Fact]
    public void A_bucket_starts_full_and_holds_at_most_its_burst()
    {
        var time = new FakeTimeProvider();
        var limit = new TokenBucketLimit(PerSecond: 4, Burst: 10);
        var frequency = time.TimestampFrequency;
        var bucket = default(TokenBucket);

        Assert.Equal(10, bucket.Available(limit, time.GetTimestamp(), frequency));
        bucket.Take(10, frequency);
        Assert.Equal(0, bucket.Available(limit, time.GetTimestamp(), frequency));
        Assert.False(bucket.Has(1, frequency));

        // A day idle refills to the burst, not beyond.
        time.Advance(TimeSpan.FromDays(1));
        Assert.Equal(10, bucket.Available(limit, time.GetTimestamp(), frequency));
    }

    [Fact]
    public void A_bucket_refills_at_its_rate_exactly()
    {
        var time = new FakeTimeProvider();
        var limit = new TokenBucketLimit(PerSecond: 3, Burst: 3);
        var frequency = time.TimestampFrequency;
        var bucket = default(TokenBucket);
        bucket.Refill(limit, time.GetTimestamp(), frequency);
        bucket.Take(3, frequency);

        // A third of a second earns one token at 3/s: one tick short of it earns none.
        var third = frequency / 3;
        time.Advance(TimeSpan.FromTicks(third * TimeSpan.TicksPerSecond / frequency));
        Assert.Equal(0, bucket.Available(limit, time.GetTimestamp(), frequency));
        time.Advance(TimeSpan.FromTicks(TimeSpan.TicksPerSecond / frequency));
        Assert.Equal(1, bucket.Available(limit, time.GetTimestamp(), frequency));

        // Refilled in small steps or in one, the sum is the same.
        bucket.Take(1, frequency);
        for (var i = 0; i < 10; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(100));
            bucket.Refill(limit, time.GetTimestamp(), frequency);
        }

        Assert.Equal(3, bucket.Available(limit, time.GetTimestamp(), frequency));

        // Time that goes back earns nothing and takes nothing.
        bucket.Take(3, frequency);
        time.Advance(TimeSpan.FromSeconds(1));
        bucket.Refill(limit, time.GetTimestamp() - (2 * frequency), frequency);
        Assert.Equal(3, bucket.Available(limit, time.GetTimestamp(), frequency));
    }

    [Fact]
    public void A_message_needs_room_in_both_buckets_and_a_refused_one_takes_from_neither()
    {
        var time = new FakeTimeProvider();
        var limits = Limits(time, messagesPerSecond: 4, messageBurst: 10, bytesPerSecond: 1_000, byteBurst: 10_000);
        var rate = new RelayRate();

        // Bytes run out first: 4,000 + 4,000 fit, 4,000 more do not (2,000 left)...
        Assert.Equal(RelayVerdict.Allowed, rate.TryTake(limits, time.GetTimestamp(), 4_000));
        Assert.Equal(RelayVerdict.Allowed, rate.TryTake(limits, time.GetTimestamp(), 4_000));
        Assert.Equal(RelayVerdict.Refused, rate.TryTake(limits, time.GetTimestamp(), 4_000));

        // ...but the refused message took nothing: 2,000 bytes and 8 messages are still there.
        Assert.Equal(RelayVerdict.Allowed, rate.TryTake(limits, time.GetTimestamp(), 2_000));
        Assert.Equal(0, rate.RefusedInARow);
        for (var i = 0; i < 7; i++)
        {
            Assert.Equal(RelayVerdict.Allowed, rate.TryTake(limits, time.GetTimestamp(), 0));
        }

        // Messages run out (10 taken) while bytes would allow more.
        time.Advance(TimeSpan.FromSeconds(2)); // +8 messages (capped at 10), +2,000 bytes
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(RelayVerdict.Allowed, rate.TryTake(limits, time.GetTimestamp(), 1));
        }

        Assert.Equal(RelayVerdict.Refused, rate.TryTake(limits, time.GetTimestamp(), 1));

        // A quarter of a second later one message may go (4/s).
        time.Advance(TimeSpan.FromMilliseconds(250));
        Assert.Equal(RelayVerdict.Allowed, rate.TryTake(limits, time.GetTimestamp(), 1));
    }

    [Fact]
    public void A_streak_of_refusals_gets_one_error_then_a_close_at_its_64th_and_an_allowed_message_ends_it()
    {
        var time = new FakeTimeProvider();
        var limits = Limits(time, messagesPerSecond: 1, messageBurst: 1);
        var rate = new RelayRate();
        Assert.Equal(RelayVerdict.Allowed, rate.TryTake(limits, time.GetTimestamp(), 10));

        Assert.Equal(RelayVerdict.Refused, rate.TryTake(limits, time.GetTimestamp(), 10));
        for (var i = 2; i < RelayRateLimits.RefusalsBeforeClose; i++)
        {
            Assert.Equal(RelayVerdict.RefusedAgain, rate.TryTake(limits, time.GetTimestamp(), 10));
        }

        Assert.Equal(RelayRateLimits.RefusalsBeforeClose - 1, rate.RefusedInARow);

        // One allowed message ends the streak: the next refusal starts a new one (ERROR again, no close).
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(RelayVerdict.Allowed, rate.TryTake(limits, time.GetTimestamp(), 10));
        Assert.Equal(RelayVerdict.Refused, rate.TryTake(limits, time.GetTimestamp(), 10));
        for (var i = 2; i < RelayRateLimits.RefusalsBeforeClose; i++)
        {
            Assert.Equal(RelayVerdict.RefusedAgain, rate.TryTake(limits, time.GetTimestamp(), 10));
        }

        Assert.Equal(RelayVerdict.Close, rate.TryTake(limits, time.GetTimestamp(), 10));
    }

    [Fact]
    public void The_default_rate_lets_a_presenter_with_200_attendees_through()
    {
        // A presenter connecting 200 attendees at once: an OFFER and ~10 CANDIDATEs each, SDP of ~4 KB.
        var time = new FakeTimeProvider();
        var limits = RelayRateLimits.From(new SignalingOptions(), time);
        var rate = new RelayRate();
        for (var attendee = 0; attendee < 200; attendee++)
        {
            Assert.Equal(RelayVerdict.Allowed, rate.TryTake(limits, time.GetTimestamp(), 4_000));
            for (var candidate = 0; candidate < 10; candidate++)
            {
                Assert.Equal(RelayVerdict.Allowed, rate.TryTake(limits, time.GetTimestamp(), 300));
            }
        }
    }
}
