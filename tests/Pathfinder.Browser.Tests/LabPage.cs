using System.Text.Json;
using Microsoft.Playwright;

namespace Pathfinder.Browser.Tests;

/// <summary>
/// One tab of the session lab (<c>/lab</c>, served by the signaling service itself) in its own browser context,
/// driven like a person would: fields filled, buttons clicked. What the page shows is read from
/// <c>window.lab.state()</c>; every wait is Playwright's bounded wait on a condition over that state. Console output,
/// page errors and WebSocket frames go to the test output.
/// </summary>
internal sealed class LabPage : IAsyncDisposable
{
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(25);

    private readonly IBrowserContext _context;
    private readonly string _name;

    private LabPage(IBrowserContext context, IPage page, string name)
    {
        _context = context;
        Page = page;
        _name = name;
    }

    public IPage Page { get; }

    /// <summary>Opens <c>{service}/lab{query}</c> and waits until the page has loaded the service's settings.</summary>
    public static async Task<LabPage> OpenAsync(BrowserFixture browser, Uri service, string name, ITestOutputHelper output, string query = "")
    {
        var context = await browser.Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1200, Height = 900 } }).WaitAsync(DefaultWait);
        var page = await context.NewPageAsync().WaitAsync(DefaultWait);
        var lab = new LabPage(context, page, name);
        PageLog.Attach(lab.Page, output, name);
        await page.GotoAsync(new Uri(service, "/lab" + query).ToString(), new PageGotoOptions { Timeout = Ms(DefaultWait) });
        await lab.WaitReadyAsync();
        return lab;
    }

    public async Task ReloadAsync()
    {
        await Page.ReloadAsync(new PageReloadOptions { Timeout = Ms(DefaultWait) });
        await WaitReadyAsync();
    }

    public Task FillAsync(string field, string value) =>
        Page.FillAsync("#" + field, value, new PageFillOptions { Timeout = Ms(DefaultWait) });

    public Task ClickAsync(string button) =>
        Page.ClickAsync("#" + button, new PageClickOptions { Timeout = Ms(DefaultWait) });

    /// <summary>Fills the code (and token) and clicks "Start session".</summary>
    public async Task StartSessionAsync(string code, string? token = null, string name = "Presenter")
    {
        await FillAsync("name", name);
        await FillAsync("code", code);
        await FillAsync("token", token ?? string.Empty);
        await ClickAsync("start");
    }

    /// <summary>Chooses the attendee role, fills the code and clicks "Join session".</summary>
    public async Task JoinSessionAsync(string code, string name)
    {
        await Page.CheckAsync("#role-attendee", new PageCheckOptions { Timeout = Ms(DefaultWait) });
        await FillAsync("name", name);
        await FillAsync("code", code);
        await ClickAsync("join");
    }

    public async Task<JsonElement> StateAsync()
    {
        var json = await Page.EvaluateAsync<string>("() => JSON.stringify(window.lab.state())").WaitAsync(DefaultWait);
        return JsonDocument.Parse(json).RootElement.Clone();
    }

    /// <summary>
    /// Waits until <paramref name="condition"/> (a JavaScript expression over <c>s</c>, the page's state) holds, then
    /// returns the state. On timeout the failure names what was awaited and shows the state.
    /// </summary>
    public async Task<JsonElement> WaitForAsync(string condition, string what)
    {
        try
        {
            await Page.WaitForFunctionAsync(
                $"() => {{ const s = window.lab.state(); return !!({condition}); }}",
                null,
                new PageWaitForFunctionOptions { Timeout = Ms(DefaultWait) });
        }
        catch (TimeoutException)
        {
            var state = await StateAsync();
            throw new TimeoutException($"[{_name}] {what}: `{condition}` did not hold within {DefaultWait.TotalSeconds} s; state: {state}");
        }

        return await StateAsync();
    }

    public async ValueTask DisposeAsync() => await _context.CloseAsync().WaitAsync(DefaultWait);

    private static float Ms(TimeSpan t) => (float)t.TotalMilliseconds;

    private async Task WaitReadyAsync() =>
        await Page.WaitForFunctionAsync(
            "() => document.body.dataset.ready === 'true' && typeof window.Peer === 'function'",
            null,
            new PageWaitForFunctionOptions { Timeout = Ms(DefaultWait) });
}
