using System.Net;

namespace Pathfinder.Signaling.Http;

/// <summary>
/// The client's IP as per-IP limits and logs see it: the connection's address after the trusted forwarded headers
/// were applied (<see cref="TrustedProxies"/>), IPv4-mapped IPv6 addresses shown as IPv4.
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
