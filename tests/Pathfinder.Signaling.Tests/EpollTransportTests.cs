using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Pathfinder.Signaling.Transport.Epoll;

namespace Pathfinder.Signaling.Tests;

/// <summary>
/// The epoll transport against real loopback sockets: bytes in order both ways, a reader that falls behind (the
/// input pipe pauses reading and resumes), a client that does not read (sends wait for room), both ends of a
/// close, abort, and unbinding. Plus: the service runs on it by default and serves without it when turned off.
/// </summary>
public sealed class EpollTransportTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly EpollTransportFactory _factory = new(NullLoggerFactory.Instance);
    private IConnectionListener _listener = null!;

    public async Task InitializeAsync()
    {
        Assert.True(EpollTransportFactory.IsSupported, "these machines are Linux x64: the transport must be available");
        _listener = await _factory.BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
    }

    public async Task DisposeAsync()
    {
        await _listener.DisposeAsync();
        _factory.Dispose();
    }

    private async Task<(Socket Client, ConnectionContext Server)> ConnectAsync(int? clientReceiveBuffer = null)
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (clientReceiveBuffer is { } size)
        {
            client.ReceiveBufferSize = size;
        }

        var accepting = _listener.AcceptAsync().AsTask();
        await client.ConnectAsync(_listener.EndPoint).WaitAsync(Timeout);
        var server = await accepting.WaitAsync(Timeout);
        Assert.NotNull(server);
        return (client, server!);
    }

    private static byte[] Pattern(int length, int seed) => [.. Enumerable.Range(0, length).Select(i => (byte)((i + seed) % 251))];

    private static async Task<byte[]> ReadExactlyAsync(Socket socket, int length)
    {
        var buffer = new byte[length];
        var read = 0;
        while (read < length)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read)).AsTask().WaitAsync(Timeout);
            Assert.True(n > 0, $"the connection ended after {read} of {length} bytes");
            read += n;
        }

        return buffer;
    }

    private static async Task<byte[]> ReadAllAsync(PipeReader input, int length)
    {
        var received = new ArrayBufferWriter<byte>(length);
        while (received.WrittenCount < length)
        {
            var result = await input.ReadAsync().AsTask().WaitAsync(Timeout);
            foreach (var segment in result.Buffer)
            {
                received.Write(segment.Span);
            }

            input.AdvanceTo(result.Buffer.End);
            Assert.False(result.IsCompleted && received.WrittenCount < length, "input ended early");
        }

        return received.WrittenSpan.ToArray();
    }

    [Fact]
    public async Task Bytes_travel_both_ways_in_order_and_the_connection_describes_itself()
    {
        var (client, server) = await ConnectAsync();
        using var _ = client;
        await using var __ = server;
        Assert.Equal(client.LocalEndPoint, server.RemoteEndPoint);
        Assert.Equal(_listener.EndPoint, server.LocalEndPoint);
        Assert.NotNull(server.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionSocketFeature>()?.Socket);

        var request = Pattern(70_000, 1);
        await client.SendAsync(request);
        Assert.Equal(request, await ReadAllAsync(server.Transport.Input, request.Length));

        var answer = Pattern(300_000, 2);
        await server.Transport.Output.WriteAsync(answer);
        Assert.Equal(answer, await ReadExactlyAsync(client, answer.Length));
    }

    [Fact]
    public async Task A_reader_that_falls_behind_pauses_reading_and_nothing_is_lost()
    {
        var (client, server) = await ConnectAsync();
        using var _ = client;
        await using var __ = server;
        var data = Pattern(8 * 1024 * 1024, 3);
        var sending = client.SendAsync(data);

        // Examine without consuming until more than the pipe's pause threshold (1 MiB) is buffered: the transport
        // must stop reading there, and read on once it is consumed.
        var input = server.Transport.Input;
        ReadResult result;
        do
        {
            result = await input.ReadAsync().AsTask().WaitAsync(Timeout);
            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
        while (result.Buffer.Length < 1024 * 1024);
        await Task.Yield(); // off the event thread, whose flush ran this continuation inline
        Assert.True(SpinWait.SpinUntil(() => ((EpollConnection)server).ReadPaused, Timeout), "the transport should have stopped reading");

        var received = new ArrayBufferWriter<byte>(data.Length);
        result = await input.ReadAsync().AsTask().WaitAsync(Timeout);
        foreach (var segment in result.Buffer)
        {
            received.Write(segment.Span);
        }

        input.AdvanceTo(result.Buffer.End);
        received.Write(await ReadAllAsync(input, data.Length - received.WrittenCount));
        await sending.WaitAsync(Timeout);
        Assert.Equal(data, received.WrittenSpan.ToArray());
    }

    [Fact]
    public async Task A_reset_while_reading_is_paused_still_ends_the_connection()
    {
        var (client, server) = await ConnectAsync();
        await using var _ = server;
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = server.ConnectionClosed.Register(() => closed.TrySetResult());
        var sending = client.SendAsync(Pattern(4 * 1024 * 1024, 5));

        // Fill the input pipe past its pause threshold without consuming anything.
        var input = server.Transport.Input;
        ReadResult result;
        do
        {
            result = await input.ReadAsync().AsTask().WaitAsync(Timeout);
            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
        while (result.Buffer.Length < 1024 * 1024);

        // This test's continuations ran inline on the event thread, inside its flush: leave it, then see it paused.
        await Task.Yield();
        Assert.True(SpinWait.SpinUntil(() => ((EpollConnection)server).ReadPaused, Timeout), "the transport should have stopped reading");

        client.LingerState = new LingerOption(true, 0);
        client.Dispose(); // RST
        await Task.WhenAny(sending);

        // The application answers; the send fails on the reset socket, which must end the paused input as well.
        await Assert.ThrowsAsync<ConnectionResetException>(async () =>
        {
            for (var i = 0; i < 100; i++)
            {
                await server.Transport.Output.WriteAsync(new byte[1024]);
            }
        });

        await closed.Task.WaitAsync(Timeout);
    }

    [Fact]
    public async Task Output_to_a_client_that_is_not_reading_waits_for_room_and_arrives_whole()
    {
        var (client, server) = await ConnectAsync(clientReceiveBuffer: 16 * 1024);
        using var _ = client;
        await using var __ = server;
        var data = Pattern(6 * 1024 * 1024, 4);
        var writing = Task.Run(async () =>
        {
            for (var offset = 0; offset < data.Length; offset += 100_000)
            {
                await server.Transport.Output.WriteAsync(data.AsMemory(offset, Math.Min(100_000, data.Length - offset)));
            }
        });

        Assert.Equal(data, await ReadExactlyAsync(client, data.Length));
        await writing.WaitAsync(Timeout);
    }

    [Fact]
    public async Task Abort_ends_a_send_that_waits_for_a_client_that_never_reads_and_disposal_completes()
    {
        var (client, server) = await ConnectAsync(clientReceiveBuffer: 16 * 1024);
        using var _ = client;
        var writing = Task.Run(async () =>
        {
            var chunk = new byte[64 * 1024];
            while (true)
            {
                var result = await server.Transport.Output.WriteAsync(chunk);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
        });

        // Wait until the writer is held back: the kernel buffers are full and the output pipe has filled up.
        Assert.True(SpinWait.SpinUntil(() => ((EpollConnection)server).SendWaiting, Timeout), "the send never had to wait");
        server.Abort(new ConnectionAbortedException("client stopped reading"));
        await server.DisposeAsync().AsTask().WaitAsync(Timeout);
        await Assert.ThrowsAnyAsync<Exception>(() => writing.WaitAsync(Timeout));
        Assert.Equal(0, _factory.Connections);
    }

    [Fact]
    public async Task A_client_that_closes_ends_the_input_and_signals_connection_closed()
    {
        var (client, server) = await ConnectAsync();
        await using var _ = server;
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = server.ConnectionClosed.Register(() => closed.TrySetResult());
        await client.SendAsync("bye"u8.ToArray());
        client.Shutdown(SocketShutdown.Send);

        Assert.Equal("bye"u8.ToArray(), await ReadAllAsync(server.Transport.Input, 3));
        var end = await server.Transport.Input.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.True(end.IsCompleted);
        await closed.Task.WaitAsync(Timeout);
        client.Dispose();
    }

    [Fact]
    public async Task Completing_the_output_sends_everything_then_ends_the_connection()
    {
        var (client, server) = await ConnectAsync();
        using var _ = client;
        await using var __ = server;
        await server.Transport.Output.WriteAsync("last words"u8.ToArray());
        await server.Transport.Output.CompleteAsync();

        Assert.Equal("last words"u8.ToArray(), await ReadExactlyAsync(client, 10));
        Assert.Equal(0, await client.ReceiveAsync(new byte[16]).WaitAsync(Timeout));
    }

    [Fact]
    public async Task Abort_closes_the_socket_and_disposal_lets_go_of_it()
    {
        var (client, server) = await ConnectAsync();
        using var _ = client;
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = server.ConnectionClosed.Register(() => closed.TrySetResult());
        server.Abort(new ConnectionAbortedException("test abort"));
        await closed.Task.WaitAsync(Timeout); // fired on the thread pool, never inside the caller's Abort
        try
        {
            Assert.Equal(0, await client.ReceiveAsync(new byte[16]).WaitAsync(Timeout));
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
        }

        await server.DisposeAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(0, _factory.Connections);
    }

    [Fact]
    public async Task After_unbinding_accept_returns_null_and_only_tcp_endpoints_are_taken()
    {
        var listener = await _factory.BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        var accepting = listener.AcceptAsync().AsTask();
        await listener.UnbindAsync();
        Assert.Null(await accepting.WaitAsync(Timeout));
        await listener.DisposeAsync();

        Assert.True(_factory.CanBind(new IPEndPoint(IPAddress.IPv6Loopback, 0)));
        Assert.False(_factory.CanBind(new UnixDomainSocketEndPoint("/tmp/x.sock")));
    }

    [Fact]
    public async Task The_service_runs_on_it_by_default()
    {
        await using var host = await SignalingTestHost.StartAsync();
        var factory = Assert.Single(host.Services.GetServices<IConnectionListenerFactory>().OfType<EpollTransportFactory>());
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        await using var b = await PeerClient.ConnectAsync(host.SocketUri);
        Assert.True(factory.Connections >= 2, $"{factory.Connections} connections on the epoll transport");
        await a.SendToAsync("OFFER", b.Id, "1");
        Assert.Equal(a.Id, (await b.ReceiveJsonAsync()).GetProperty("src").GetString());
    }

    [Fact]
    public async Task Turned_off_the_service_serves_on_kestrels_sockets()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?> { [EpollTransportFactory.Setting] = "false" });
        Assert.Empty(host.Services.GetServices<IConnectionListenerFactory>().OfType<EpollTransportFactory>());
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        await using var b = await PeerClient.ConnectAsync(host.SocketUri);
        await a.SendToAsync("OFFER", b.Id, "1");
        Assert.Equal(a.Id, (await b.ReceiveJsonAsync()).GetProperty("src").GetString());
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(host.HttpBase, "/health"))).StatusCode);
    }
}
