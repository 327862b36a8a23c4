using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Pathfinder.GrafanaDev;

/// <summary>
/// Lines for the AppHost console about what this run starts and how to get more (a container runtime, redis-server,
/// a plugin checkout). Collected while the model is built and logged once, just before the resources start.
/// </summary>
public sealed class StartupNotes
{
    private readonly List<(LogLevel Level, string Message)> _notes = [];

    /// <summary>Every note so far, in order.</summary>
    public IReadOnlyList<(LogLevel Level, string Message)> Notes => _notes;

    /// <summary>The notes of one builder (created and hooked into its start on first use).</summary>
    public static StartupNotes For(IDistributedApplicationBuilder builder)
    {
        var existing = builder.Services.FirstOrDefault(d => d.ServiceType == typeof(StartupNotes))?.ImplementationInstance;
        if (existing is StartupNotes notes)
        {
            return notes;
        }

        notes = new StartupNotes();
        builder.Services.AddSingleton(notes);
        builder.Eventing.Subscribe<BeforeStartEvent>((@event, _) =>
        {
            var logger = @event.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Pathfinder.AppHost");
            foreach (var (level, message) in notes._notes)
            {
#pragma warning disable CA2254 // The notes are complete sentences written for this console.
                logger.Log(level, message);
#pragma warning restore CA2254
            }

            return Task.CompletedTask;
        });
        return notes;
    }

    public void Info(string message) => _notes.Add((LogLevel.Information, message));

    public void Warn(string message) => _notes.Add((LogLevel.Warning, message));
}
