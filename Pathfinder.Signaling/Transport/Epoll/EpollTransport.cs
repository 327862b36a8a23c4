using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace Pathfinder.Signaling.Transport.Epoll;

/// <summary>
/// Kestrel's transport for TCP endpoints on Linux: accepts with a .NET socket and hands each connection to one of a
/// few <see cref="EpollLoop"/> threads (one per two cores: the application runs on them, the other cores are left to
/// everything else). Other endpoint kinds (Unix sockets) stay with Kestrel's socket transport.
/// Turned off with <c>Signaling:EpollTransport=false</c>; unavailable (and then off) outside Linux x64/arm64.
/// </summary>
public sealed class EpollTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector, IDisposable
{
    public const string Setting = "Signaling:EpollTransport";

    private readonly Lock _gate = new();
    private readonly ILogger _logger;
    private readonly int _threads;
    private EpollLoop[]? _loops;

    public EpollTransportFactory(ILoggerFactory loggers)
    {
        _logger = loggers.CreateLogger("Pathfinder.Signaling.Transport.Epoll");
        _threads = Math.Max(1, Environment.ProcessorCount / 2);
    }

    /// <summary>True when this platform can run the transport (Linux x64/arm64, and the C library answers).</summary>
    public static bool IsSupported { get; } = Probe();

    private static bool Probe()
    {
        if (!EpollNative.IsSupported)
        {
            return false;
        }

        try
        {
            EpollNative.UseRuntimeLibc();
            var fd = EpollNative.epoll_create1(EpollNative.EpollCloexec);
            if (fd < 0)
            {
                return false;
            }

            EpollNative.close(fd);
            return true;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Connections currently on this transport's event threads.</summary>
    internal int Connections
    {
        get
        {
            lock (_gate)
            {
                return _loops?.Sum(loop => loop.Count) ?? 0;
            }
        }
    }

    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not IPEndPoint ip)
        {
            throw new NotSupportedException($"the epoll transport binds TCP endpoints only, not {endpoint}");
        }

        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (ip.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.Bind(ip);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            socket.Dispose();
            throw new AddressInUseException(ex.Message, ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        socket.Listen(512);
        return new ValueTask<IConnectionListener>(new EpollListener(socket, Loops(), _logger));
    }

    private EpollLoop[] Loops()
    {
        lock (_gate)
        {
            if (_loops is null)
            {
                _loops = new EpollLoop[_threads];
                for (var i = 0; i < _threads; i++)
                {
                    _loops[i] = new EpollLoop(i, _logger);
                }

                EpollLog.Started(_logger, _threads);
            }

            return _loops;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var loop in _loops ?? [])
            {
                loop.Dispose();
            }

            _loops = null;
        }
    }
}

/// <summary>
/// Accepts on a listening socket and spreads the connections over the running loops (the least loaded one). Accept
/// errors other than the listener being closed are logged and retried, after a pause when descriptors ran out.
/// </summary>
internal sealed class EpollListener(Socket socket, EpollLoop[] loops, ILogger logger) : IConnectionListener
{
    private volatile bool _unbound;

    public EndPoint EndPoint { get; } = socket.LocalEndPoint!;

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Socket accepted;
            try
            {
                accepted = await socket.AcceptAsync(cancellationToken);
            }
            catch (ObjectDisposedException)
            {
                return null; // unbound
            }
            catch (SocketException ex) when (_unbound || ex.SocketErrorCode is SocketError.OperationAborted or SocketError.Interrupted)
            {
                return null;
            }
            catch (SocketException ex)
            {
                if (ex.SocketErrorCode != SocketError.ConnectionReset)
                {
                    EpollLog.AcceptFailed(logger, ex.Message);
                }

                if (ex.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken);
                }

                continue;
            }

            try
            {
                accepted.NoDelay = true;
                accepted.Blocking = false;
                EpollLoop? loop = null;
                foreach (var candidate in loops)
                {
                    if (candidate.IsRunning && (loop is null || candidate.Count < loop.Count))
                    {
                        loop = candidate;
                    }
                }

                if (loop is null)
                {
                    accepted.Dispose();
                    throw new InvalidOperationException("every epoll event loop has stopped (see the log); set Signaling:EpollTransport=false");
                }

                var connection = new EpollConnection(accepted, loop, MemoryPool<byte>.Shared);
                connection.Start();
                return connection;
            }
            catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException)
            {
                accepted.Dispose(); // reset before we could register it: take the next one
            }
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        _unbound = true;
        socket.Dispose();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => UnbindAsync();
}

internal static partial class EpollLog
{
    [LoggerMessage(40, LogLevel.Information, "Epoll transport: {Threads} event thread(s)")]
    public static partial void Started(ILogger logger, int threads);

    [LoggerMessage(41, LogLevel.Critical, "Epoll event loop stopped: epoll_wait failed ({Error}); its connections were closed")]
    public static partial void LoopFailed(ILogger logger, string error);

    [LoggerMessage(42, LogLevel.Error, "Epoll event loop: a connection's handler failed; the connection was closed")]
    public static partial void HandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(43, LogLevel.Warning, "Epoll transport: accept failed ({Error}); retrying")]
    public static partial void AcceptFailed(ILogger logger, string error);

    [LoggerMessage(44, LogLevel.Warning, "Epoll transport: a ConnectionClosed callback failed")]
    public static partial void ClosedCallbackFailed(ILogger logger, Exception exception);
}
