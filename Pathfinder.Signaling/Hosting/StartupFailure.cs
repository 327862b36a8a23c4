using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Connections;

namespace Pathfinder.Signaling.Hosting;

/// <summary>Start-up failures that deserve one clear line instead of a stack trace.</summary>
public static partial class StartupFailure
{
    /// <summary>
    /// Throws <see cref="Configuration.SignalingConfigurationException"/> with the one line when a port the service is
    /// about to listen on is taken — before the host starts, which would log the bind failure with a stack trace.
    /// <paramref name="urls"/> are Kestrel URLs (<c>http://+:9000;https://127.0.0.1:9443</c>); port 0 is not checked.
    /// </summary>
    public static void ThrowIfPortInUse(string urls)
    {
        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var probe = url.Replace("://+", "://0.0.0.0", StringComparison.Ordinal).Replace("://*", "://0.0.0.0", StringComparison.Ordinal);
            if (!Uri.TryCreate(probe, UriKind.Absolute, out var uri) || uri.Port <= 0)
            {
                continue;
            }

            var address = uri.IsLoopback ? IPAddress.Loopback
                : IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && !ip.Equals(IPAddress.Any) && !ip.Equals(IPAddress.IPv6Any) ? ip
                : null; // any address
            ThrowIfPortInUse(address, uri.Port);
        }
    }

    private static void ThrowIfPortInUse(IPAddress? address, int port)
    {
        try
        {
            using var probe = address is null
                ? new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true }
                : new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(address ?? IPAddress.IPv6Any, port));
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new Configuration.SignalingConfigurationException(PortInUse(port.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        catch (SocketException)
        {
            // E.g. no IPv6 here or an address of another machine: Kestrel decides, and a conflict ends in Describe.
        }
    }

    /// <summary>The line for a port that is already taken, or null when <paramref name="exception"/> is something else.</summary>
    public static string? Describe(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is AddressInUseException || e is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse })
            {
                return PortInUse(PortOf(exception));
            }
        }

        return null;
    }

    private static string PortInUse(string? port)
    {
        var which = port is null ? "`ss -ltnp` shows which" : $"`ss -ltnp 'sport = :{port}'` shows which";
        return $"{(port is null ? "the port" : "port " + port)} is already in use — another process is listening on it; stop it ({which}) or choose another port with PEERJS_PORT";
    }

    // Kestrel: "Failed to bind to address http://[::]:9000: address already in use."
    private static string? PortOf(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            var match = BoundAddress().Match(e.Message);
            if (match.Success)
            {
                return match.Groups["port"].Value;
            }
        }

        return null;
    }

    [GeneratedRegex(@":(?<port>\d{1,5}):? address already in use", RegexOptions.IgnoreCase)]
    private static partial Regex BoundAddress();
}
