using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Pathfinder.Signaling.Configuration;
using Pathfinder.Signaling.Telemetry;

namespace Pathfinder.Signaling.Http;

/// <summary>
/// Rate limiting per client IP (ASP.NET Core's RateLimiter, fixed windows) for everything under the PeerJS path: the
/// HTTP API and WebSocket upgrades. Health endpoints are never limited. Over the limit: 429 with Retry-After, before
/// any upgrade; other IPs are unaffected. Off in Development unless enabled; on elsewhere with the seed's 100 requests
/// per 15 minutes unless configured.
/// </summary>
public static class ClientRateLimiting
{
    private const string Unlimited = "";

    public static IServiceCollection AddClientRateLimiting(this IServiceCollection services, SignalingOptions options, IHostEnvironment environment)
    {
        if (!options.RateLimitingOn(environment))
        {
            return services;
        }

        var apiPath = ApiPath(options);
        var grouping = ClientGrouping.From(options);
        var window = TimeSpan.FromMilliseconds(options.RateLimitWindow);
        // One fixed window per client group, shared by the HTTP middleware and the WebSocket fast path (Transport), so
        // a client's API requests and socket upgrades draw on the same budget whichever way they arrive. At most
        // MaxClientPartitions groups are tracked: a new group past that gets 429 until the oldest window ends.
        var byClient = new ClientWindowLimiter(options.RateLimitMax, window, options.MaxClientPartitions, TimeProvider.System);
        services.AddSingleton(new ClientRateLimiter(byClient, window));
        services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.GlobalLimiter = byClient.WithTranslatedKey<HttpContext>(
                context => context.Request.Path.StartsWithSegments(apiPath) || context.Request.Path.StartsWithSegments(Lab.LabEndpoints.ReplicaLookup)
                    ? grouping.KeyOf(context)
                    : Unlimited,
                leaveOpen: true);
            limiter.OnRejected = OnRejectedAsync;
        });
        return services;
    }

    public static IApplicationBuilder UseClientRateLimiting(this IApplicationBuilder app, SignalingOptions options, IHostEnvironment environment) =>
        options.RateLimitingOn(environment) ? app.UseRateLimiter() : app;

    private static PathString ApiPath(SignalingOptions options) =>
        new(options.NormalizedPath.Length == 0 ? "/" : options.NormalizedPath);

    private static ValueTask OnRejectedAsync(OnRejectedContext rejected, CancellationToken cancellationToken)
    {
        var context = rejected.HttpContext;
        var retryAfter = context.RequestServices.GetRequiredService<ClientRateLimiter>().RetryAfterSeconds(rejected.Lease);
        context.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
        context.Response.ContentType = "text/plain; charset=utf-8";

        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ClientRateLimiting).FullName!);
        var remoteIp = ClientAddress.Of(context);
        if (context.WebSockets.IsWebSocketRequest)
        {
            // Counted and logged as the fast path does it for the upgrades it answers itself.
            context.RequestServices.GetRequiredService<Transport.UpgradePolicy>().RateLimited(context.Request.Query["id"].LastOrDefault(), remoteIp);
        }
        else
        {
            Log.RequestRateLimited(logger, remoteIp, retryAfter);
        }

        return new ValueTask(context.Response.WriteAsync("Too Many Requests", cancellationToken));
    }
}

/// <summary>The per-client fixed-window limiter (one partition per client group, <see cref="ClientGrouping"/>) behind <see cref="ClientRateLimiting"/>.</summary>
public sealed class ClientRateLimiter(PartitionedRateLimiter<string> limiter, TimeSpan window)
{
    /// <summary>Takes one permit for the client group <paramref name="client"/>; the lease says whether it was granted.</summary>
    public RateLimitLease Acquire(string client) => limiter.AttemptAcquire(client);

    /// <summary>Retry-After for a refused lease, in whole seconds (at least 1).</summary>
    public int RetryAfterSeconds(RateLimitLease lease) => lease.TryGetMetadata(MetadataName.RetryAfter, out var wait)
        ? Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds))
        : Math.Max(1, (int)Math.Ceiling(window.TotalSeconds));
}

/// <summary>
/// Fixed windows per client group (a window starts with the group's first request and lasts
/// <c>window</c>), with at most <c>maxPartitions</c> groups tracked: a request from a new group while that many windows
/// are running is refused (Retry-After: when the oldest window ends). Unlike <see cref="PartitionedRateLimiter.Create{TResource, TPartitionKey}"/>,
/// whose partitions are unbounded and each run a timer, the windows are counters kept in start order, so the ones that
/// ended are dropped in constant time per request. The empty key is never limited. No queueing.
/// </summary>
public sealed class ClientWindowLimiter(int permitLimit, TimeSpan window, int maxPartitions, TimeProvider time) : PartitionedRateLimiter<string>
{
    private readonly Dictionary<string, Window> _windows = new(StringComparer.Ordinal);
    private readonly Queue<(string Client, long Start)> _order = new();
    private readonly long _windowTicks = Math.Max(1, (long)(window.TotalSeconds * time.TimestampFrequency));
    private long _granted;
    private long _refused;

    /// <summary>Client groups with a running window.</summary>
    public int Partitions
    {
        get
        {
            lock (_windows)
            {
                DropEnded(time.GetTimestamp());
                return _windows.Count;
            }
        }
    }

    public override RateLimiterStatistics? GetStatistics(string resource)
    {
        lock (_windows)
        {
            DropEnded(time.GetTimestamp());
            var used = _windows.TryGetValue(resource, out var current) ? current.Count : 0;
            return new RateLimiterStatistics
            {
                CurrentAvailablePermits = Math.Max(0, permitLimit - used),
                CurrentQueuedCount = 0,
                TotalSuccessfulLeases = Interlocked.Read(ref _granted),
                TotalFailedLeases = Interlocked.Read(ref _refused),
            };
        }
    }

    protected override RateLimitLease AttemptAcquireCore(string resource, int permitCount)
    {
        if (resource.Length == 0)
        {
            return Lease.Granted;
        }

        lock (_windows)
        {
            var now = time.GetTimestamp();
            DropEnded(now);
            if (_windows.TryGetValue(resource, out var current))
            {
                if (current.Count + permitCount > permitLimit)
                {
                    return Refuse(current.Start + _windowTicks - now);
                }

                current.Count += permitCount;
                return Grant();
            }

            if (_windows.Count >= maxPartitions || permitCount > permitLimit)
            {
                return Refuse(_order.TryPeek(out var oldest) ? oldest.Start + _windowTicks - now : _windowTicks);
            }

            _windows.Add(resource, new Window(now, permitCount));
            _order.Enqueue((resource, now));
            return Grant();
        }
    }

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(string resource, int permitCount, CancellationToken cancellationToken) =>
        ValueTask.FromResult(AttemptAcquireCore(resource, permitCount));

    // Windows all last the same time, so they end in the order they started.
    private void DropEnded(long now)
    {
        while (_order.TryPeek(out var oldest) && now - oldest.Start >= _windowTicks)
        {
            _order.Dequeue();
            if (_windows.TryGetValue(oldest.Client, out var ended) && ended.Start == oldest.Start)
            {
                _windows.Remove(oldest.Client);
            }
        }
    }

    private Lease Grant()
    {
        Interlocked.Increment(ref _granted);
        return Lease.Granted;
    }

    private Lease Refuse(long ticks)
    {
        Interlocked.Increment(ref _refused);
        return new Lease(false, TimeSpan.FromSeconds(Math.Max(0, ticks) / (double)time.TimestampFrequency));
    }

    private sealed class Window(long start, int count)
    {
        public long Start { get; } = start;

        public int Count { get; set; } = count;
    }

    private sealed class Lease(bool acquired, TimeSpan? retryAfter) : RateLimitLease
    {
        public static readonly Lease Granted = new(true, null);

        public override bool IsAcquired { get; } = acquired;

        public override IEnumerable<string> MetadataNames => retryAfter is null ? [] : [MetadataName.RetryAfter.Name];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            if (retryAfter is { } wait && metadataName == MetadataName.RetryAfter.Name)
            {
                metadata = wait;
                return true;
            }

            metadata = null;
            return false;
        }
    }
}
