namespace Pathfinder.AppHost.Tests;

/// <summary>What these tests expect from Pathfinder.Signaling beyond the PeerJS protocol.</summary>
public static class Contract
{
    /// <summary>
    /// Every HTTP response of a replica (PeerJS HTTP API, the 101 of the WebSocket upgrade, /health) names the replica
    /// that produced it: a value that is the same for all responses of one process and differs between replicas.
    /// </summary>
    public const string ReplicaHeader = "X-Pathfinder-Replica";
}
