using System.Text.Json;

namespace Pathfinder.Browser.Tests;

/// <summary>
/// Chromium drives the session lab (<c>/lab</c>) the way a person does: the Pathfinder flow across two replicas on a
/// real Redis, and the self-test. The lab's page, script and peerjs bundle come from the service itself.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class LabTests(BrowserFixture browser, ITestOutputHelper output)
{
    private const int TestTimeout = 180_000;

    /// <summary>Set to a file path to save a screenshot of the presenter's tab mid-session (docs/lab.png is made so).</summary>
    private const string ScreenshotVariable = "PATHFINDER_LAB_SCREENSHOT";

    [Fact(Timeout = TestTimeout)]
    public async Task A_session_across_two_replicas_on_redis_reaches_every_attendee_and_the_presenter_sees_hands_and_leaves()
    {
        await using var redis = await RedisServer.StartAsync();
        var prefix = LabSupport.Unique("lab");
        await using var replicaA = await SignalingTestHost.StartAsync(LabSupport.Cluster(redis, prefix, "replica-a"));
        await using var replicaB = await SignalingTestHost.StartAsync(LabSupport.Cluster(redis, prefix, "replica-b"));
        var code = LabSupport.NewCode();

        await using var presenter = await LabPage.OpenAsync(browser, replicaA.HttpBase, "presenter", output);
        await presenter.StartSessionAsync(code, name: "Ada (presenter)");
        var me = await presenter.WaitForAsync("s.me.status === 'open' && s.me.replica && s.me.httpRttMs != null", "the presenter's OPEN");
        Assert.Equal(code, me.GetProperty("me").GetProperty("id").GetString());
        Assert.Equal("replica-a", me.GetProperty("me").GetProperty("replica").GetString());

        // One attendee on the other replica (every signaling message between them crosses Redis), one on the same.
        await using var remote = await LabPage.OpenAsync(browser, replicaB.HttpBase, "attendee on B", output, $"?role=attendee&code={code}");
        await remote.JoinSessionAsync(code, "Grace");
        var joined = await remote.WaitForAsync(
            "s.presenterLink.status === 'open' && s.session.started && s.session.step === 0 && s.me.replica && s.session.presenterReplica",
            "the attendee on replica B receiving session_start");
        Assert.Equal("replica-b", joined.GetProperty("me").GetProperty("replica").GetString());
        Assert.Equal("replica-a", joined.GetProperty("session").GetProperty("presenterReplica").GetString());
        Assert.Equal("Ada (presenter)", joined.GetProperty("session").GetProperty("presenter").GetString());
        var remoteId = joined.GetProperty("me").GetProperty("id").GetString()!;

        await using var local = await LabPage.OpenAsync(browser, replicaA.HttpBase, "attendee on A", output);
        await local.JoinSessionAsync(code, "Linus");
        await local.WaitForAsync("s.presenterLink.status === 'open' && s.session.step === 0", "the attendee on replica A receiving session_start");

        var bothJoined = await presenter.WaitForAsync(
            "s.attendees.length === 2 && s.attendees.every(a => a.status === 'joined' && a.replica)",
            "the presenter seeing both attendees joined");
        Assert.Equal("replica-b", Attendee(bothJoined, remoteId).GetProperty("replica").GetString());

        // Navigation reaches every attendee, and each one's acknowledgement reaches the presenter.
        await presenter.ClickAsync("next");
        await presenter.ClickAsync("next");
        foreach (var attendee in new[] { remote, local })
        {
            var seen = await attendee.WaitForAsync("s.session.step === 2 && s.session.navigations === 2", "two navigation messages");
            Assert.Equal("Build a dashboard", seen.GetProperty("session").GetProperty("title").GetString());
        }

        await presenter.WaitForAsync("s.attendees.every(a => a.step === 2)", "every attendee acknowledging step 3");

        // Hand raise from replica B reaches the presenter on replica A.
        await remote.ClickAsync("hand");
        var hand = await presenter.WaitForAsync($"s.attendees.some(a => a.id === '{remoteId}' && a.hand)", "the raised hand");
        Assert.False(hand.GetProperty("attendees").EnumerateArray().Single(a => a.GetProperty("id").GetString() != remoteId).GetProperty("hand").GetBoolean());

        // Round trips measured on both sides of the data channels.
        var timed = await presenter.WaitForAsync("s.attendees.every(a => a.rttMs != null && a.setupMs != null)", "data-channel round trips");
        var remoteTimed = await remote.WaitForAsync("s.presenterLink.rttMs != null && s.me.openMs != null", "the attendee's round trip");
        output.WriteLine(
            $"timings: presenter OPEN {Ms(timed, "me", "openMs")}, HTTP RTT {Ms(timed, "me", "httpRttMs")}; attendee on B OPEN {Ms(remoteTimed, "me", "openMs")}, "
            + $"data channel setup {Ms(remoteTimed, "presenterLink", "setupMs")}, data RTT {Ms(remoteTimed, "presenterLink", "rttMs")}");

        // The self-test in the presenter's tab, mid-session: two more peers through replica A.
        await presenter.ClickAsync("selftest");
        var selfTest = (await presenter.WaitForAsync("s.selfTest && s.selfTest.steps", "the self-test's result")).GetProperty("selfTest");
        Assert.True(selfTest.GetProperty("pass").GetBoolean(), selfTest.ToString());
        output.WriteLine($"self-test: {selfTest}");

        if (Environment.GetEnvironmentVariable(ScreenshotVariable) is { Length: > 0 } screenshot)
        {
            await presenter.Page.ScreenshotAsync(new() { Path = screenshot, FullPage = true });
            output.WriteLine($"screenshot saved to {screenshot}");
        }

        // Leave: the presenter sees the attendee go.
        await local.ClickAsync("leave");
        await presenter.WaitForAsync("s.attendees.some(a => a.status === 'left')", "the attendee on A leaving");

        // Session end reaches the remaining attendee.
        await presenter.ClickAsync("end");
        await remote.WaitForAsync("s.session.ended && s.me.status === 'ended'", "session_end at the attendee on B");
        await presenter.WaitForAsync("s.session.ended && s.me.status === 'ended'", "the presenter's session over");
    }

    [Fact(Timeout = TestTimeout)]
    public async Task An_attendee_whose_session_start_was_lost_asks_again_and_joins()
    {
        // A message sent the moment a data channel opens can be lost (Chromium under load: the attendee's pongs
        // arrived, its first session_start never did). Here the presenter's tab drops its first session_start on the
        // wire: the attendee must still join, by asking again.
        await using var host = await SignalingTestHost.StartAsync();
        var code = LabSupport.NewCode();
        await using var presenter = await LabPage.OpenAsync(browser, host.HttpBase, "presenter", output);
        await presenter.Page.EvaluateAsync("""
            () => {
              window.droppedSessionStarts = 0;
              const send = RTCDataChannel.prototype.send;
              RTCDataChannel.prototype.send = function (data) {
                const text = typeof data === "string" ? data : new TextDecoder().decode(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
                if (window.droppedSessionStarts === 0 && text.includes('"session_start"')) {
                  window.droppedSessionStarts++;
                  return;
                }
                return send.call(this, data);
              };
            }
            """);
        await presenter.StartSessionAsync(code, name: "Ada (presenter)");
        await presenter.WaitForAsync("s.me.status === 'open'", "the presenter's OPEN");

        await using var attendee = await LabPage.OpenAsync(browser, host.HttpBase, "attendee", output, $"?role=attendee&code={code}");
        await attendee.JoinSessionAsync(code, "Grace");
        var joined = await attendee.WaitForAsync("s.session.started && s.session.step === 0", "session_start after the first was lost");
        Assert.Equal("Ada (presenter)", joined.GetProperty("session").GetProperty("presenter").GetString());
        Assert.Equal(1, await presenter.Page.EvaluateAsync<int>("() => window.droppedSessionStarts"));
        await presenter.WaitForAsync("s.attendees.length === 1 && s.attendees[0].step === 0", "the attendee's acknowledgement");
    }

    [Fact(Timeout = TestTimeout)]
    public async Task The_self_test_runs_two_peers_through_the_service_and_reports_pass_with_timings()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?> { ["Signaling:Cluster:ReplicaId"] = "replica-self" });
        await using var lab = await LabPage.OpenAsync(browser, host.HttpBase, "self-test", output);

        await lab.ClickAsync("selftest");
        var state = await lab.WaitForAsync("s.selfTest && s.selfTest.steps", "the self-test's result");
        var result = state.GetProperty("selfTest");
        output.WriteLine(result.ToString());
        Assert.True(result.GetProperty("pass").GetBoolean(), result.GetProperty("error").ToString());
        var steps = result.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("name").GetString()).ToList();
        Assert.Equal(5, steps.Count);
        Assert.All(result.GetProperty("steps").EnumerateArray(), s => Assert.True(s.GetProperty("ms").GetInt32() >= 0));
        Assert.Equal("replica-self", result.GetProperty("replicas").GetProperty("presenter").GetString());
        Assert.Equal("replica-self", result.GetProperty("replicas").GetProperty("attendee").GetString());
        Assert.StartsWith("PASS", await lab.Page.InnerTextAsync("#selftest-result"), StringComparison.Ordinal);
    }

    private static JsonElement Attendee(JsonElement state, string id) =>
        state.GetProperty("attendees").EnumerateArray().Single(a => a.GetProperty("id").GetString() == id);

    private static string Ms(JsonElement state, string part, string field) =>
        state.GetProperty(part).GetProperty(field) is { ValueKind: JsonValueKind.Number } value ? $"{value.GetDouble():0} ms" : "–";
}
