namespace Pathfinder.Signaling.Transport;

/// <summary>
/// Lets .NET's socket engine run completions on its event thread instead of queueing each one to the thread pool
/// (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>). With Kestrel's inline scheduling and the send queues'
/// synchronous continuations, a relay then goes from the sender's socket to the receiver's socket on one thread:
/// bench/run.sh measured context switches per message falling from ~0.9 to ~0.03 and CPU per relayed message
/// below the reference server's. Safe because nothing on those paths blocks. The variable is read once, when the
/// first socket is created, so this runs first in Main; an operator's own value (e.g. 0) is respected.
/// </summary>
public static class SocketEngine
{
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static void PreferInlineCompletions()
    {
        if (Environment.GetEnvironmentVariable(InlineCompletionsVariable) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
        }
    }
}
