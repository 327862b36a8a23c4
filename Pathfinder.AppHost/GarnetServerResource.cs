namespace Pathfinder.AppHost;

/// <summary>
/// A local Garnet process (Microsoft's RESP server, the zero-install fallback): its connection string is the
/// endpoint's host:port like redis-server's, so consumers keep <c>WithReference(redis)</c> and
/// <c>AddRedisClient("redis")</c>.
/// </summary>
public sealed class GarnetServerResource(string name, GarnetLaunch launch)
    : ExecutableResource(name, launch.Command, launch.WorkingDirectory), IResourceWithConnectionString
{
    public const string PrimaryEndpointName = "tcp";

    private EndpointReference? _primaryEndpoint;

    /// <summary>How the process is started.</summary>
    public GarnetLaunch Launch { get; } = launch;

    /// <summary>The endpoint clients use (Aspire's proxy in front of the process's own port).</summary>
    public EndpointReference PrimaryEndpoint => _primaryEndpoint ??= new(this, PrimaryEndpointName);

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{PrimaryEndpoint.Property(EndpointProperty.HostAndPort)}");
}
