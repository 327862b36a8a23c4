using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;

namespace Pathfinder.Browser.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    public const string Name = "Browser";
}

/// <summary>
/// One headless Chromium (the system one, driven by Playwright .NET with the driver shipped in its NuGet package)
/// and one small Kestrel app that serves the test page and the peerjs bundle. The page app listens on its own
/// loopback port, so to the page the signaling service is cross-origin: CORS on the API is exercised for real.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private WebApplication? _pageServer;
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public IBrowser Browser => _browser ?? throw new InvalidOperationException("The browser did not start.");

    /// <summary>http://127.0.0.1:{page port}/</summary>
    public Uri PageUrl { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        TestEnvironment.EnsureIsolatedNetwork();
        var bundle = TestEnvironment.LocatePeerJsBundle();
        var chromium = TestEnvironment.LocateChromium();

        _pageServer = BuildPageServer(bundle);
        await _pageServer.StartAsync().WaitAsync(StartTimeout);
        var port = new Uri(_pageServer.Urls.First()).Port;
        PageUrl = new Uri($"http://127.0.0.1:{port}/");

        _playwright = await Playwright.CreateAsync().WaitAsync(StartTimeout);
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromium,
            Headless = true,
            Timeout = (float)StartTimeout.TotalMilliseconds,
            Args =
            [
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                // Inside the namespace: let ICE use loopback and the private veth, with plain host candidates.
                "--allow-loopback-in-peer-connection",
                "--disable-features=WebRtcHideLocalIpsWithMdns",
            ],
        });
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            var browser = _browser;
            await Teardown.BoundedAsync(() => browser.CloseAsync(), StartTimeout);
        }

        _playwright?.Dispose();
        if (_pageServer is not null)
        {
            await _pageServer.StopAsync().WaitAsync(StartTimeout);
            await Teardown.BoundedAsync(_pageServer.DisposeAsync, StartTimeout);
        }
    }

    private static WebApplication BuildPageServer(string bundle)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            EnvironmentName = "Development",
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["urls"] = "http://127.0.0.1:0" });
        builder.Logging.ClearProviders();

        var app = builder.Build();
        var pageDirectory = Path.Combine(AppContext.BaseDirectory, "page");
        app.MapGet("/", () => Results.File(Path.Combine(pageDirectory, "index.html"), "text/html; charset=utf-8"));
        app.MapGet("/harness.js", () => Results.File(Path.Combine(pageDirectory, "harness.js"), "text/javascript; charset=utf-8"));
        app.MapGet("/peerjs.min.js", () => Results.File(bundle, "text/javascript; charset=utf-8"));
        app.MapGet("/favicon.ico", () => Results.NoContent());
        return app;
    }
}
