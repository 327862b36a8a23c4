namespace Pathfinder.Signaling.Cluster.Tests;

/// <summary>The hash slots the cluster layer computes must be Redis Cluster's own, or its scripts would span slots.</summary>
public sealed class RedisKeysTests
{
    [Theory]
    [InlineData("a", 15495)] // CLUSTER KEYSLOT a (redis-server 7.0.15)
    [InlineData("b", 3300)]
    [InlineData("zzz", 10118)]
    [InlineData("123456789", 12739)] // the CRC16/XMODEM check value 0x31C3
    public void The_slot_of_an_id_is_redis_clusters(string id, int slot) => Assert.Equal(slot, RedisKeys.SlotOf(id));

    [Fact]
    public void Every_slot_has_a_short_tag_that_hashes_to_it()
    {
        for (var slot = 0; slot < RedisKeys.SlotCount; slot++)
        {
            var tag = RedisKeys.SlotTag(slot);
            Assert.True(tag.Length <= 4, tag);
            Assert.Equal(slot, RedisKeys.SlotOf(tag));
        }
    }

    [Fact]
    public void The_keys_of_an_id_share_its_slot_through_the_hash_tag()
    {
        var keys = new RedisKeys("p");
        var id = PeerClient.NewId();
        var slot = RedisKeys.SlotOf(id);
        foreach (var key in new[] { keys.Peer(id), keys.Queue(id), keys.Told(id), keys.Sender(id), keys.Due(slot) })
        {
            Assert.Equal(slot, RedisClusterServer.SlotOf(key!));
        }

        Assert.Equal(id, keys.IdOfPeerKey(keys.Peer(id)!));
    }
}
