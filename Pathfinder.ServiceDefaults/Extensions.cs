using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Aspire service defaults: OpenTelemetry, health checks, service discovery and HTTP resilience,
/// in the shape of Aspire's starter template.
/// </summary>
public static class Extensions
{
    public const string HealthEndpointPath = "/health";
    public const string AlivenessEndpointPath = "/alive";
    public const string LiveTag = "live";

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder, params string[] telemetrySources)
        where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry(telemetrySources);
        builder.AddDefaultHealthChecks();
        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });
        return builder;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder, params string[] telemetrySources)
        where TBuilder : IHostApplicationBuilder
    {
        // Traces and log records are only worth their cost when something exports them: without an OTLP endpoint
        // no tracer or log provider is registered, so nothing samples activities on hot paths for nobody.
        var exporting = IsExporting(builder.Configuration);
        if (exporting)
        {
            builder.Logging.AddOpenTelemetry(logging =>
            {
                logging.IncludeFormattedMessage = true;
                logging.IncludeScopes = true;
            });
        }

        var otel = builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics =>
            {
                metrics.AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddRuntimeInstrumentation();
                foreach (var source in telemetrySources)
                {
                    metrics.AddMeter(source);
                }
            });

        if (exporting)
        {
            otel.WithTracing(tracing =>
            {
                tracing.AddSource(builder.Environment.ApplicationName)
                    .AddAspNetCoreInstrumentation(options =>
                        // Health probes are frequent and uninteresting; a WebSocket "request" lasts as long as
                        // its connection and is traced by the service's own handshake and relay activities.
                        options.Filter = context =>
                            !context.Request.Path.StartsWithSegments(HealthEndpointPath)
                            && !context.Request.Path.StartsWithSegments(AlivenessEndpointPath)
                            && !context.WebSockets.IsWebSocketRequest)
                    .AddHttpClientInstrumentation();
                foreach (var source in telemetrySources)
                {
                    tracing.AddSource(source);
                }
            });
        }

        builder.AddOpenTelemetryExporters();
        return builder;
    }

    private static bool IsExporting(Microsoft.Extensions.Configuration.IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);

    private static TBuilder AddOpenTelemetryExporters<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        if (IsExporting(builder.Configuration))
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }

        // Metrics also to a Prometheus OTLP receiver when one is given (the dev environment's Grafana dashboards).
        var prometheus = builder.Configuration["PROMETHEUS_OTLP_ENDPOINT"];
        if (!string.IsNullOrWhiteSpace(prometheus))
        {
            builder.Services.ConfigureOpenTelemetryMeterProvider(metrics => metrics.AddOtlpExporter("prometheus", otlp =>
            {
                otlp.Endpoint = new Uri(prometheus);
                otlp.Protocol = OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf;
            }));
        }

        return builder;
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);
        return builder;
    }

    /// <summary>
    /// Maps /health (readiness: every check) and /alive (liveness: checks tagged "live") in every environment.
    /// Both are cheap, unauthenticated and report only check names and statuses.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks(HealthEndpointPath);
        app.MapHealthChecks(AlivenessEndpointPath, new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains(LiveTag),
        });
        return app;
    }
}
