using System.Security.Cryptography.X509Certificates;

namespace Pathfinder.Signaling.Configuration;

/// <summary>Loads the server certificate for HTTPS/WSS: a PEM certificate + PEM key, a PEM holding both, or a PKCS#12 (.pfx/.p12) file.</summary>
public static class TlsCertificate
{
    public static X509Certificate2 Load(string certificatePath, string? keyPath, string? password)
    {
        var extension = Path.GetExtension(certificatePath);
        X509Certificate2 certificate;
        if (extension.Equals(".pfx", StringComparison.OrdinalIgnoreCase) || extension.Equals(".p12", StringComparison.OrdinalIgnoreCase))
        {
            certificate = X509CertificateLoader.LoadPkcs12FromFile(certificatePath, password);
        }
        else if (string.IsNullOrEmpty(password))
        {
            certificate = X509Certificate2.CreateFromPemFile(certificatePath, string.IsNullOrEmpty(keyPath) ? null : keyPath);
        }
        else
        {
            certificate = X509Certificate2.CreateFromEncryptedPemFile(certificatePath, password, string.IsNullOrEmpty(keyPath) ? null : keyPath);
        }

        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new InvalidOperationException("the certificate has no private key");
        }

        return certificate;
    }
}
