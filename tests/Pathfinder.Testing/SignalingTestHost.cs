using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Testing;

/// <summary>
/// The real signaling service (same wiring as Program.cs) on real Kestrel, bound to a free loopback port.
/// </summary>
public sealed class SignalingTestHost : IAsyncDisposable
{
    public const string DefaultKey = "pathfinder";
    public const string DefaultPath = "/pathfinder";

    private SignalingTestHost(WebApplication app, Uri httpBase, string path)
    {
        App = app;
        HttpBase = httpBase;
        Path = path;
    }

    public WebApplication App { get; }

    /// <summary>http://127.0.0.1:{port} (https:// when the host was given an https URL)</summary>
    public Uri HttpBase { get; }

    /// <summary>The configured PeerJS path without trailing slash.</summary>
    public string Path { get; }

    public IServiceProvider Services => App.Services;

    /// <summary>The API base, e.g. http://127.0.0.1:1234/pathfinder</summary>
    public Uri ApiBase => new(HttpBase, Path.Length == 0 ? "/" : Path);

    /// <summary>ws://127.0.0.1:{port}{path}/peerjs (wss:// over https)</summary>
    public Uri SocketUri => new($"{(HttpBase.Scheme == Uri.UriSchemeHttps ? "wss" : "ws")}://{HttpBase.Authority}{Path}/peerjs");

    public static async Task<SignalingTestHost> StartAsync(
        IDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? configureServices = null,
        Action<ILoggingBuilder>? configureLogging = null,
        string environment = "Development")
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            EnvironmentName = environment,
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });
        builder.Configuration.Sources.Clear();
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["urls"] = "http://127.0.0.1:0",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(values);
        builder.Logging.ClearProviders();
        configureLogging?.Invoke(builder.Logging);
        builder.AddServiceDefaults(SignalingMetrics.MeterName);
        builder.AddSignaling();
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapPeerJs();
        Lab.LabEndpoints.MapLab(app);
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));

        var address = new Uri(app.Urls.First());
        // As the service resolved it (Signaling:Path or PEERJS_PATH).
        var path = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Configuration.SignalingOptions>>().Value.NormalizedPath;
        return new SignalingTestHost(app, new Uri($"{address.Scheme}://127.0.0.1:{address.Port}"), path);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await App.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            await Teardown.BoundedAsync(App.DisposeAsync);
        }
    }
}
