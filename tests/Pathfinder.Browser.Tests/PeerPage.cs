using System.Text.Json;
using Microsoft.Playwright;

namespace Pathfinder.Browser.Tests;

/// <summary>
/// One test page in its own browser context (own storage, own WebSocket), driving window.pf from page/harness.js.
/// Console output, page errors, failed requests and every WebSocket frame go to the test output, so a failure shows
/// what the real client saw.
/// </summary>
internal sealed class PeerPage : IAsyncDisposable
{
    /// <summary>Bound for one page-side wait; the .NET side waits a little longer so the page's own timeout reports first.</summary>
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(20);

    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(5);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly IBrowserContext _context;
    private readonly IPage _page;
    private readonly string _name;
    private readonly ITestOutputHelper _output;

    private PeerPage(IBrowserContext context, IPage page, string name, ITestOutputHelper output)
    {
        _context = context;
        _page = page;
        _name = name;
        _output = output;
    }

    public static async Task<PeerPage> OpenAsync(BrowserFixture browser, string name, ITestOutputHelper output)
    {
        var context = await browser.Browser.NewContextAsync().WaitAsync(DefaultWait);
        var page = await context.NewPageAsync().WaitAsync(DefaultWait);
        var peerPage = new PeerPage(context, page, name, output);
        PageLog.Attach(peerPage._page, output, name);
        await page.GotoAsync(browser.PageUrl.ToString(), new PageGotoOptions { Timeout = Ms(DefaultWait) });
        await page.WaitForFunctionAsync(
            "() => typeof window.Peer === 'function' && typeof window.pf === 'object'",
            null,
            new PageWaitForFunctionOptions { Timeout = Ms(DefaultWait) });
        return peerPage;
    }

    /// <summary>Creates the Peer (with <paramref name="id"/>, or server-assigned when null) against <paramref name="host"/>.</summary>
    public Task StartAsync(SignalingTestHost host, string? id) => StartAsync(host.HttpBase, host.Path, id);

    /// <summary>Starts the page's Peer against any signaling endpoint (a test host, a replica, Aspire's proxy).</summary>
    public Task StartAsync(Uri httpBase, string path, string? id) =>
        _page.EvaluateAsync(
            "o => window.pf.start(o)",
            new Dictionary<string, object?>
            {
                ["id"] = id,
                ["host"] = httpBase.Host,
                ["port"] = httpBase.Port,
                ["path"] = path,
                ["key"] = SignalingTestHost.DefaultKey,
            }).WaitAsync(DefaultWait);

    public Task<OpenResult> WaitOpenOrErrorAsync() => CallAsync<OpenResult>("waitOpenOrError", DefaultWait);

    public Task<PeerError> WaitErrorAsync() => CallAsync<PeerError>("waitError", DefaultWait);

    public Task<PeerError[]> ErrorsAsync() => QueryAsync<PeerError[]>("() => JSON.stringify(window.pf.errors())");

    public Task<PeerStatus> StatusAsync() => QueryAsync<PeerStatus>("() => JSON.stringify(window.pf.status())");

    public Task ConnectAsync(string remoteId) =>
        _page.EvaluateAsync("id => window.pf.connect(id)", remoteId).WaitAsync(DefaultWait);

    public Task<RemotePeer> WaitOutgoingOpenAsync() => CallAsync<RemotePeer>("waitOutgoingOpen", DefaultWait);

    public Task<RemotePeer> WaitIncomingOpenAsync() => CallAsync<RemotePeer>("waitIncomingOpen", DefaultWait);

    public Task SendAsync(string text) =>
        _page.EvaluateAsync("t => window.pf.send(t)", text).WaitAsync(DefaultWait);

    public async Task<ReceivedMessage> WaitMessageAsync(int index)
    {
        var json = await _page.EvaluateAsync<string>(
            "async ([index, ms]) => JSON.stringify(await window.pf.waitMessage(index, ms))",
            new object[] { index, JsMs(DefaultWait) }).WaitAsync(DefaultWait + Margin);
        return Deserialize<ReceivedMessage>(json);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _page.EvaluateAsync("() => window.pf && window.pf.destroy()").WaitAsync(DefaultWait);
        }
        catch (Exception e) when (e is PlaywrightException or TimeoutException)
        {
            PageLog.Write(_output, _name, $"destroy failed: {e.Message}");
        }

        await _context.CloseAsync().WaitAsync(DefaultWait);
    }

    private async Task<T> CallAsync<T>(string function, TimeSpan wait)
    {
        var json = await _page.EvaluateAsync<string>(
            $"async ms => JSON.stringify(await window.pf.{function}(ms))",
            JsMs(wait)).WaitAsync(wait + Margin);
        return Deserialize<T>(json);
    }

    private async Task<T> QueryAsync<T>(string expression) =>
        Deserialize<T>(await _page.EvaluateAsync<string>(expression).WaitAsync(DefaultWait));

    private static T Deserialize<T>(string json) =>
        JsonSerializer.Deserialize<T>(json, Json) ?? throw new InvalidOperationException($"null result: {json}");

    private static float Ms(TimeSpan t) => (float)t.TotalMilliseconds;

    /// <summary>Milliseconds as a page-side argument (an int: Playwright does not pass a float as a JS number).</summary>
    private static int JsMs(TimeSpan t) => (int)t.TotalMilliseconds;
}

internal sealed record PeerError(string Type, string Message);

internal sealed record OpenResult(string? Id, PeerError? Error);

internal sealed record PeerStatus(string? Id, bool Open, bool Disconnected, bool Destroyed);

internal sealed record RemotePeer(string Peer);

internal sealed record ReceivedMessage(string From, string Data);
