using System.Net;
using System.Net.Security;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Pathfinder.Signaling.Configuration;

namespace Pathfinder.Signaling.Tests;

/// <summary>Item 6 (TLS): HTTPS/WSS straight from Kestrel with a configured certificate (self-signed, made here).</summary>
public sealed class TlsTests : IDisposable
{
    private const string PfxPassword = "test-only-pfx-password";

    private readonly string _dir = Directory.CreateTempSubdirectory("pathfinder-tls-").FullName;
    private readonly X509Certificate2 _certificate;

    public TlsTests()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));

        File.WriteAllText(CertPem, _certificate.ExportCertificatePem());
        File.WriteAllText(KeyPem, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllBytes(Pfx, _certificate.Export(X509ContentType.Pfx, PfxPassword));
    }

    private string CertPem => Path.Combine(_dir, "cert.pem");

    private string KeyPem => Path.Combine(_dir, "key.pem");

    private string Pfx => Path.Combine(_dir, "cert.pfx");

    public void Dispose()
    {
        _certificate.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    // Trust exactly the test's certificate.
    private bool IsOurs(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors) =>
        certificate is not null && certificate.GetCertHashString() == _certificate.GetCertHashString();

    private void TrustOurs(ClientWebSocketOptions options) => options.RemoteCertificateValidationCallback = IsOurs;

    private HttpClient TrustingHttp() => Hardening.Http(new SocketsHttpHandler
    {
        SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = IsOurs },
    });

    private async Task AssertServesWssAsync(Uri socketUri, Uri apiBase)
    {
        Assert.Equal("wss", socketUri.Scheme);
        await using var a = await PeerClient.ConnectAsync(socketUri, configure: TrustOurs);
        await using var b = await PeerClient.ConnectAsync(socketUri, configure: TrustOurs);
        await a.SendToAsync("OFFER", b.Id, """{"sdp":"over tls"}""");
        Assert.Equal($$$"""{"type":"OFFER","src":"{{{a.Id}}}","dst":"{{{b.Id}}}","payload":{"sdp":"over tls"}}""", await b.ReceiveAsync());

        using var http = TrustingHttp();
        using var info = await http.GetAsync(apiBase);
        Assert.Equal(HttpStatusCode.OK, info.StatusCode);
    }

    [Fact]
    public async Task A_wss_client_connects_with_a_pem_certificate_and_key()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["urls"] = "https://127.0.0.1:0",
            ["TLS_CERT_PATH"] = CertPem,
            ["TLS_KEY_PATH"] = KeyPem,
        });
        await AssertServesWssAsync(host.SocketUri, host.ApiBase);
    }

    [Fact]
    public async Task A_wss_client_connects_with_a_pfx_and_its_password()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["urls"] = "https://127.0.0.1:0",
            ["Signaling:TlsCertificatePath"] = Pfx,
            ["TLS_CERT_PASSWORD"] = PfxPassword,
        });
        await AssertServesWssAsync(host.SocketUri, host.ApiBase);
    }

    [Fact]
    public async Task A_certificate_that_cannot_be_loaded_stops_the_service_with_one_line()
    {
        var ex = await Assert.ThrowsAsync<SignalingConfigurationException>(() => SignalingTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["TLS_CERT_PATH"] = Pfx,
            ["TLS_CERT_PASSWORD"] = "wrong-password",
        }));
        Assert.StartsWith($"TLS_CERT_PATH '{Pfx}' could not be loaded as a certificate with its private key: ", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-password", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public async Task The_real_service_with_a_certificate_listens_with_https_on_its_port_and_serves_wss()
    {
        await using var service = await ServiceProcess.StartOnPeerJsPortAsync(new Dictionary<string, string?>
        {
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["TLS_CERT_PATH"] = CertPem,
            ["TLS_KEY_PATH"] = KeyPem,
        });
        var port = service.Port;
        await service.WaitForStdoutAsync(line => line.Contains($"URL:    https://localhost:{port}/pathfinder", StringComparison.Ordinal));
        await AssertServesWssAsync(new Uri($"wss://127.0.0.1:{port}/pathfinder/peerjs"), new Uri($"https://127.0.0.1:{port}/pathfinder"));
    }
}
