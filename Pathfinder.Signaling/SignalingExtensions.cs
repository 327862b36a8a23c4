using Microsoft.Extensions.Options;
using Pathfinder.Signaling.Cluster;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Hosting;
using Pathfinder.Signaling.Http;
using Pathfinder.Signaling.Protocol;
using Pathfinder.Signaling.Routing;
using Pathfinder.Signaling.Telemetry;
using Pathfinder.Signaling.Transport;

namespace Pathfinder.Signaling;

/// <summary>The wiring of the signaling service: services (<see cref="AddSignaling"/>) and endpoints (<see cref="MapPeerJs"/>).</summary>
public static class SignalingExtensions
{
    /// <summary>
    /// Reads and validates the <c>Signaling</c> settings and the seed's environment variables (with the production
    /// guard), listens on <c>Signaling:Port</c> (HTTPS when a certificate is configured) unless the host was given
    /// URLs, and registers the layers: transport, routing (in-memory by default), HTTP API and telemetry.
    /// Throws <see cref="SignalingConfigurationException"/> with one clear line per bad setting.
    /// </summary>
    public static WebApplicationBuilder AddSignaling(this WebApplicationBuilder builder)
    {
        var loaded = builder.AddSignalingSettings();
        var settings = loaded.Options;
        if (settings.Lab == true && !Lab.LabAssets.Built)
        {
            throw new SignalingConfigurationException(
                $"{SeedEnvironmentVariables.NameOf(builder.Configuration, nameof(settings.Lab))} is on, but this build has no session lab (it was built without npm, or with -p:PathfinderLab=false: install Node.js and npm and build again)");
        }

        builder.ConfigureListening(loaded).ConfigureLogFormat().UseSignalingSockets(settings);

        var services = builder.Services;
        services.AddSingleton<AccessKey>();
        services.AddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.AddSingleton<SignalingMetrics>();

        var cluster = ClusterOptionsValidator.Load(builder.Configuration);
        services.AddSingleton(Microsoft.Extensions.Options.Options.Create(cluster));
        services.AddSingleton(new ReplicaIdentity(cluster.ReplicaId));
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

        services.AddSingleton(new TransportSettings(settings.MaxMessageBytes, settings.SendQueueCapacity, settings.SendQueueBytes, TimeSpan.FromSeconds(5)));
        services.AddSingleton(new PeerIdRules(settings.MaxIdLength));
        if (settings.SignedTokensOn)
        {
            services.AddSingleton(new SignedTokens(settings.TokenSecret!));
        }

        services.AddSingleton(ClientGrouping.From(settings));
        services.AddSingleton(new ClientSocketLimiter(settings.MaxConnectionsPerIp, settings.MaxClientPartitions));
        services.AddSingleton<UpgradePolicy>();
        services.AddSingleton<PeerJsSocketEndpoint>();
        services.AddPeerJsHttp(settings, builder.Environment);
        builder.AddPrometheusScraping();
        services.AddTraceRedaction(settings.NormalizedPath);
        return builder;
    }

    /// <summary>
    /// Maps the PeerJS HTTP API at <c>{path}</c> and the WebSocket at <c>{path}/peerjs</c>, behind trusted forwarded
    /// headers, CORS and the per-IP rate limit (<see cref="HttpPipeline"/>).
    /// </summary>
    public static WebApplication MapPeerJs(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<SignalingOptions>>().Value;
        var path = options.NormalizedPath;
        var socketPath = new PathString(path + "/peerjs");

        app.UsePeerJsHttp(options);

        var socketEndpoint = app.Services.GetRequiredService<PeerJsSocketEndpoint>();
        app.Map(socketPath.Value!, socketEndpoint.HandleAsync);
        app.MapPeerJsHttpApi(path);
        app.MapPrometheusScraping();
        return app;
    }
}
