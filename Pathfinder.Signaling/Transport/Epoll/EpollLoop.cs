using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Transport.Epoll;

/// <summary>
/// One event thread with its own epoll instance: it reads every socket registered with it (edge-triggered, one
/// <c>recv</c> per readiness unless the buffer filled up) and runs the application's reaction inline, so a relay goes
/// from one socket to the other on this thread. Sends made during one round of events leave together at its end
/// (<see cref="SendBatch"/>). (Polling a few more times before sleeping was measured and cost more CPU than the
/// wake-ups it saved.)
/// </summary>
internal sealed unsafe class EpollLoop : IDisposable
{
    private const int MaxEvents = 256;
    private const ulong WakeToken = 0;

    private readonly int _epfd;
    private readonly int _wakeFd;
    private readonly Thread _thread;
    private readonly ConcurrentDictionary<ulong, EpollConnection> _connections = new();
    private readonly ConcurrentQueue<EpollConnection> _resume = new();
    private readonly Lock _lifetime = new();
    private ulong _nextToken;
    private int _wakePending;
    private volatile bool _stopping;
    private bool _closed;

    public EpollLoop(int index, ILogger logger)
    {
        Logger = logger;
        _epfd = EpollNative.epoll_create1(EpollNative.EpollCloexec);
        if (_epfd < 0)
        {
            throw new IOException($"epoll_create1 failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }

        _wakeFd = EpollNative.eventfd(0, EpollNative.EfdNonblock | EpollNative.EfdCloexec);
        if (_wakeFd < 0 || EpollNative.Control(_epfd, EpollNative.EpollCtlAdd, _wakeFd, EpollNative.EpollIn | EpollNative.EpollEt, WakeToken) != 0)
        {
            var error = Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());
            if (_wakeFd >= 0)
            {
                EpollNative.close(_wakeFd);
            }

            EpollNative.close(_epfd);
            throw new IOException($"eventfd failed: {error}");
        }

        _thread = new Thread(Run) { IsBackground = true, Name = $"Pathfinder epoll {index}" };
        _thread.UnsafeStart();
    }

    public ILogger Logger { get; }

    public int Count => _connections.Count;

    /// <summary>False once the loop stopped (disposed, or epoll failed): it takes no new connections.</summary>
    public bool IsRunning => !_stopping;

    /// <summary>Starts watching the connection's socket; its first readiness (data already there) is reported at once.</summary>
    public void Add(EpollConnection connection)
    {
        lock (_lifetime)
        {
            ObjectDisposedException.ThrowIf(_closed || _stopping, this);

            var token = Interlocked.Increment(ref _nextToken);
            connection.Token = token;
            _connections[token] = connection;
            if (EpollNative.Control(_epfd, EpollNative.EpollCtlAdd, connection.Fd, EpollNative.EpollIn | EpollNative.EpollRdHup | EpollNative.EpollEt, token) != 0)
            {
                var error = Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());
                _connections.TryRemove(token, out _);
                throw new IOException($"epoll_ctl(ADD) failed: {error}");
            }
        }
    }

    /// <summary>Stops watching (before the socket is closed).</summary>
    public void Remove(EpollConnection connection)
    {
        lock (_lifetime)
        {
            if (_connections.TryRemove(connection.Token, out _) && !_closed)
            {
                EpollNative.Control(_epfd, EpollNative.EpollCtlDel, connection.Fd, 0, 0);
            }
        }
    }

    /// <summary>Asks the loop thread to read <paramref name="connection"/> again (its reader caught up, or it yielded).</summary>
    public void Resume(EpollConnection connection)
    {
        _resume.Enqueue(connection);
        if (Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            Wake();
        }
    }

    private void Wake()
    {
        lock (_lifetime)
        {
            if (!_closed)
            {
                ulong one = 1;
                EpollNative.write(_wakeFd, &one, sizeof(ulong));
            }
        }
    }

    private void Run()
    {
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * EpollNative.EventSize));
        try
        {
            while (!_stopping)
            {
                var count = EpollNative.epoll_wait(_epfd, events, MaxEvents, -1);
                if (count < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EpollNative.EIntr)
                    {
                        continue;
                    }

                    EpollLog.LoopFailed(Logger, Marshal.GetPInvokeErrorMessage(errno));
                    _stopping = true;
                    break;
                }

                var batch = SendBatch.Begin();
                for (var i = 0; i < count; i++)
                {
                    var token = EpollNative.EventData(events, i);
                    if (token == WakeToken)
                    {
                        OnWake();
                    }
                    else if (_connections.TryGetValue(token, out var connection))
                    {
                        Dispatch(connection, EpollNative.EventFlags(events, i));
                    }
                }

                if (batch)
                {
                    try
                    {
                        SendBatch.End();
                    }
                    catch (Exception ex)
                    {
                        EpollLog.HandlerFailed(Logger, ex);
                    }
                }
            }
        }
        finally
        {
            NativeMemory.Free(events);
            if (_stopping)
            {
                // Nothing will read these connections any more: end them rather than leave them hanging.
                foreach (var connection in _connections.Values)
                {
                    connection.Abort(new Microsoft.AspNetCore.Connections.ConnectionAbortedException("the event loop stopped"));
                }
            }
        }
    }

    // One connection's failure must neither skip the other events of this round nor stop the loop.
    private void Dispatch(EpollConnection connection, uint events)
    {
        try
        {
            connection.OnReadable(events);
        }
        catch (Exception ex)
        {
            EpollLog.HandlerFailed(Logger, ex);
            connection.Abort(new Microsoft.AspNetCore.Connections.ConnectionAbortedException("its handler failed", ex));
        }
    }

    private void OnWake()
    {
        // Consume the wake-up, then re-arm it, then drain: a Resume that found it armed is drained below.
        ulong value;
        EpollNative.read(_wakeFd, &value, sizeof(ulong));
        Volatile.Write(ref _wakePending, 0);
        while (_resume.TryDequeue(out var connection))
        {
            try
            {
                connection.OnResume();
            }
            catch (Exception ex)
            {
                EpollLog.HandlerFailed(Logger, ex);
                connection.Abort(new Microsoft.AspNetCore.Connections.ConnectionAbortedException("its handler failed", ex));
            }
        }
    }

    public void Dispose()
    {
        _stopping = true;
        Wake();
        if (Thread.CurrentThread != _thread && !_thread.Join(TimeSpan.FromSeconds(5)))
        {
            return; // still running: leave the descriptors open rather than let it use closed (or reused) ones
        }

        lock (_lifetime)
        {
            if (!_closed)
            {
                _closed = true;
                EpollNative.close(_wakeFd);
                EpollNative.close(_epfd);
            }
        }
    }
}
