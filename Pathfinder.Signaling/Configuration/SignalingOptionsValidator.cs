using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Options;

namespace Pathfinder.Signaling.Configuration;

/// <summary>
/// Checks every <see cref="SignalingOptions"/> setting at start (<c>ValidateOnStart</c>, and before the host is built,
/// <see cref="SignalingConfiguration.Load"/>): each property by its type and attributes, from the text the operator
/// wrote (so a value the binder could not convert is reported, not silently defaulted), then the rules that span
/// settings or need parsing (<see cref="AtLeastAttribute"/> budgets, the path, the key with the
/// <see cref="ProductionGuard"/>, origins, proxies, the TLS files). Every problem is one line naming the setting as the
/// operator wrote it (the environment variable, or <c>Signaling:Name</c>), the value, and what is allowed; the key's
/// value is never echoed.
/// </summary>
public sealed class SignalingOptionsValidator(IConfiguration configuration, IHostEnvironment environment) : IValidateOptions<SignalingOptions>
{
    public ValidateOptionsResult Validate(string? name, SignalingOptions options)
    {
        var problems = new List<string>();
        var invalid = new HashSet<string>();
        var section = configuration.GetSection(SignalingOptions.SectionName);
        foreach (var property in SignalingSettingRules.Properties)
        {
            if (CheckValue(property, section.GetSection(property.Name), property.GetValue(options)) is { } problem)
            {
                problems.Add(problem);
                invalid.Add(property.Name);
            }
        }

        CheckBudgets(options, invalid, problems);
        CheckPath(options, problems);
        CheckKey(options, problems);
        CheckEntries(nameof(options.CorsOrigins), options.CorsOrigins, entries => OriginAllowList.Create(entries), problems);
        CheckEntries(nameof(options.KnownProxies), options.KnownProxies, entries => SignalingConfiguration.ParseProxies(entries), problems);
        if (options.SignedTokensOn && Protocol.SignedTokens.SecretProblem(options.TokenSecret) is { } secretProblem)
        {
            problems.Add($"{NameOf(nameof(options.TokenSecret))} {secretProblem}");
        }

        CheckTlsFiles(options, problems);
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    private string NameOf(string setting) => SeedEnvironmentVariables.NameOf(configuration, setting);

    // One setting by its type: the text as written when there is one, else the value (a default, or set in code).
    private string? CheckValue(PropertyInfo property, IConfigurationSection written, object? value)
    {
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        var text = written.Value;
        if (property.GetCustomAttribute<WholeNumberAttribute>() is { } range)
        {
            return range.Problem(NameOf(property.Name), type, text, value);
        }

        if (type == typeof(bool))
        {
            return text is null || SignalingSettingRules.TryFlag(text, property.PropertyType == typeof(bool?), out _)
                ? null
                : $"{NameOf(property.Name)} must be true or false, got '{text}'";
        }

        if (type.IsEnum)
        {
            return text is null || (Enum.TryParse(type, text.Trim(), ignoreCase: true, out var member) && Enum.IsDefined(type, member!))
                ? null
                : $"{NameOf(property.Name)} must be one of {string.Join(", ", Enum.GetNames(type))}, got '{text}'";
        }

        if (type == typeof(int) || type == typeof(long))
        {
            throw new InvalidOperationException($"{property.Name}: a whole-number setting needs [WholeNumber(min, max)] for its range and unit");
        }

        try
        {
            // Anything else (text, lists, a nested class) converts when the binder can bind it; the value is not echoed:
            // it may be a secret.
            _ = property.PropertyType == typeof(string[]) || text is null ? null : written.Get(property.PropertyType);
            return null;
        }
        catch (InvalidOperationException)
        {
            return $"{NameOf(property.Name)} must be a {type.Name}";
        }
    }

    // A budget smaller than one message would refuse every message of the largest allowed size. (A value already
    // reported above is not compared again.)
    private void CheckBudgets(SignalingOptions options, HashSet<string> invalid, List<string> problems)
    {
        foreach (var property in SignalingSettingRules.Properties)
        {
            if (property.GetCustomAttribute<AtLeastAttribute>() is not { } atLeast || invalid.Contains(property.Name) || invalid.Contains(atLeast.Setting))
            {
                continue;
            }

            var bound = typeof(SignalingOptions).GetProperty(atLeast.Setting)!;
            var minimum = Convert.ToInt64(bound.GetValue(options), CultureInfo.InvariantCulture);
            var value = Convert.ToInt64(property.GetValue(options), CultureInfo.InvariantCulture);
            if (value < minimum)
            {
                var unit = bound.GetCustomAttribute<WholeNumberAttribute>()?.Unit;
                problems.Add($"{NameOf(property.Name)} must be at least {NameOf(bound.Name)} ({minimum}{(unit is null ? null : " " + unit)}), got '{value}'");
            }
        }
    }

    private void CheckPath(SignalingOptions options, List<string> problems)
    {
        var path = options.Path ?? string.Empty;
        if (path.Contains('?') || path.Contains('#') || path.Contains(' ') || path.Contains("//", StringComparison.Ordinal))
        {
            problems.Add($"{NameOf(nameof(options.Path))} must be a URL path such as /pathfinder, got '{path}'");
        }
    }

    private void CheckKey(SignalingOptions options, List<string> problems)
    {
        // Every environment but Development faces real clients (Staging, Production, custom names): a strong key.
        if (!environment.IsDevelopment())
        {
            if (ProductionGuard.CheckKey(options.Key ?? string.Empty, SeedEnvironmentVariables.VariableOf(configuration, nameof(options.Key))) is { } problem)
            {
                problems.Add(problem);
            }
        }
        else if (string.IsNullOrEmpty(options.Key))
        {
            problems.Add($"{NameOf(nameof(options.Key))} must not be empty");
        }
    }

    private void CheckEntries(string setting, string[] entries, Action<string[]> parse, List<string> problems)
    {
        try
        {
            parse(entries);
        }
        catch (FormatException ex)
        {
            problems.Add($"{NameOf(setting)} entry {ex.Message}");
        }
    }

    private void CheckTlsFiles(SignalingOptions options, List<string> problems)
    {
        if (string.IsNullOrEmpty(options.TlsCertificatePath))
        {
            if (!string.IsNullOrEmpty(options.TlsKeyPath))
            {
                problems.Add($"{NameOf(nameof(options.TlsKeyPath))} is set but no certificate is: set TLS_CERT_PATH (or Signaling:TlsCertificatePath) too");
            }

            return;
        }

        foreach (var (setting, file) in new[] { (nameof(options.TlsCertificatePath), options.TlsCertificatePath), (nameof(options.TlsKeyPath), options.TlsKeyPath) })
        {
            if (!string.IsNullOrEmpty(file) && !File.Exists(file))
            {
                problems.Add($"{NameOf(setting)} must name a readable file, got '{file}' (not found)");
                return;
            }
        }
    }
}
