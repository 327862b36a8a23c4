using Pathfinder.Signaling;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Telemetry;

try
{
    var builder = WebApplication.CreateBuilder(args);
    builder.AddServiceDefaults(SignalingMetrics.MeterName);
    builder.AddSignaling();

    var app = builder.Build();
    app.MapDefaultEndpoints();
    app.MapPeerJs();
    app.Run();
    return 0;
}
catch (SignalingConfigurationException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}
