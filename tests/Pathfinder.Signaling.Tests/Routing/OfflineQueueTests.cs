using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Tests;

public sealed class OfflineQueueTests
{
    // Sweeps run only when the test calls them: their timers are set far beyond any time the test advances.
    private static readonly Dictionary<string, string?> ManualSweeps = new()
    {
        ["Signaling:CleanupOutMsgs"] = "864000000",
        ["Signaling:LivenessCheckInterval"] = "864000000",
    };

    private static Task<SignalingTestHost> StartWithFakeTimeAsync(FakeTimeProvider time, Dictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>(ManualSweeps);
        foreach (var (k, v) in extra ?? [])
        {
            settings[k] = v;
        }

        return SignalingTestHost.StartAsync(settings, services => services.AddSingleton<TimeProvider>(time));
    }

    [Fact]
    public async Task Offer_answer_candidate_to_an_absent_id_are_delivered_after_open_when_it_connects()
    {
        await using var host = await SignalingTestHost.StartAsync();
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        var offline = PeerClient.NewId("offline");
        await a.SendToAsync("OFFER", offline, "1");
        await a.SendToAsync("LEAVE", offline, "2");
        await a.SendToAsync("ANSWER", offline, "3");
        await a.SendToAsync("EXPIRE", offline, "4");
        await a.SendToAsync("CANDIDATE", offline, "5");
        Assert.Empty(await a.DrainWithMarkerAsync());

        await using var b = await PeerClient.OpenAsync(host.SocketUri, offline);
        Assert.Equal("""{"type":"OPEN"}""", await b.ReceiveAsync());
        Assert.Equal($$"""{"type":"OFFER","src":"{{a.Id}}","dst":"{{offline}}","payload":1}""", await b.ReceiveAsync());
        Assert.Equal($$"""{"type":"ANSWER","src":"{{a.Id}}","dst":"{{offline}}","payload":3}""", await b.ReceiveAsync());
        Assert.Equal($$"""{"type":"CANDIDATE","src":"{{a.Id}}","dst":"{{offline}}","payload":5}""", await b.ReceiveAsync());
        Assert.Empty(await b.DrainWithMarkerAsync());
    }

    [Fact]
    public async Task Queued_messages_come_before_live_ones_and_nothing_is_lost_while_the_destination_connects()
    {
        await using var host = await SignalingTestHost.StartAsync();
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        var target = PeerClient.NewId("late");
        const int count = 200;
        var halfway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < count; i++)
            {
                await a.SendToAsync("CANDIDATE", target, $$"""{"seq":{{i}}}""");
                if (i == count / 4)
                {
                    halfway.SetResult();
                }
            }
        });

        await halfway.Task.WaitAsync(PeerClient.DefaultTimeout);
        await using var b = await PeerClient.ConnectAsync(host.SocketUri, target);
        for (var i = 0; i < count; i++)
        {
            var message = await b.ReceiveJsonAsync();
            Assert.Equal(i, message.GetProperty("payload").GetProperty("seq").GetInt32());
        }

        await sending;
    }

    [Fact]
    public async Task After_expire_timeout_each_sender_gets_one_expire_per_destination_and_the_queue_is_gone()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await StartWithFakeTimeAsync(time);
        var router = host.Services.GetRequiredService<PeerRouter>();
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        await using var c = await PeerClient.ConnectAsync(host.SocketUri);
        var x = PeerClient.NewId("x");
        var y = PeerClient.NewId("y");
        await a.SendToAsync("OFFER", x, "1");
        await a.SendToAsync("CANDIDATE", x, "2");
        await a.SendToAsync("CANDIDATE", y, "3");
        await c.SendToAsync("OFFER", x, "4");
        Assert.Empty(await a.DrainWithMarkerAsync());
        Assert.Empty(await c.DrainWithMarkerAsync());

        time.Advance(TimeSpan.FromMilliseconds(4999));
        Assert.Equal(0, await router.SweepExpiredAsync(CancellationToken.None));

        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(3, await router.SweepExpiredAsync(CancellationToken.None));

        var toA = new[] { await a.ReceiveAsync(), await a.ReceiveAsync() };
        Assert.Contains($$"""{"type":"EXPIRE","src":"{{x}}","dst":"{{a.Id}}"}""", toA);
        Assert.Contains($$"""{"type":"EXPIRE","src":"{{y}}","dst":"{{a.Id}}"}""", toA);
        Assert.Equal($$"""{"type":"EXPIRE","src":"{{x}}","dst":"{{c.Id}}"}""", await c.ReceiveAsync());
        Assert.Empty(await a.DrainWithMarkerAsync());
        Assert.Empty(await c.DrainWithMarkerAsync());

        // The expired messages are never delivered.
        await using var lateX = await PeerClient.ConnectAsync(host.SocketUri, x);
        Assert.Empty(await lateX.DrainWithMarkerAsync());
        Assert.Equal(0, await router.SweepExpiredAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Expire_for_a_sender_that_went_offline_is_dropped()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await StartWithFakeTimeAsync(time);
        var router = host.Services.GetRequiredService<PeerRouter>();
        var senderId = PeerClient.NewId("gone");
        var offline = PeerClient.NewId("z");
        await using (var sender = await PeerClient.ConnectAsync(host.SocketUri, senderId))
        {
            await sender.SendToAsync("OFFER", offline, "1");
            Assert.Empty(await sender.DrainWithMarkerAsync());
        }

        time.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(1, await router.SweepExpiredAsync(CancellationToken.None));

        // EXPIRE is never queued: the sender coming back gets nothing.
        await using var back = await PeerClient.ConnectAsync(host.SocketUri, senderId);
        Assert.Empty(await back.DrainWithMarkerAsync());
    }

    [Fact]
    public async Task Expiry_runs_on_its_own_timer()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Signaling:ExpireTimeout"] = "200",
            ["Signaling:CleanupOutMsgs"] = "50",
        });
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        var x = PeerClient.NewId("x");
        await a.SendToAsync("OFFER", x, "1");
        Assert.Equal($$"""{"type":"EXPIRE","src":"{{x}}","dst":"{{a.Id}}"}""", await a.ReceiveAsync());
    }

    [Fact]
    public async Task A_full_queue_refuses_further_messages_and_tells_the_sender_once()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Signaling:OfflineQueuePerPeer"] = "3",
        });
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        var offline = PeerClient.NewId("full");
        for (var i = 0; i < 6; i++)
        {
            await a.SendToAsync("CANDIDATE", offline, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.Equal([$$"""{"type":"EXPIRE","src":"{{offline}}","dst":"{{a.Id}}"}"""], await a.DrainWithMarkerAsync());

        await using var b = await PeerClient.ConnectAsync(host.SocketUri, offline);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(i, (await b.ReceiveJsonAsync()).GetProperty("payload").GetInt32());
        }

        Assert.Empty(await b.DrainWithMarkerAsync());
    }
}
