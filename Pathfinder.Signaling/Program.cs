using Pathfinder.Signaling;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Hosting;
using Pathfinder.Signaling.Lab;
using Pathfinder.Signaling.Telemetry;
using Pathfinder.Signaling.Transport;

SocketEngine.PreferInlineCompletions(); // before the first socket exists

if (Commands.TryRun(args, Console.Out, Console.Error) is { } exitCode)
{
    return exitCode; // e.g. --generate-key, mint-token
}

try
{
    // Settings files are found next to the binary whatever the working directory (systemd, scripts, containers).
    var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
    builder.AddServiceDefaults(SignalingMetrics.MeterName);
    builder.AddSignaling();

    var app = builder.Build();
    app.MapDefaultEndpoints();
    app.MapPeerJs();
    app.MapLab(); // the session lab at /lab: on in Development, Signaling:Lab elsewhere
    app.ShowStartupBanner();
    app.Run();
    return 0;
}
catch (SignalingConfigurationException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}
catch (Exception ex) when (StartupFailure.Describe(ex) is { } line)
{
    Console.Error.WriteLine(line);
    return 3;
}
