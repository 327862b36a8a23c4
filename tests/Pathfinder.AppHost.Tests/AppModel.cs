namespace Pathfinder.AppHost.Tests;

/// <summary>
/// The AppHost's model as its Program builds it with the given arguments, inspected before Build(): nothing is
/// started (BuildAsync would let the AppHost's own Run() start every resource), so no container runtime is needed.
/// </summary>
public sealed class AppModel : IAsyncDisposable
{
    private readonly IDistributedApplicationTestingBuilder _builder;

    private AppModel(IDistributedApplicationTestingBuilder builder) => _builder = builder;

    public static async Task<AppModel> BuildAsync(params string[] args)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        return new AppModel(await DistributedApplicationTestingBuilder.CreateAsync<Projects.Pathfinder_AppHost>(args, cts.Token));
    }

    public IResourceCollection Resources => _builder.Resources;

    public IResource this[string name] => Resources.Single(r => r.Name == name);

    public T Get<T>(string name) where T : IResource => Assert.IsAssignableFrom<T>(this[name]);

    public bool Has(string name) => Resources.Any(r => r.Name == name);

    /// <summary>The console notes the AppHost collected while building its model.</summary>
    public IReadOnlyList<string> Notes =>
        _builder.Services.Select(d => d.ImplementationInstance).OfType<Pathfinder.GrafanaDev.StartupNotes>().Single()
            .Notes.Select(n => n.Message).ToList();

    /// <summary>The environment the resource's callbacks produce (for resources whose values are literals).</summary>
    public async Task<Dictionary<string, object>> EnvironmentOfAsync(IResource resource)
    {
        var values = new Dictionary<string, object>(StringComparer.Ordinal);
        var context = new EnvironmentCallbackContext(_builder.ExecutionContext, resource, values, CancellationToken.None);
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

    public static IEnumerable<string> ReferencesOf(IResource resource) =>
        resource.Annotations.OfType<ResourceRelationshipAnnotation>().Where(r => r.Type == "Reference").Select(r => r.Resource.Name);

    public async ValueTask DisposeAsync() => await Teardown.BoundedAsync(_builder.DisposeAsync);
}
