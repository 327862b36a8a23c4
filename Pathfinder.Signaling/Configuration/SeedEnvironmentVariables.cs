namespace Pathfinder.Signaling.Configuration;

/// <summary>An environment variable of the seed's server (or of Pathfinder) that sets one <c>Signaling</c> setting.</summary>
public sealed record EnvironmentAlias(string Variable, string Setting);

/// <summary>
/// The seed's environment variables (<c>PEERJS_PORT</c>, <c>ALIVE_TIMEOUT</c>, …, each named by
/// <see cref="EnvironmentVariableAttribute"/> on its <see cref="SignalingOptions"/> property) as a configuration
/// source: a variable that is set and not empty becomes <c>Signaling:Name</c>, with its text unchanged (a list stays
/// comma-separated). Added after the host's other sources, so it wins over the <c>Signaling</c> section in every form
/// (appsettings, <c>Signaling__Name</c>, the command line).
/// </summary>
/// <param name="variables">Where the variables are read (the host's configuration: environment, command line).</param>
public sealed class SeedEnvironmentVariables(IConfiguration variables) : IConfigurationSource
{
    /// <summary>The variables understood besides <c>Signaling__Name</c>, with the setting each one sets.</summary>
    public static IReadOnlyList<EnvironmentAlias> Aliases { get; } =
    [
        .. SignalingSettingRules.Properties
            .Select(p => (p.Name, Variable: (p.GetCustomAttributes(typeof(EnvironmentVariableAttribute), false).SingleOrDefault() as EnvironmentVariableAttribute)?.Name))
            .Where(p => p.Variable is not null)
            .Select(p => new EnvironmentAlias(p.Variable!, p.Name)),
    ];

    private static readonly Dictionary<string, string> VariableOfSetting =
        Aliases.ToDictionary(a => a.Setting, a => a.Variable, StringComparer.OrdinalIgnoreCase);

    /// <summary>The variable that set <paramref name="setting"/>, or null when it came from the section or is the default.</summary>
    public static string? VariableOf(IConfiguration configuration, string setting) =>
        VariableOfSetting.TryGetValue(setting, out var variable) && !string.IsNullOrEmpty(configuration[variable]) ? variable : null;

    /// <summary>How the operator wrote <paramref name="setting"/>: its variable if that is set, else <c>Signaling:Name</c>.</summary>
    public static string NameOf(IConfiguration configuration, string setting) =>
        VariableOf(configuration, setting) ?? $"{SignalingOptions.SectionName}:{setting}";

    public IConfigurationProvider Build(IConfigurationBuilder builder) => new Provider(variables);

    private sealed class Provider(IConfiguration variables) : ConfigurationProvider
    {
        public override void Load()
        {
            var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            foreach (var alias in Aliases)
            {
                if (variables[alias.Variable] is { Length: > 0 } value)
                {
                    data[$"{SignalingOptions.SectionName}:{alias.Setting}"] = value;
                }
            }

            Data = data;
        }
    }
}
