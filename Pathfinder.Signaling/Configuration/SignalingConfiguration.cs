using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace Pathfinder.Signaling.Configuration;

/// <summary>The validated settings and what was loaded from them (the TLS certificate).</summary>
public sealed record SignalingSettings(SignalingOptions Options, X509Certificate2? Certificate);

/// <summary>
/// Where the <see cref="SignalingOptions"/> come from: the <c>Signaling</c> section with the seed's environment
/// variables mapped onto it (<see cref="SeedEnvironmentVariables"/>, which win), bound by
/// <see cref="SignalingOptionsBinding"/> and checked by <see cref="SignalingOptionsValidator"/> — registered as options
/// with <c>ValidateOnStart</c>, and run once more before the host is built, because the port, the certificate and the
/// layers' sizes are needed to build it. Every problem becomes one line naming the setting as the operator wrote it
/// (the environment variable, or <c>Signaling:Name</c>), the value, and what is allowed; the key's value is never echoed.
/// </summary>
public static class SignalingConfiguration
{
    /// <summary>The environment variables understood besides <c>Signaling__Name</c>, with the setting each one sets.</summary>
    public static IReadOnlyList<EnvironmentAlias> EnvironmentAliases => SeedEnvironmentVariables.Aliases;

    /// <summary>
    /// Adds the seed's variables as a configuration source and registers the options (binding, validation, checked at
    /// start); returns them validated, with the certificate loaded. Throws <see cref="SignalingConfigurationException"/>
    /// with one line per problem.
    /// </summary>
    public static SignalingSettings AddSignalingSettings(this WebApplicationBuilder builder)
    {
        builder.Configuration.Sources.Add(new SeedEnvironmentVariables(builder.Configuration));
        builder.Services.AddSingleton<IConfigureOptions<SignalingOptions>, SignalingOptionsBinding>();
        builder.Services.AddSingleton<IValidateOptions<SignalingOptions>, SignalingOptionsValidator>();
        builder.Services.AddOptions<SignalingOptions>().ValidateOnStart();
        return Load(builder.Configuration, builder.Environment);
    }

    /// <summary>Binds and validates as the host will; throws <see cref="SignalingConfigurationException"/> with one line per problem.</summary>
    public static SignalingSettings Load(IConfiguration configuration, IHostEnvironment environment)
    {
        var factory = new OptionsFactory<SignalingOptions>(
            [new SignalingOptionsBinding(configuration)],
            [],
            [new SignalingOptionsValidator(configuration, environment)]);
        SignalingOptions options;
        try
        {
            options = factory.Create(Options.DefaultName);
        }
        catch (OptionsValidationException ex)
        {
            throw new SignalingConfigurationException(string.Join(Environment.NewLine, ex.Failures));
        }

        return new SignalingSettings(options, LoadCertificate(configuration, options));
    }

    /// <summary>
    /// The settings as the service would bind them (the seed's variables included), neither checked nor loaded: for
    /// commands that run without the service. A value that does not convert keeps its default; a name for a message is
    /// <see cref="SeedEnvironmentVariables.NameOf"/>.
    /// </summary>
    public static SignalingOptions Read(IConfiguration configuration)
    {
        var withVariables = new ConfigurationBuilder()
            .AddConfiguration(configuration)
            .Add(new SeedEnvironmentVariables(configuration))
            .Build();
        var options = new SignalingOptions();
        new SignalingOptionsBinding(withVariables).Configure(options);
        return options;
    }

    /// <summary>
    /// The token secret as the service would read it (<c>PEERJS_TOKEN_SECRET</c>, else <c>Signaling:TokenSecret</c>)
    /// and the name of the setting it came from, for commands that run without the service (mint-token).
    /// </summary>
    public static (string? Secret, string Setting) ReadTokenSecret(IConfiguration configuration) =>
        (Read(configuration).TokenSecret is { Length: > 0 } secret ? secret : null,
         SeedEnvironmentVariables.NameOf(configuration, nameof(SignalingOptions.TokenSecret)));

    /// <summary>The configured <c>Signaling:MaxIdLength</c> (its default when unset or out of range), for commands.</summary>
    public static int ReadMaxIdLength(IConfiguration configuration) =>
        Read(configuration).MaxIdLength is var n and >= 36 and <= 256 ? n : new SignalingOptions().MaxIdLength;

    /// <summary>Parses the known proxies into addresses and networks (valid once the validator accepted them).</summary>
    public static (IReadOnlyList<IPAddress> Addresses, IReadOnlyList<IPNetwork> Networks) ParseProxies(IEnumerable<string> entries)
    {
        var addresses = new List<IPAddress>();
        var networks = new List<IPNetwork>();
        foreach (var entry in entries)
        {
            if (IPAddress.TryParse(entry, out var address) && !entry.Contains('/'))
            {
                addresses.Add(address);
            }
            else if (IPNetwork.TryParse(entry, out var network))
            {
                networks.Add(network);
            }
            else
            {
                throw new FormatException($"'{entry}' is not an IP address or a network such as 10.0.0.0/8");
            }
        }

        return (addresses, networks);
    }

    // The files exist (the validator checked); whether they hold a certificate with its key shows only when loading.
    private static X509Certificate2? LoadCertificate(IConfiguration configuration, SignalingOptions options)
    {
        if (string.IsNullOrEmpty(options.TlsCertificatePath))
        {
            return null;
        }

        try
        {
            return TlsCertificate.Load(options.TlsCertificatePath, options.TlsKeyPath, options.TlsCertificatePassword);
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or ArgumentException or InvalidOperationException or IOException)
        {
            var name = SeedEnvironmentVariables.NameOf(configuration, nameof(options.TlsCertificatePath));
            throw new SignalingConfigurationException(
                $"{name} '{options.TlsCertificatePath}' could not be loaded as a certificate with its private key: {ex.Message.ReplaceLineEndings(" ")}");
        }
    }
}
