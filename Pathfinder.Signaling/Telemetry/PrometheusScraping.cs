using OpenTelemetry.Metrics;

namespace Pathfinder.Signaling.Telemetry;

/// <summary>
/// An opt-in Prometheus scrape endpoint for deployments without Aspire or an OTLP collector
/// (<c>Signaling:Telemetry:PrometheusEndpoint</c> = e.g. <c>/metrics</c>; env <c>PROMETHEUS_ENDPOINT</c>). Off by
/// default: with Aspire, metrics leave through the service defaults' OTLP exporter.
/// </summary>
public static class PrometheusScraping
{
    public const string SettingName = "Signaling:Telemetry:PrometheusEndpoint";
    public const string EnvironmentVariable = "PROMETHEUS_ENDPOINT";

    public static string? EndpointPath(IConfiguration configuration)
    {
        var path = configuration[EnvironmentVariable];
        if (string.IsNullOrWhiteSpace(path))
        {
            path = configuration[SettingName];
        }

        return string.IsNullOrWhiteSpace(path) ? null : "/" + path.Trim().Trim('/');
    }

    public static WebApplicationBuilder AddPrometheusScraping(this WebApplicationBuilder builder)
    {
        if (EndpointPath(builder.Configuration) is not null)
        {
            builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
                .AddMeter(SignalingMetrics.MeterName)
                .AddPrometheusExporter());
        }

        return builder;
    }

    public static WebApplication MapPrometheusScraping(this WebApplication app)
    {
        if (EndpointPath(app.Configuration) is { } path)
        {
            app.MapPrometheusScrapingEndpoint(path);
        }

        return app;
    }
}
