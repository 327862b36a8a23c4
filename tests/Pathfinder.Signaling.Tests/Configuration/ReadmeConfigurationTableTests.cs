using System.Globalization;
using System.Text.RegularExpressions;
using Pathfinder.Signaling.Configuration;

namespace Pathfinder.Signaling.Tests;

/// <summary>README's configuration table is the operator's reference: it names every setting, its variable and its default.</summary>
public sealed partial class ReadmeConfigurationTableTests
{
    // | `Name` | `ENV` or empty | default | meaning |
    [GeneratedRegex(@"^\| `(?<name>[A-Za-z0-9:]+)` \| (?:`(?<env>[A-Z_]+)`)? ?\| (?<default>[^|]*) \|", RegexOptions.Multiline)]
    private static partial Regex Row();

    private static readonly Dictionary<string, (string? Env, string Default)> Table = ReadTable();

    private static Dictionary<string, (string? Env, string Default)> ReadTable()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pathfinder.sln")))
        {
            dir = dir.Parent;
        }

        var readme = File.ReadAllText(Path.Combine(dir?.FullName ?? throw new InvalidOperationException("no Pathfinder.sln above the test binaries"), "README.md"));
        var configuration = readme[readme.IndexOf("## Configuration", StringComparison.Ordinal)..];
        return Row().Matches(configuration)
            .Where(m => !m.Groups["name"].Value.Contains(':'))
            .ToDictionary(m => m.Groups["name"].Value, m => (m.Groups["env"].Success ? m.Groups["env"].Value : null, m.Groups["default"].Value.Trim()));
    }

    private static IEnumerable<System.Reflection.PropertyInfo> Settings() =>
        typeof(SignalingOptions).GetProperties().Where(p => p.CanWrite);

    [Fact]
    public void Every_setting_has_exactly_one_row_and_every_row_is_a_setting()
    {
        Assert.Equal(Settings().Select(p => p.Name).Order(), Table.Keys.Order());
    }

    [Fact]
    public void Every_rows_environment_variable_is_the_one_the_service_reads()
    {
        var aliases = SignalingConfiguration.EnvironmentAliases.ToDictionary(a => a.Setting, a => a.Variable);
        foreach (var (name, (env, _)) in Table)
        {
            Assert.True(aliases.GetValueOrDefault(name) == env, $"{name}: README says {env ?? "no variable"}, the service reads {aliases.GetValueOrDefault(name) ?? "none"}");
        }
    }

    [Fact]
    public void Every_literal_default_in_the_table_is_the_options_default()
    {
        var defaults = new SignalingOptions();
        var compared = 0;
        foreach (var property in Settings())
        {
            var cell = Table[property.Name];
            if (!cell.Default.StartsWith('`'))
            {
                continue; // described in words ("none", "empty = any origin", "off in Development, on elsewhere")
            }

            var literal = cell.Default.Split('`')[1];
            var actual = Convert.ToString(property.GetValue(defaults), CultureInfo.InvariantCulture)!;
            Assert.True(string.Equals(literal, actual, StringComparison.OrdinalIgnoreCase), $"{property.Name}: README says {literal}, the default is {actual}");
            compared++;
        }

        Assert.True(compared >= 20, $"only {compared} literal defaults compared");
    }
}
