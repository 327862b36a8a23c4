using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Tests;

/// <summary>
/// Issue 14 item 9: the key never leaves the service in telemetry, and only Development may run with a weak key.
/// The service exports OTLP/HTTP to a real receiver in the test; every exported byte is searched for the key.
/// </summary>
public sealed class SecretRedactionTests
{
    [Fact]
    public async Task The_key_and_tokens_never_appear_in_exported_traces_metrics_or_logs()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        var key = "k" + Guid.NewGuid().ToString("N") + "Z9";
        var token = "t" + Guid.NewGuid().ToString("N")[..20];
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["PEERJS_KEY"] = key,
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_SERVICE_NAME"] = "signaling-under-test",
            ["Logging:LogLevel:Default"] = "Information",
        });

        // The HTTP API carries the key in its path; a plain GET of the socket path carries it in the query. Raw
        // sockets, not HttpClient: this process's own client spans would be exported by the in-process service.
        Assert.Equal(200, (await RawGetAsync(host, $"{host.Path}/{key}/id")).Status);
        var id = PeerClient.NewId("redact");
        Assert.Equal(401, (await RawGetAsync(host, $"{host.Path}/{key}/peers")).Status);
        Assert.Equal(426, (await RawGetAsync(host, $"{host.Path}/peerjs?key={key}&id={id}&token={token}")).Status);
        await using (var peer = await PeerClient.ConnectAsync(host.SocketUri, key: key, token: token))
        {
            await peer.SendAsync("""{"type":"HEARTBEAT"}""");
        }

        foreach (var provider in new IDisposable?[]
        {
            host.Services.GetService<TracerProvider>(), host.Services.GetService<MeterProvider>(), host.Services.GetService<LoggerProvider>(),
        })
        {
            switch (provider)
            {
                case TracerProvider t: Assert.True(t.ForceFlush(10_000)); break;
                case MeterProvider m: Assert.True(m.ForceFlush(10_000)); break;
                case LoggerProvider l: Assert.True(l.ForceFlush(10_000)); break;
            }
        }

        // The export really happened and carries the API request's span, with the key replaced in its path.
        var traces = receiver.Bodies("/v1/traces");
        Assert.Contains(traces, body => Contains(body, $"{host.Path}/{{key}}/id"));
        Assert.NotEmpty(receiver.Bodies("/v1/metrics"));
        Assert.NotEmpty(receiver.Bodies("/v1/logs"));
        foreach (var (path, body) in receiver.All())
        {
            Assert.False(Contains(body, key), $"the key was exported in {path}: {Around(body, key)}");
            Assert.False(Contains(body, token), $"a peer token was exported in {path}");
        }
    }

    [Theory]
    [InlineData("/pathfinder/s3cret/id", "/pathfinder/{key}/id")]
    [InlineData("/pathfinder/s3cret/peers", "/pathfinder/{key}/peers")]
    [InlineData("/pathfinder/s3cret", "/pathfinder/{key}")]
    [InlineData("/pathfinder/peerjs", "/pathfinder/peerjs")]
    [InlineData("/pathfinder", "/pathfinder")]
    [InlineData("/health", "/health")]
    public void Url_paths_lose_the_key_segment(string path, string expected) =>
        Assert.Equal(expected, TraceRedaction.RedactPath(path, "/pathfinder"));

    [Fact]
    public void Url_queries_keep_only_names() =>
        Assert.Equal("?key={redacted}&id={redacted}&token={redacted}&flag={redacted}", TraceRedaction.RedactQuery("?key=abc&id=x&token=t&flag"));

    [Theory]
    [InlineData("Staging")]
    [InlineData("Production")]
    [InlineData("Testing")]
    public async Task Every_environment_but_Development_refuses_the_default_key(string environment)
    {
        var ex = await Assert.ThrowsAsync<SignalingConfigurationException>(
            () => SignalingTestHost.StartAsync(new Dictionary<string, string?> { ["Signaling:Key"] = "pathfinder" }, environment: environment));
        Assert.StartsWith("FATAL: PEERJS_KEY environment variable not set", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Development_still_starts_with_the_default_key()
    {
        await using var host = await SignalingTestHost.StartAsync(environment: "Development");
        await using var peer = await PeerClient.ConnectAsync(host.SocketUri);
        Assert.False(string.IsNullOrEmpty(peer.Id));
    }

    private static async Task<(int Status, string Body)> RawGetAsync(SignalingTestHost host, string pathAndQuery)
    {
        using var cts = new CancellationTokenSource(PeerClient.DefaultTimeout);
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(host.HttpBase.Host, host.HttpBase.Port, cts.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {pathAndQuery} HTTP/1.1\r\nHost: {host.HttpBase.Authority}\r\nConnection: close\r\n\r\n"), cts.Token);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var response = await reader.ReadToEndAsync(cts.Token);
        var status = int.Parse(response.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture);
        var body = response[(response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
        return (status, body);
    }

    private static string Around(byte[] body, string text)
    {
        var at = body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text));
        var from = Math.Max(0, at - 300);
        return at < 0 ? string.Empty : new string(Encoding.ASCII.GetString(body, from, Math.Min(body.Length - from, 400)).Select(c => char.IsControl(c) ? '.' : c).ToArray());
    }

    private static bool Contains(byte[] body, string text) =>
        body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;

    /// <summary>A minimal OTLP/HTTP receiver: keeps every request body by path, answers 200.</summary>
    private sealed class OtlpReceiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<(string Path, byte[] Body)> _bodies = new();

        private OtlpReceiver(WebApplication app) => _app = app;

        public string Endpoint => _app.Urls.First();

        public static async Task<OtlpReceiver> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            var app = builder.Build();
            var receiver = new OtlpReceiver(app);
            app.MapPost("/v1/{signal}", async (HttpContext context) =>
            {
                using var buffer = new MemoryStream();
                await context.Request.Body.CopyToAsync(buffer);
                receiver._bodies.Enqueue((context.Request.Path.Value!, buffer.ToArray()));
                context.Response.ContentType = "application/x-protobuf";
            });
            await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
            return receiver;
        }

        public List<byte[]> Bodies(string path) => _bodies.Where(b => b.Path == path).Select(b => b.Body).ToList();

        public List<(string Path, byte[] Body)> All() => _bodies.ToList();

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
            await Teardown.BoundedAsync(_app.DisposeAsync);
        }
    }
}
