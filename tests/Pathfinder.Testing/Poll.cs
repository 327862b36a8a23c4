namespace Pathfinder.Signaling.Testing;

/// <summary>
/// Waiting for something to become true with a deadline instead of a sleep: the condition is checked, then again
/// every <c>interval</c>, until it holds or the timeout passes. The timeout bounds the wait; it is not an assertion
/// about how fast the product is.
/// </summary>
public static class Poll
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>Whether <paramref name="condition"/> held before <paramref name="timeout"/> passed.</summary>
    public static async Task<bool> UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, TimeSpan? interval = null)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            if (await condition().WaitAsync(timeout))
            {
                return true;
            }

            try
            {
                await Task.Delay(interval ?? DefaultInterval, cts.Token);
            }
            catch (OperationCanceledException)
            {
                return await condition().WaitAsync(timeout);
            }
        }
    }

    /// <inheritdoc cref="UntilAsync(Func{Task{bool}}, TimeSpan, TimeSpan?)"/>
    public static Task<bool> UntilAsync(Func<bool> condition, TimeSpan timeout, TimeSpan? interval = null) =>
        UntilAsync(() => Task.FromResult(condition()), timeout, interval);

    /// <summary>Like <see cref="UntilAsync(Func{Task{bool}}, TimeSpan, TimeSpan?)"/>, but fails with <paramref name="because"/> on timeout.</summary>
    public static async Task AssertAsync(Func<Task<bool>> condition, TimeSpan timeout, string because, TimeSpan? interval = null)
    {
        if (!await UntilAsync(condition, timeout, interval))
        {
            throw new TimeoutException($"{because} (waited {timeout.TotalSeconds:0.#} s)");
        }
    }

    /// <inheritdoc cref="AssertAsync(Func{Task{bool}}, TimeSpan, string, TimeSpan?)"/>
    public static Task AssertAsync(Func<bool> condition, TimeSpan timeout, string because, TimeSpan? interval = null) =>
        AssertAsync(() => Task.FromResult(condition()), timeout, because, interval);

    /// <summary>
    /// The first value <paramref name="attempt"/> returns that is not null, within <paramref name="timeout"/>;
    /// <see cref="TimeoutException"/> with <paramref name="because"/> otherwise.
    /// </summary>
    public static async Task<T> ForAsync<T>(Func<Task<T?>> attempt, TimeSpan timeout, string because, TimeSpan? interval = null)
        where T : class
    {
        T? found = null;
        await AssertAsync(async () => (found = await attempt()) is not null, timeout, because, interval);
        return found!;
    }
}
