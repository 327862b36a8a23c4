using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Connections;

namespace Pathfinder.Signaling.Hosting;

/// <summary>Start-up failures that deserve one clear line instead of a stack trace.</summary>
public static partial class StartupFailure
{
    /// <summary>
    /// Throws <see cref="Configuration.SignalingConfigurationException"/> with the one line when <paramref name="port"/>
    /// (to be bound on all interfaces) is taken, before the host starts and would log the bind failure with a stack trace.
    /// </summary>
    public static void ThrowIfPortInUse(int port)
    {
        try
        {
            using var probe = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
            probe.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new Configuration.SignalingConfigurationException(PortInUse(port.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        catch (SocketException)
        {
            // No IPv6 here: Kestrel falls back to IPv4 and reports a conflict itself (Describe).
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
