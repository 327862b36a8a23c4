namespace Pathfinder.Browser.Tests;

/// <summary>
/// Issue 16's signed tokens and id reservation, driven through the session lab in Chromium. These tests are written
/// against the issue's contract (Signaling:TokenSecret / PEERJS_TOKEN_SECRET, tokens <c>{expiry}.{signature}</c> minted
/// here with HMAC-SHA256; Signaling:IdReservation in ms) and pass only once the service implements it (the "tokens"
/// branch); on a service without it they fail: every token is accepted and a held or just-closed code goes to
/// whoever asks first.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class LabTokenTests(BrowserFixture browser, ITestOutputHelper output)
{
    private const int TestTimeout = 180_000;

    // ≥ 32 bytes, as the issue requires; a test secret, never a real one.
    private const string Secret = "lab-test-secret-0123456789abcdef-0123456789";

    private static readonly DateTimeOffset InTenMinutes = DateTimeOffset.UtcNow.AddMinutes(10);

    [Fact(Timeout = TestTimeout)]
    public async Task A_presenter_who_reloads_or_reopens_with_its_signed_token_gets_its_code_back_at_once()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?> { ["Signaling:TokenSecret"] = Secret });
        var code = LabSupport.NewCode();
        var token = LabSupport.MintToken(Secret, code, InTenMinutes);

        await using var presenter = await LabPage.OpenAsync(browser, host.HttpBase, "presenter", output);
        await presenter.StartSessionAsync(code, token);
        await presenter.WaitForAsync($"s.me.status === 'open' && s.me.id === '{code}'", "the presenter's OPEN with its token");

        // A reload: the new page (with a freshly minted token, as a backend hands out on every page load) asks for the
        // code while the old socket may still be registered.
        await presenter.ReloadAsync();
        await presenter.StartSessionAsync(code, LabSupport.MintToken(Secret, code, InTenMinutes.AddMinutes(1)));
        await presenter.WaitForAsync($"s.me.status === 'open' && s.me.id === '{code}'", "the reloaded presenter's OPEN");

        // A new tab while the old tab's socket still holds the code (the service cannot tell a half-dead socket from a
        // live one): the signed token takes the code over, and the old tab is told.
        // Its token is another valid one for the code (not the old socket's: the same token was always a reconnect).
        await using var reopened = await LabPage.OpenAsync(browser, host.HttpBase, "presenter, new tab", output);
        await reopened.StartSessionAsync(code, LabSupport.MintToken(Secret, code, InTenMinutes.AddMinutes(2)));
        var back = await reopened.WaitForAsync("s.me.status !== 'connecting' && s.me.status !== 'idle'", "the new tab's answer");
        Assert.Equal("open", back.GetProperty("me").GetProperty("status").GetString());
        Assert.Equal(code, back.GetProperty("me").GetProperty("id").GetString());
        await presenter.WaitForAsync("s.me.status !== 'open'", "the old tab losing the code");

        // The code is the session: an attendee (with its own signed id) reaches the presenter in the new tab.
        var attendeeId = LabSupport.Unique("attendee");
        await using var attendee = await LabPage.OpenAsync(browser, host.HttpBase, "attendee", output);
        await attendee.FillAsync("attendee-id", attendeeId);
        await attendee.FillAsync("attendee-token", LabSupport.MintToken(Secret, attendeeId, InTenMinutes));
        await attendee.JoinSessionAsync(code, "Grace");
        await attendee.WaitForAsync("s.presenterLink.status === 'open' && s.session.started", "session_start from the new tab");
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_squatter_without_a_valid_token_for_the_code_is_refused_and_the_presenter_keeps_it()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?> { ["Signaling:TokenSecret"] = Secret });
        var code = LabSupport.NewCode();
        var expiry = InTenMinutes.ToUnixTimeSeconds();
        var squatterTokens = new Dictionary<string, string>
        {
            ["no token"] = string.Empty,
            ["a forged signature"] = $"{expiry}.{new string('A', 43)}",
            ["a token signed for another code"] = LabSupport.MintToken(Secret, LabSupport.NewCode(), InTenMinutes),
            ["an expired token"] = LabSupport.MintToken(Secret, code, DateTimeOffset.UtcNow.AddMinutes(-5)),
            ["a token signed with another secret"] = LabSupport.MintToken(Secret + "-not-ours", code, InTenMinutes),
            ["a malformed token"] = "not-a-signed-token",
        };

        // While the presenter is away (its network blips), the free code goes to nobody without its token.
        foreach (var (what, token) in squatterTokens)
        {
            await using var squatter = await LabPage.OpenAsync(browser, host.HttpBase, $"squatter, {what}", output);
            await squatter.StartSessionAsync(code, token, name: "Squatter");
            var refused = await squatter.WaitForAsync("s.me.status !== 'connecting' && s.me.status !== 'idle'", $"the answer to {what}");
            Assert.True(refused.GetProperty("me").GetProperty("status").GetString() == "refused", $"{what}: {refused}");
            output.WriteLine($"{what}: {refused.GetProperty("me").GetProperty("error")}");
        }

        await using var presenter = await LabPage.OpenAsync(browser, host.HttpBase, "presenter", output);
        await presenter.StartSessionAsync(code, LabSupport.MintToken(Secret, code, InTenMinutes));
        await presenter.WaitForAsync($"s.me.status === 'open' && s.me.id === '{code}'", "the presenter's OPEN with its token");

        // While the presenter holds it, a forged token does not take it over.
        await using var late = await LabPage.OpenAsync(browser, host.HttpBase, "squatter while held", output);
        await late.StartSessionAsync(code, squatterTokens["a forged signature"], name: "Squatter");
        await late.WaitForAsync("s.me.status === 'refused'", "the forged token refused");
        var still = await presenter.StateAsync();
        Assert.Equal("open", still.GetProperty("me").GetProperty("status").GetString());
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_reserved_code_is_refused_to_another_token_on_any_replica_and_returned_to_its_own()
    {
        await using var redis = await RedisServer.StartAsync();
        var prefix = LabSupport.Unique("reserve");
        var reservation = new Dictionary<string, string?> { ["Signaling:IdReservation"] = "60000" };
        await using var replicaA = await SignalingTestHost.StartAsync(new Dictionary<string, string?>(LabSupport.Cluster(redis, prefix, "replica-a").Concat(reservation)));
        await using var replicaB = await SignalingTestHost.StartAsync(new Dictionary<string, string?>(LabSupport.Cluster(redis, prefix, "replica-b").Concat(reservation)));
        var code = LabSupport.NewCode();
        const string presenterToken = "presenter-token-7f3a9c";

        await using (var presenter = await LabPage.OpenAsync(browser, replicaA.HttpBase, "presenter", output))
        {
            await presenter.StartSessionAsync(code, presenterToken);
            await presenter.WaitForAsync($"s.me.status === 'open' && s.me.id === '{code}'", "the presenter's OPEN");
            await presenter.ClickAsync("end");
            await presenter.WaitForAsync("s.me.status === 'ended'", "the presenter closing");
        }

        // The code stays reserved for the presenter's token, cluster-wide.
        await using var squatter = await LabPage.OpenAsync(browser, replicaB.HttpBase, "squatter", output);
        await squatter.StartSessionAsync(code, "squatter-token-000", name: "Squatter");
        var refused = await squatter.WaitForAsync("s.me.status === 'refused' || s.me.status === 'open'", "the squatter's answer");
        Assert.Equal("refused", refused.GetProperty("me").GetProperty("status").GetString());
        Assert.Contains("unavailable-id", refused.GetProperty("me").GetProperty("error").GetString(), StringComparison.Ordinal);

        await using var back = await LabPage.OpenAsync(browser, replicaB.HttpBase, "presenter back", output);
        await back.StartSessionAsync(code, presenterToken);
        var open = await back.WaitForAsync("s.me.status === 'open' || s.me.status === 'refused'", "the presenter's return");
        Assert.Equal("open", open.GetProperty("me").GetProperty("status").GetString());
        Assert.Equal("replica-b", (await back.WaitForAsync("s.me.replica", "the replica lookup")).GetProperty("me").GetProperty("replica").GetString());
    }
}
