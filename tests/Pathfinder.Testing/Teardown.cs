namespace Pathfinder.Signaling.Testing;

/// <summary>Teardown that cannot hang a test run: every step bounded, the next step run even when one fails or times out.</summary>
public static class Teardown
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Runs <paramref name="step"/>, giving up on it after <paramref name="timeout"/>.</summary>
    public static Task BoundedAsync(Func<Task> step, TimeSpan? timeout = null) => step().WaitAsync(timeout ?? DefaultTimeout);

    /// <inheritdoc cref="BoundedAsync(Func{Task}, TimeSpan?)"/>
    public static Task BoundedAsync(Func<ValueTask> step, TimeSpan? timeout = null) => step().AsTask().WaitAsync(timeout ?? DefaultTimeout);

    /// <summary>Disposes each of <paramref name="items"/> (bounded each), then throws the first failure, if any.</summary>
    public static async Task DisposeAllAsync(IEnumerable<IAsyncDisposable> items, TimeSpan? timeout = null)
    {
        var failures = new List<Exception>();
        foreach (var item in items)
        {
            try
            {
                await item.DisposeAsync().AsTask().WaitAsync(timeout ?? DefaultTimeout);
            }
            catch (Exception ex)
            {
                failures.Add(ex);
            }
        }

        if (failures.Count > 0)
        {
            throw failures.Count == 1 ? failures[0] : new AggregateException(failures);
        }
    }
}
