namespace Pathfinder.Signaling.Configuration;

/// <summary>A setting is missing or invalid. The message is one line naming the setting, the value and what is allowed.</summary>
public sealed class SignalingConfigurationException(string message) : Exception(message);
