namespace Pathfinder.AppHost;

/// <summary>
/// A local <c>redis-server</c> process (no container): its connection string is the endpoint's host:port, like the
/// Redis container's without a password, so consumers keep <c>WithReference(redis)</c> and
/// <c>AddRedisClient("redis")</c>.
/// </summary>
public sealed class RedisServerResource(string name, string command, string workingDirectory)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public const string PrimaryEndpointName = "tcp";

    private EndpointReference? _primaryEndpoint;

    /// <summary>The endpoint clients use (Aspire's proxy in front of the process's own port).</summary>
    public EndpointReference PrimaryEndpoint => _primaryEndpoint ??= new(this, PrimaryEndpointName);

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{PrimaryEndpoint.Property(EndpointProperty.HostAndPort)}");
}
