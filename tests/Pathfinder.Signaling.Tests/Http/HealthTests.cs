using System.Net;

namespace Pathfinder.Signaling.Tests;

/// <summary>Item 7: /health and /alive in every environment, cheap, unauthenticated, revealing no secrets.</summary>
public sealed class HealthTests
{
    public static TheoryData<string> Environments() => ["Development", "Production"];

    [Theory]
    [MemberData(nameof(Environments))]
    public async Task Health_and_alive_answer_healthy_without_authentication_and_reveal_nothing(string environment)
    {
        await using var host = await SignalingTestHost.StartAsync(
            new Dictionary<string, string?>
            {
                ["PEERJS_KEY"] = Hardening.StrongKey,
                ["CORS_ORIGINS"] = "https://grafana.example.com",
                ["TLS_CERT_PASSWORD"] = "never-shown",
            },
            environment: environment);

        foreach (var path in new[] { "/health", "/alive" })
        {
            using var response = await Hardening.GetAsync(host, path, origin: "https://evil.example.org");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var body = await response.Content.ReadAsStringAsync();
            Assert.Equal("Healthy", body);
            Assert.DoesNotContain(Hardening.StrongKey, body, StringComparison.Ordinal);
            Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
        }
    }
}
