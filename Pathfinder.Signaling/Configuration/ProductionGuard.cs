namespace Pathfinder.Signaling.Configuration;

/// <summary>
/// What every environment except Development refuses to start with: no key, a well-known default key, or a weak key. A key
/// is strong when it has at least <see cref="MinimumKeyLength"/> characters and some variety (as
/// <see cref="AccessKey.Generate"/> produces). Messages never contain the key itself.
/// </summary>
public static class ProductionGuard
{
    public const int MinimumKeyLength = 32;

    /// <summary>The documented command that prints a fresh key.</summary>
    public const string GenerateKeyHint = "generate one with `dotnet Pathfinder.Signaling.dll --generate-key` (or `dotnet run --project Pathfinder.Signaling -- --generate-key`)";

    private static readonly string[] DefaultKeys = ["pathfinder", "peerjs"];

    /// <param name="key">The effective key.</param>
    /// <param name="variable">The environment variable it came from, or null when it came from the Signaling section or the built-in default.</param>
    /// <returns>The one-line problem, or null when the key is acceptable in production.</returns>
    public static string? CheckKey(string key, string? variable)
    {
        var name = variable ?? $"{SignalingOptions.SectionName}:{nameof(SignalingOptions.Key)}";
        if (variable is null && (string.IsNullOrEmpty(key) || DefaultKeys.Contains(key, StringComparer.Ordinal)))
        {
            // Nothing but the shipped default: the operator has not set a key at all.
            return $"FATAL: PEERJS_KEY environment variable not set — {GenerateKeyHint} and set PEERJS_KEY";
        }

        if (DefaultKeys.Contains(key.Trim(), StringComparer.OrdinalIgnoreCase))
        {
            return $"FATAL: {name} is a well-known default key — {GenerateKeyHint}";
        }

        if (key.Length < MinimumKeyLength)
        {
            return $"FATAL: {name} is too weak: {key.Length} characters, at least {MinimumKeyLength} required — {GenerateKeyHint}";
        }

        if (key.Distinct().Count() < 8)
        {
            return $"FATAL: {name} is too weak: it repeats a few characters — {GenerateKeyHint}";
        }

        return null;
    }
}
