using System.Reflection;
using Microsoft.Extensions.Options;

namespace Pathfinder.Signaling.Configuration;

/// <summary>
/// Scale-out settings (configuration section <c>Signaling:Cluster</c>), used when a <c>redis</c> connection string
/// is configured (<c>ConnectionStrings:redis</c>, as Aspire's WithReference provides it); <see cref="ReplicaId"/> also
/// names a lone replica. Checked at start by <see cref="ClusterOptionsValidator"/>, like every other setting.
/// </summary>
public sealed class ClusterOptions
{
    public const string SectionName = "Signaling:Cluster";

    /// <summary>
    /// Lifetime of a peer's presence lease in Redis (ms). The owning replica renews it every third of this; when a
    /// replica dies without cleanup, its peers' ids become claimable by others after at most this long (their owners,
    /// with the same token, can reclaim them at once).
    /// </summary>
    [WholeNumber(1000, 24 * 60 * 60 * 1000, Unit = "milliseconds")]
    public int LeaseMilliseconds { get; set; } = 15_000;

    /// <summary>
    /// Prefix of every Redis key and channel, so several clusters can share one Redis. No braces: the keys' hash tags
    /// (<c>{id}</c>) put each id's keys in one Redis Cluster slot, and a brace in the prefix would move every key.
    /// </summary>
    [Word(64)]
    public string KeyPrefix { get; set; } = "pathfinder";

    /// <summary>
    /// This replica's id on the backplane and in the <c>X-Pathfinder-Replica</c> response header; a fresh random id
    /// per process when empty.
    /// </summary>
    [Word(64, Optional = true)]
    public string? ReplicaId { get; set; }
}

/// <summary>
/// Binds <c>Signaling:Cluster</c> with the configuration binder and checks each setting by its attribute, from the text
/// the operator wrote (a lease of <c>abc</c> is reported, not defaulted). <see cref="Load"/> runs it before the host is
/// built, so a bad value stops the service with one line per problem (exit 2), as for the other settings.
/// </summary>
public sealed class ClusterOptionsValidator(IConfiguration configuration) : IValidateOptions<ClusterOptions>
{
    private static readonly PropertyInfo[] Properties = typeof(ClusterOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance);

    public ValidateOptionsResult Validate(string? name, ClusterOptions options)
    {
        var section = configuration.GetSection(ClusterOptions.SectionName);
        var problems = new List<string>();
        foreach (var property in Properties)
        {
            var setting = $"{ClusterOptions.SectionName}:{property.Name}";
            var problem = property.GetCustomAttribute<WholeNumberAttribute>() is { } range
                ? range.Problem(setting, property.PropertyType, section[property.Name], property.GetValue(options))
                : property.GetCustomAttribute<WordAttribute>()?.Problem(setting, (string?)property.GetValue(options));
            if (problem is not null)
            {
                problems.Add(problem);
            }
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    /// <summary>Binds (a value that does not convert keeps its default: the check names it) and checks; throws <see cref="SignalingConfigurationException"/>.</summary>
    public static ClusterOptions Load(IConfiguration configuration)
    {
        var factory = new OptionsFactory<ClusterOptions>(
            [new ConfigureOptions<ClusterOptions>(options => Bind(configuration, options))],
            [],
            [new ClusterOptionsValidator(configuration)]);
        try
        {
            return factory.Create(Options.DefaultName);
        }
        catch (OptionsValidationException ex)
        {
            throw new SignalingConfigurationException(string.Join(Environment.NewLine, ex.Failures));
        }
    }

    private static void Bind(IConfiguration configuration, ClusterOptions options)
    {
        var section = configuration.GetSection(ClusterOptions.SectionName);
        foreach (var property in Properties)
        {
            try
            {
                if (section[property.Name] is { } text)
                {
                    // The binder gives no value for empty text: a string setting takes it as written (the check
                    // names an empty prefix), a number keeps its default (the check names the text).
                    var value = section.GetSection(property.Name).Get(property.PropertyType);
                    if (value is not null || property.PropertyType == typeof(string))
                    {
                        property.SetValue(options, value ?? text);
                    }
                }
            }
            catch (InvalidOperationException)
            {
                // Not convertible: the validator reports it with the setting's rule.
            }
        }
    }
}
