using System.Reflection;
using Microsoft.Extensions.Options;

namespace Pathfinder.Signaling.Configuration;

/// <summary>
/// Binds the <c>Signaling</c> section (the seed's variables already mapped onto it, <see cref="SeedEnvironmentVariables"/>)
/// to <see cref="SignalingOptions"/>, property by property with the configuration binder, plus the two forms the binder
/// does not read: switches also take <c>1</c>/<c>0</c>, <c>yes</c>/<c>no</c>, <c>on</c>/<c>off</c>, and lists also take
/// comma-separated text (one value, or each array item). A value that does not convert leaves its property at the
/// default: <see cref="SignalingOptionsValidator"/> names it, so the service never starts with it.
/// </summary>
public sealed class SignalingOptionsBinding(IConfiguration configuration) : IConfigureOptions<SignalingOptions>
{
    public void Configure(SignalingOptions options)
    {
        var section = configuration.GetSection(SignalingOptions.SectionName);
        foreach (var property in SignalingSettingRules.Properties)
        {
            var value = section.GetSection(property.Name);
            try
            {
                Bind(options, property, value);
            }
            catch (InvalidOperationException)
            {
                // Not convertible: the validator reports it with the setting's rule.
            }
        }
    }

    private static void Bind(SignalingOptions options, PropertyInfo property, IConfigurationSection value)
    {
        var type = property.PropertyType;
        if (type == typeof(string[]))
        {
            if (SignalingSettingRules.List(value) is { } list)
            {
                property.SetValue(options, list);
            }
        }
        else if (type == typeof(bool) || type == typeof(bool?))
        {
            if (value.Value is { } text && SignalingSettingRules.TryFlag(text, type == typeof(bool?), out var flag))
            {
                property.SetValue(options, flag);
            }
        }
        else if (value.Value is not null || value.GetChildren().Any())
        {
            // Numbers, text, enums; a nested options class binds into the instance the property already holds.
            if (property.GetValue(options) is { } current && type.IsClass && type != typeof(string))
            {
                value.Bind(current);
            }
            else
            {
                property.SetValue(options, value.Get(type));
            }
        }
    }
}

/// <summary>The settings (every writable <see cref="SignalingOptions"/> property, in declaration order) and the forms shared by binding and validation.</summary>
internal static class SignalingSettingRules
{
    public static IReadOnlyList<PropertyInfo> Properties { get; } =
    [
        .. typeof(SignalingOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanRead && p.CanWrite && p.GetIndexParameters().Length == 0)
            .OrderBy(p => p.MetadataToken),
    ];

    /// <summary>A switch: true/1/yes/on, false/0/no/off (any case); empty means unset for an optional one.</summary>
    public static bool TryFlag(string text, bool optional, out bool? flag)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "true" or "1" or "yes" or "on":
                flag = true;
                return true;
            case "false" or "0" or "no" or "off":
                flag = false;
                return true;
            case "" when optional:
                flag = null;
                return true;
            default:
                flag = null;
                return false;
        }
    }

    /// <summary>
    /// A list: one value of comma-separated entries (how a variable carries it), else the array items, each of which may
    /// hold several; null when neither is there (the default stays).
    /// </summary>
    public static string[]? List(IConfigurationSection value)
    {
        static IEnumerable<string> Split(string text) =>
            text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

        if (value.Value is { } single)
        {
            return [.. Split(single)];
        }

        var items = value.GetChildren().Select(c => c.Value).OfType<string>().ToArray();
        return items.Length > 0 ? [.. items.SelectMany(Split)] : null;
    }
}
