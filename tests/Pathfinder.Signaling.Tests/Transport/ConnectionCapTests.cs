using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Routing;

namespace Pathfinder.Signaling.Tests;

public sealed class ConnectionCapTests
{
    [Fact]
    public void The_open_file_limit_is_read_from_proc_limits()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(file,
            [
                "Limit                     Soft Limit           Hard Limit           Units",
                "Max processes             95694                95694                processes",
                "Max open files            20000                20000                files",
            ]);
            Assert.Equal(20000, OpenFileLimit.Read(file));
            File.WriteAllLines(file, ["Max open files            unlimited            unlimited            files"]);
            Assert.Null(OpenFileLimit.Read(file));
        }
        finally
        {
            File.Delete(file);
        }

        Assert.NotNull(OpenFileLimit.Read()); // this machine's own limit (Linux)
    }

    [Theory]
    [InlineData(20000L, 250, 19530, 19630)]
    [InlineData(1024L, 250, 590, 654)]
    [InlineData(100000L, 250, 98750, 99250)]
    public void The_caps_leave_the_descriptors_in_use_and_margins_below_the_open_file_limit(long limit, int inUse, int peers, int connections)
    {
        Assert.Equal(peers, OpenFileLimit.DerivedCap(limit, inUse));
        Assert.Equal(connections, OpenFileLimit.ConnectionCap(limit, inUse));
        Assert.True(peers >= 19_500 || limit != 20000, "a 20,000 open-file limit must hold at least 19,500 peers");
        Assert.Null(OpenFileLimit.DerivedCap(null));
        Assert.Null(OpenFileLimit.ConnectionCap(null));
    }

    [Fact]
    public void The_descriptors_in_use_are_counted()
    {
        // This process has at least stdin, stdout, stderr and the test assembly open.
        Assert.True(OpenFileLimit.OpenDescriptors() > 3);
        var directory = Directory.CreateTempSubdirectory("fds-");
        try
        {
            for (var i = 0; i < 3; i++)
            {
                File.WriteAllText(Path.Combine(directory.FullName, i.ToString(System.Globalization.CultureInfo.InvariantCulture)), string.Empty);
            }

            Assert.Equal(3, OpenFileLimit.OpenDescriptors(directory.FullName));
        }
        finally
        {
            directory.Delete(recursive: true);
        }

        Assert.Equal(0, OpenFileLimit.OpenDescriptors("/no/such/directory"));
    }

    [Fact]
    public void The_effective_limit_is_the_smaller_of_concurrent_limit_and_the_cap()
    {
        Assert.Equal(7, PeerRouter.EffectiveLimit(new SignalingOptions { ConcurrentLimit = 10, MaxConnections = 7 }));
        Assert.Equal(5, PeerRouter.EffectiveLimit(new SignalingOptions { ConcurrentLimit = 5, MaxConnections = 7 }));
        var derived = OpenFileLimit.DerivedCap(OpenFileLimit.Budget.Limit, OpenFileLimit.Budget.InUse)!.Value;
        Assert.Equal(derived, PeerRouter.EffectiveLimit(new SignalingOptions { ConcurrentLimit = int.MaxValue }));
    }

    [Fact]
    public async Task At_the_cap_new_sockets_get_the_concurrent_limit_error_and_existing_peers_are_unaffected()
    {
        await using var host = await SignalingTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Signaling:ConcurrentLimit"] = "100",
            ["Signaling:MaxConnections"] = "2",
        });
        await using var a = await PeerClient.ConnectAsync(host.SocketUri);
        await using var b = await PeerClient.ConnectAsync(host.SocketUri);
        await using var c = await PeerClient.OpenAsync(host.SocketUri, PeerClient.NewId());
        Assert.Equal(["""{"type":"ERROR","payload":{"msg":"Server has reached its concurrent user limit"}}"""], await c.WaitForCloseAsync());
        await a.SendToAsync("OFFER", b.Id, "1");
        Assert.Equal($$"""{"type":"OFFER","src":"{{a.Id}}","dst":"{{b.Id}}","payload":1}""", await b.ReceiveAsync());
    }
}
