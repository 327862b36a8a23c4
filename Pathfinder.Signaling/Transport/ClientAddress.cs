using System.Net;
using System.Net.Sockets;

namespace Pathfinder.Signaling.Transport;

/// <summary>
/// The client's IP as per-IP limits and logs see it: the connection's address after the trusted forwarded headers
/// were applied (<c>Http.TrustedProxies</c>), IPv4-mapped IPv6 addresses shown as IPv4.
/// </summary>
public static class ClientAddress
{
    public const string Unknown = "unknown";

    public static string Of(HttpContext context) => Format(context.Connection.RemoteIpAddress);

    public static string Format(IPAddress? address) => address switch
    {
        null => Unknown,
        { IsIPv4MappedToIPv6: true } => address.MapToIPv4().ToString(),
        _ => address.ToString(),
    };
}

/// <summary>
/// Which client group a connection counts against for the per-client limits (<see cref="ClientRateLimiter"/>,
/// <see cref="ClientSocketLimiter"/>): an IPv4 address (IPv4-mapped IPv6 included) is its own group, an IPv6
/// address counts with its /<see cref="Configuration.SignalingOptions.ClientIpv6PrefixLength"/> network (one
/// subscriber's /64 by default: an attacker cannot get fresh budgets by walking its own prefix). The limits track at
/// most <see cref="MaxPartitions"/> groups at once (<see cref="Configuration.SignalingOptions.MaxClientPartitions"/>).
/// </summary>
public sealed class ClientGrouping(int ipv6PrefixLength, int maxPartitions)
{
    public int Ipv6PrefixLength { get; } = ipv6PrefixLength;

    public int MaxPartitions { get; } = maxPartitions;

    public static ClientGrouping From(Configuration.SignalingOptions options) =>
        new(options.ClientIpv6PrefixLength, options.MaxClientPartitions);

    /// <summary>The partition key of the connection's client (forwarded headers applied).</summary>
    public string KeyOf(HttpContext context) => KeyOf(context.Connection.RemoteIpAddress);

    /// <summary>The partition key of <paramref name="address"/>: <c>192.0.2.1</c>, <c>2001:db8:1:2::/64</c>, or <c>unknown</c>.</summary>
    public string KeyOf(IPAddress? address) => KeyOf(address, Ipv6PrefixLength);

    /// <summary>The one function that maps an address to its group (see <see cref="ClientGrouping"/>).</summary>
    public static string KeyOf(IPAddress? address, int ipv6PrefixLength)
    {
        if (address is null)
        {
            return ClientAddress.Unknown;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4().ToString();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        var prefix = Math.Clamp(ipv6PrefixLength, 0, 128);
        for (var bit = prefix; bit < 128; bit++)
        {
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }

        // No scope id: fe80::1%eth0 and fe80::1%eth1 are one client's link-local addresses.
        return $"{new IPAddress(bytes)}/{prefix}";
    }
}
