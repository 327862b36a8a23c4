using System.Text.Json;
using System.Text.RegularExpressions;

namespace Pathfinder.Operations.Tests;

/// <summary>One instruction of a Dockerfile: keyword (upper case) and its arguments (continuation lines joined).</summary>
internal sealed record Instruction(string Keyword, string Arguments)
{
    /// <summary>The arguments of an exec-form instruction (<c>["a", "b"]</c>), or null for the shell form.</summary>
    public string[]? ExecForm(string arguments) =>
        arguments.TrimStart().StartsWith('[') ? JsonSerializer.Deserialize<string[]>(arguments) : null;
}

/// <summary>A build stage: <c>FROM image AS name</c> and the instructions up to the next FROM.</summary>
internal sealed record Stage(string Image, string? Name, IReadOnlyList<Instruction> Instructions)
{
    public IEnumerable<Instruction> All(string keyword) => Instructions.Where(i => i.Keyword == keyword);

    public Instruction? Last(string keyword) => All(keyword).LastOrDefault();

    /// <summary>The stage's ENV assignments (<c>ENV A=1 B=</c>), later ones winning.</summary>
    public IReadOnlyDictionary<string, string> Environment()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var instruction in All("ENV"))
        {
            foreach (Match m in Dockerfile.Assignment().Matches(instruction.Arguments))
            {
                env[m.Groups["name"].Value] = m.Groups["value"].Value.Trim('"');
            }
        }

        return env;
    }
}

/// <summary>
/// Just enough of the Dockerfile syntax for these checks: comments, line continuations, ARG defaults before the first
/// FROM (substituted into FROM), stages and their instructions.
/// </summary>
internal static partial class Dockerfile
{
    public static (IReadOnlyDictionary<string, string> Args, IReadOnlyList<Stage> Stages) Parse(string text)
    {
        var logical = new List<string>();
        var current = string.Empty;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (current.Length == 0 && line.TrimStart().StartsWith('#'))
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                current += line[..^1] + " ";
                continue;
            }

            current += line;
            if (current.Trim().Length > 0)
            {
                logical.Add(current.Trim());
            }

            current = string.Empty;
        }

        var args = new Dictionary<string, string>(StringComparer.Ordinal);
        var stages = new List<Stage>();
        List<Instruction>? instructions = null;
        foreach (var line in logical)
        {
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            var keyword = (space < 0 ? line : line[..space]).ToUpperInvariant();
            var arguments = space < 0 ? string.Empty : line[(space + 1)..].Trim();
            if (keyword == "ARG" && instructions is null)
            {
                var eq = arguments.IndexOf('=', StringComparison.Ordinal);
                args[eq < 0 ? arguments : arguments[..eq]] = eq < 0 ? string.Empty : arguments[(eq + 1)..];
            }
            else if (keyword == "FROM")
            {
                var parts = arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var image = Substitute().Replace(parts[0], m => args.GetValueOrDefault(m.Groups["name"].Value, m.Value));
                instructions = [];
                var name = parts.Length >= 3 && parts[1].Equals("AS", StringComparison.OrdinalIgnoreCase) ? parts[2] : null;
                stages.Add(new Stage(image, name, instructions));
            }
            else
            {
                instructions?.Add(new Instruction(keyword, arguments));
            }
        }

        return (args, stages);
    }

    [GeneratedRegex(@"\$\{?(?<name>[A-Za-z_][A-Za-z0-9_]*)\}?")]
    private static partial Regex Substitute();

    [GeneratedRegex(@"(?<name>[A-Za-z_][A-Za-z0-9_]*)=(?<value>""[^""]*""|\S*)")]
    internal static partial Regex Assignment();
}
