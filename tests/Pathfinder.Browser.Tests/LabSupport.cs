using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Pathfinder.Browser.Tests;

/// <summary>Settings, ids and signed tokens for the lab's tests.</summary>
internal static class LabSupport
{
    private const string CodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

    public static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    /// <summary>A fresh 6-character session code (the presenter's peer id), as the plugin makes them.</summary>
    public static string NewCode() =>
        string.Concat(RandomNumberGenerator.GetBytes(6).Select(b => CodeAlphabet[b % CodeAlphabet.Length]));

    /// <summary>A replica of a cluster on <paramref name="redis"/>, named <paramref name="replica"/>.</summary>
    public static Dictionary<string, string?> Cluster(RedisServer redis, string prefix, string replica) => new()
    {
        ["ConnectionStrings:redis"] = redis.ConnectionString,
        ["Signaling:Cluster:KeyPrefix"] = prefix,
        ["Signaling:Cluster:ReplicaId"] = replica,
    };

    /// <summary>
    /// A signed token as issue 16 specifies it (any backend can mint them): <c>{expiry}.{signature}</c>, expiry in unix
    /// seconds, signature = base64url without padding of HMAC-SHA256(secret, <c>{id}\n{expiry}</c>).
    /// </summary>
    public static string MintToken(string secret, string id, DateTimeOffset expiry)
    {
        var seconds = expiry.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var signature = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{id}\n{seconds}"));
        return $"{seconds}.{Convert.ToBase64String(signature).TrimEnd('=').Replace('+', '-').Replace('/', '_')}";
    }
}
