using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Pathfinder.AppHost;

/// <summary>
/// Healthy when the Redis at host:port answers an inline <c>PING</c> with <c>+PONG</c>. A plain socket keeps the
/// AppHost independent of the StackExchange.Redis version the service uses.
/// </summary>
public sealed class RedisPingHealthCheck(Func<string?> connectionString) : IHealthCheck
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var target = connectionString();
        if (string.IsNullOrEmpty(target))
        {
            return HealthCheckResult.Unhealthy("the Redis endpoint is not allocated yet");
        }

        var separator = target.LastIndexOf(':');
        if (separator <= 0 || !int.TryParse(target.AsSpan(separator + 1), out var port))
        {
            return HealthCheckResult.Unhealthy($"'{target}' is not host:port");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(target[..separator], port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), timeout.Token);
            var buffer = new byte[64];
            var read = 0;
            while (read < 7)
            {
                var n = await stream.ReadAsync(buffer.AsMemory(read), timeout.Token);
                if (n == 0)
                {
                    break;
                }

                read += n;
            }

            var reply = Encoding.ASCII.GetString(buffer, 0, read);
            return reply.StartsWith("+PONG", StringComparison.Ordinal)
                ? HealthCheckResult.Healthy()
                : HealthCheckResult.Unhealthy($"PING answered '{reply.TrimEnd()}'");
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy($"no PONG from {target}: {ex.Message}");
        }
    }
}
