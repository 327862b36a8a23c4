namespace Pathfinder.AppHost.Tests;

/// <summary>The AppHost's model built with the given arguments but never started (no container runtime needed).</summary>
public sealed class AppModel : IAsyncDisposable
{
    private readonly IDistributedApplicationTestingBuilder _builder;

    private AppModel(IDistributedApplicationTestingBuilder builder, DistributedApplication app)
    {
        _builder = builder;
        App = app;
        Model = app.Services.GetRequiredService<DistributedApplicationModel>();
    }

    public DistributedApplication App { get; }

    public DistributedApplicationModel Model { get; }

    public static async Task<AppModel> BuildAsync(params string[] args)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Pathfinder_AppHost>(args, cts.Token);
        try
        {
            return new AppModel(builder, await builder.BuildAsync(cts.Token));
        }
        catch
        {
            await builder.DisposeAsync();
            throw;
        }
    }

    public IResource this[string name] => Model.Resources.Single(r => r.Name == name);

    public T Get<T>(string name) where T : IResource => Assert.IsAssignableFrom<T>(this[name]);

    public bool Has(string name) => Model.Resources.Any(r => r.Name == name);

    public IReadOnlyList<string> Notes =>
        App.Services.GetRequiredService<Pathfinder.GrafanaDev.StartupNotes>().Notes.Select(n => n.Message).ToList();

    /// <summary>The environment the resource's callbacks produce (values not resolved: strings stay strings).</summary>
    public async Task<Dictionary<string, object>> EnvironmentOfAsync(IResource resource)
    {
        var values = new Dictionary<string, object>(StringComparer.Ordinal);
        var context = new EnvironmentCallbackContext(App.Services.GetRequiredService<DistributedApplicationExecutionContext>(), resource, values, CancellationToken.None);
        foreach (var callback in resource.Annotations.OfType<EnvironmentCallbackAnnotation>())
        {
            await callback.Callback(context);
        }

        return values;
    }

    /// <summary>The arguments the resource's callbacks produce (endpoint references stay references).</summary>
    public static async Task<List<object>> ArgumentsOfAsync(IResource resource)
    {
        var values = new List<object>();
        var context = new CommandLineArgsCallbackContext(values, resource, CancellationToken.None);
        foreach (var callback in resource.Annotations.OfType<CommandLineArgsCallbackAnnotation>())
        {
            await callback.Callback(context);
        }

        return values;
    }

    public static IReadOnlyList<(string Resource, WaitType Type)> WaitsOf(IResource resource) =>
        resource.Annotations.OfType<WaitAnnotation>().Select(w => (w.Resource.Name, w.WaitType)).ToList();

    public static IReadOnlyDictionary<string, ContainerMountAnnotation> MountsOf(IResource resource) =>
        resource.Annotations.OfType<ContainerMountAnnotation>().ToDictionary(m => m.Target, StringComparer.Ordinal);

    // The builder too: an undisposed testing builder keeps hooking the next AppHost built in this process.
    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        await _builder.DisposeAsync();
    }
}
