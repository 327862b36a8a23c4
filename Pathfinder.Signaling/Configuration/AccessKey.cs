using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Pathfinder.Signaling.Configuration;

/// <summary>
/// The configured key, compared in constant time: both sides are hashed (SHA-256) and the digests compared with
/// <see cref="CryptographicOperations.FixedTimeEquals"/>, so neither the content nor the length of the key leaks
/// through timing. Never logged.
/// </summary>
public sealed class AccessKey(IOptions<SignalingOptions> options)
{
    private readonly byte[] _digest = SHA256.HashData(Encoding.UTF8.GetBytes(options.Value.Key));

    /// <summary>A fresh random key: 32 bytes from the OS CSPRNG as 64 lowercase hex characters.</summary>
    public static string Generate() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    public bool Matches(string? candidate)
    {
        if (candidate is null)
        {
            return false;
        }

        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(candidate), digest);
        return CryptographicOperations.FixedTimeEquals(digest, _digest);
    }
}
