using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Pathfinder.Signaling.Testing;

/// <summary>
/// Ports without a free-port-then-bind race. A child that can bind port 0 does so and reports its port (see
/// <see cref="ServiceProcess.StartListeningAsync"/>); a child that must be told a port (PEERJS_PORT under test,
/// redis-server, the management script) gets a <see cref="Candidate"/> and, when it reports the port taken, another
/// one (<see cref="StartWithRetryAsync{T}"/>); a port that must stay closed is <see cref="Reserve">held</see> by the
/// test.
/// </summary>
public static class Ports
{
    /// <summary>How many candidate ports a start tries before it gives up.</summary>
    public const int Attempts = 8;

    private const int Lowest = 20000;

    // The OS hands out ports from its ephemeral range for port-0 binds and outgoing connections; candidates come from
    // below it, so they only ever collide with another test's candidate (and then the child says so and we retry).
    private static readonly int Highest = EphemeralLow() - 1;

    /// <summary>A random port below the OS's ephemeral range, for a child that binds it itself (and may find it taken).</summary>
    public static int Candidate() => Random.Shared.Next(Lowest, Highest + 1);

    /// <summary>
    /// Starts something on a <see cref="Candidate"/> port: <paramref name="start"/> returns null when the child
    /// reported the port taken (having cleaned up after itself), and is tried again on another port, up to
    /// <see cref="Attempts"/> times.
    /// </summary>
    public static async Task<T> StartWithRetryAsync<T>(Func<int, Task<T?>> start)
        where T : class
    {
        var tried = new List<int>();
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            var port = Candidate();
            tried.Add(port);
            if (await start(port) is { } started)
            {
                return started;
            }
        }

        throw new InvalidOperationException($"every candidate port was taken: {string.Join(", ", tried)}");
    }

    /// <summary>
    /// A loopback port held by the test: bound, never listening, so a connection to it is refused at once, and neither
    /// the OS nor another test hands it out until the reservation is disposed (e.g. "Redis absent" at a known address).
    /// </summary>
    public static Reservation Reserve()
    {
        // From the OS's ephemeral range (port 0): candidates never come from there, and the OS hands a port that a
        // socket holds to no other port-0 bind or outgoing connection. (A server that sets SO_REUSEADDR could still
        // bind it explicitly; only a test that was given this port does.)
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return new Reservation(socket);
    }

    /// <summary>Whether nothing listens on the port (any address) right now: for asserting a child let go of it.</summary>
    public static bool IsFree(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
            socket.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int EphemeralLow()
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            var low = int.Parse(range[0], CultureInfo.InvariantCulture);
            return low > Lowest + 1000 ? low : 32768;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 32768;
        }
    }

    /// <summary>A port the test holds closed; disposing lets it go.</summary>
    public sealed class Reservation(Socket socket) : IDisposable
    {
        public int Port { get; } = ((IPEndPoint)socket.LocalEndPoint!).Port;

        /// <summary>The port as a Redis connection string (nothing answers there while it is held).</summary>
        public string Address => $"127.0.0.1:{Port}";

        public void Dispose() => socket.Dispose();
    }
}
