using Microsoft.Extensions.Options;
using Pathfinder.Signaling.Cluster;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Http;
using Pathfinder.Signaling.Routing;
using Pathfinder.Signaling.Telemetry;
using Pathfinder.Signaling.Transport;

namespace Pathfinder.Signaling;

/// <summary>The wiring of the signaling service: services (<see cref="AddSignaling"/>) and endpoints (<see cref="MapPeerJs"/>).</summary>
public static class SignalingExtensions
{
    /// <summary>
    /// Binds and validates the <c>Signaling</c> settings, listens on <c>Signaling:Port</c> unless the host was
    /// given URLs, and registers the layers: transport, routing (in-memory by default), HTTP API and telemetry.
    /// Throws <see cref="SignalingConfigurationException"/> with one clear line for a bad setting.
    /// </summary>
    public static WebApplicationBuilder AddSignaling(this WebApplicationBuilder builder)
    {
        var settings = new SignalingOptions();
        builder.Configuration.GetSection(SignalingOptions.SectionName).Bind(settings);
        var errors = SignalingOptionsValidator.Validate(settings);
        if (errors.Count > 0)
        {
            throw new SignalingConfigurationException(string.Join(Environment.NewLine, errors));
        }

        if (!HasConfiguredUrls(builder.Configuration))
        {
            builder.WebHost.UseUrls($"http://+:{settings.Port}");
        }

        var services = builder.Services;
        services.AddSingleton(Options.Create(settings));
        services.AddSingleton<AccessKey>();
        services.AddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.AddSingleton<SignalingMetrics>();

        services.AddSingleton<LocalPeerTable>();
        if (builder.Configuration.HasCluster())
        {
            builder.AddSignalingCluster();
        }
        else
        {
            services.AddSingleton<IPeerDirectory, InMemoryPeerDirectory>();
        }

        services.AddSingleton<PeerRouter>();
        services.AddHostedService<SweepService>();

        services.AddSingleton(new TransportSettings(settings.MaxMessageBytes, settings.SendQueueCapacity, TimeSpan.FromSeconds(5)));
        services.AddSingleton<PeerJsSocketEndpoint>();
        services.AddCors(cors => cors.AddPolicy(PeerJsCors.PolicyName, PeerJsCors.Configure));
        return builder;
    }

    /// <summary>Maps the PeerJS HTTP API at <c>{path}</c> (with CORS) and the WebSocket at <c>{path}/peerjs</c>.</summary>
    public static WebApplication MapPeerJs(this WebApplication app)
    {
        var path = app.Services.GetRequiredService<IOptions<SignalingOptions>>().Value.NormalizedPath;
        var apiPath = new PathString(path.Length == 0 ? "/" : path);
        var socketPath = new PathString(path + "/peerjs");

        app.UseWhen(
            context => context.Request.Path.StartsWithSegments(apiPath) && !context.WebSockets.IsWebSocketRequest,
            branch => branch.UseCors(PeerJsCors.PolicyName));
        app.UseWebSockets();

        var socketEndpoint = app.Services.GetRequiredService<PeerJsSocketEndpoint>();
        app.Map(socketPath.Value!, socketEndpoint.HandleAsync);
        app.MapPeerJsHttpApi(path);
        return app;
    }

    private static bool HasConfiguredUrls(ConfigurationManager configuration) =>
        !string.IsNullOrEmpty(configuration["urls"])
        || !string.IsNullOrEmpty(configuration["http_ports"])
        || !string.IsNullOrEmpty(configuration["https_ports"])
        || configuration.GetSection("Kestrel:Endpoints").GetChildren().Any();
}
