using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Pathfinder.Signaling.Tests;

/// <summary>Shared bits of the production-hardening tests.</summary>
internal static class Hardening
{
    /// <summary>A strong key as <c>--generate-key</c> prints one (tests only).</summary>
    public const string StrongKey = "9f2c4e7a1b3d5f60718293a4b5c6d7e8f9a0b1c2d3e4f5061728394a5b6c7d8e";

    public const string ProbePath = "/__probe";

    public static HttpClient Http(HttpMessageHandler? handler = null) =>
        new(handler ?? new SocketsHttpHandler()) { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>
    /// Adds, after the service's own pipeline, an endpoint at <see cref="ProbePath"/> that answers
    /// "{scheme} {client ip}" as the service sees them once forwarded headers were (or were not) applied.
    /// </summary>
    public static void AddClientProbe(IServiceCollection services) => services.AddSingleton<IStartupFilter, ProbeFilter>();

    /// <summary>GET the probe, optionally with forwarded headers; returns (scheme, client ip).</summary>
    public static async Task<(string Scheme, string ClientIp)> ProbeAsync(
        SignalingTestHost host, string? forwardedFor = null, string? forwardedProto = null)
    {
        using var http = Http();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(host.HttpBase, ProbePath));
        if (forwardedFor is not null)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
        }

        if (forwardedProto is not null)
        {
            request.Headers.Add("X-Forwarded-Proto", forwardedProto);
        }

        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        var parts = (await response.Content.ReadAsStringAsync()).Split(' ');
        return (parts[0], parts[1]);
    }

    /// <summary>GET a path under the host, with optional Origin and X-Forwarded-For.</summary>
    public static async Task<HttpResponseMessage> GetAsync(SignalingTestHost host, string path, string? origin = null, string? forwardedFor = null)
    {
        using var http = Http();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(host.HttpBase, path));
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        if (forwardedFor is not null)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
        }

        var response = await http.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    /// <summary>
    /// Tries a WebSocket upgrade that the server is expected to refuse before the upgrade; returns the HTTP status
    /// and response headers it answered with.
    /// </summary>
    public static async Task<(HttpStatusCode Status, IReadOnlyDictionary<string, IEnumerable<string>> Headers)> RefusedUpgradeAsync(
        Uri socketUri, string key, Action<ClientWebSocketOptions>? configure = null)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        configure?.Invoke(socket.Options);
        using var cts = new CancellationTokenSource(PeerClient.DefaultTimeout);
        var uri = PeerClient.BuildUri(socketUri, key, PeerClient.NewId(), "tok");
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(uri, cts.Token));
        return (socket.HttpStatusCode, socket.HttpResponseHeaders ?? new Dictionary<string, IEnumerable<string>>());
    }

    public static Action<ClientWebSocketOptions> Header(string name, string value) =>
        options => options.SetRequestHeader(name, value);

    private sealed class ProbeFilter : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            next(app);
            app.Use(async (context, nextMiddleware) =>
            {
                if (context.Request.Path == ProbePath)
                {
                    await context.Response.WriteAsync($"{context.Request.Scheme} {context.Connection.RemoteIpAddress}");
                    return;
                }

                await nextMiddleware(context);
            });
        };
    }
}
