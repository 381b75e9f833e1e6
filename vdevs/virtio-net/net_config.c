/* virtio-net device description: configuration space, feature rules, start and stop. */
#include <string.h>
#include <unistd.h>

#include "net.h"

void net_get_mac(struct net *n, uint8_t mac[6])
{
    pthread_mutex_lock(&n->cfg_lock);
    memcpy(mac, n->mac, 6);
    pthread_mutex_unlock(&n->cfg_lock);
}

void net_set_mac(struct net *n, const uint8_t mac[6])
{
    pthread_mutex_lock(&n->cfg_lock);
    memcpy(n->mac, mac, 6);
    pthread_mutex_unlock(&n->cfg_lock);
}

/* What a device reset restores: the guest's filter settings are gone. Promiscuous by
 * default, as a driver that never configures the filter expects every frame. */
void net_filter_reset(struct net *n)
{
    memset(&n->filter, 0, sizeof(n->filter));
    n->filter.promisc = true;
}

static void net_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
    struct net *n = opaque;
    uint8_t cfg[NET_CFG_SIZE_RSS] = {0};
    net_get_mac(n, cfg + NET_CFG_MAC);
    net_put16(cfg + NET_CFG_STATUS, atomic_load(&n->link_up) ? VIRTIO_NET_S_LINK_UP : 0);
    net_put16(cfg + NET_CFG_MAX_PAIRS, (uint16_t)n->pairs);
    net_put16(cfg + NET_CFG_MTU, (uint16_t)n->mtu);
    cfg[NET_CFG_RSS_MAX_KEY] = NET_RSS_MAX_KEY;
    net_put16(cfg + NET_CFG_RSS_MAX_TABLE, NET_RSS_MAX_TABLE);
    net_put16(cfg + NET_CFG_HASH_TYPES, NET_RSS_HASH_TYPES & 0xffff);
    net_put16(cfg + NET_CFG_HASH_TYPES + 2, NET_RSS_HASH_TYPES >> 16);
    if (off < sizeof(cfg) && len <= sizeof(cfg) - off) /* the core keeps it in config_size */
        memcpy(buf, cfg + off, len);
}

/* Virtio 1.x drivers do not write the configuration space (the MAC changes through
 * CTRL_MAC_ADDR); writes are ignored. */
static void net_config_write(void *opaque, uint32_t off, const void *buf, uint32_t len)
{
    (void)opaque, (void)off, (void)buf, (void)len;
}

/* Feature dependencies of virtio 1.2 §5.1.3.1: a driver must not accept a feature without
 * the ones it depends on. */
static int net_features_ok(void *opaque, uint64_t f)
{
    struct net *n = opaque;
    static const struct {
        unsigned bit;
        uint64_t needs_any;
    } rules[] = {
        {VIRTIO_NET_F_GUEST_TSO4, NET_BIT(VIRTIO_NET_F_GUEST_CSUM)},
        {VIRTIO_NET_F_GUEST_TSO6, NET_BIT(VIRTIO_NET_F_GUEST_CSUM)},
        {VIRTIO_NET_F_GUEST_ECN,
         NET_BIT(VIRTIO_NET_F_GUEST_TSO4) | NET_BIT(VIRTIO_NET_F_GUEST_TSO6)},
        {VIRTIO_NET_F_HOST_TSO4, NET_BIT(VIRTIO_NET_F_CSUM)},
        {VIRTIO_NET_F_HOST_TSO6, NET_BIT(VIRTIO_NET_F_CSUM)},
        {VIRTIO_NET_F_HOST_ECN, NET_BIT(VIRTIO_NET_F_HOST_TSO4) | NET_BIT(VIRTIO_NET_F_HOST_TSO6)},
        {VIRTIO_NET_F_CTRL_RX, NET_BIT(VIRTIO_NET_F_CTRL_VQ)},
        {VIRTIO_NET_F_CTRL_RX_EXTRA, NET_BIT(VIRTIO_NET_F_CTRL_RX)},
        {VIRTIO_NET_F_CTRL_MAC_ADDR, NET_BIT(VIRTIO_NET_F_CTRL_VQ)},
        {VIRTIO_NET_F_NOTF_COAL, NET_BIT(VIRTIO_NET_F_CTRL_VQ)},
        {VIRTIO_NET_F_MQ, NET_BIT(VIRTIO_NET_F_CTRL_VQ)},
        {VIRTIO_NET_F_RSS, NET_BIT(VIRTIO_NET_F_CTRL_VQ)},
    };
    if (!((f >> VIRTIO_F_VERSION_1) & 1)) {
        vdev_warn(n->d, "driver without VIRTIO_F_VERSION_1 refused (legacy is not supported)");
        return -1;
    }
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (((f >> rules[i].bit) & 1) && !(f & rules[i].needs_any)) {
            vdev_warn(n->d, "driver features 0x%llx refused: feature %u without its dependency",
                      (unsigned long long)f, rules[i].bit);
            return -1;
        }
    return 0;
}

static void wake(struct net *n)
{
    uint64_t one = 1;
    if (n->wake_fd >= 0 && write(n->wake_fd, &one, sizeof(one)) < 0) {
        /* the counter is saturated: the thread is awake anyway */
    }
}

static void net_start(void *opaque)
{
    struct net *n = opaque;
    pthread_mutex_lock(&n->run_lock);
    n->features = vdev_virtio_features(n->vio);
    net_coal_reset(n); /* a driver starts with no coalescing settings of its own */
    net_mq_reset(n);   /* one pair in use, automatic steering, no flows */
    atomic_store(&n->fresh_start, true); /* the thread resets its own state */
    atomic_store(&n->features_dirty, true);
    atomic_store(&n->running, true);
    pthread_mutex_unlock(&n->run_lock);
    wake(n);
}

/* Reset or NEEDS_RESET. From another thread: wait until the data thread is out of the
 * queues (it holds run_lock while in them). From the data thread itself (a queue call
 * found the driver misbehaving): it holds run_lock already and checks `running` after
 * each queue call. */
static void net_stop(void *opaque)
{
    struct net *n = opaque;
    bool on_thread = n->thread_started && pthread_equal(pthread_self(), n->thread);
    if (!on_thread)
        pthread_mutex_lock(&n->run_lock);
    /* Notifications held back go out before the queues do: no used buffer is left
     * unannounced (a broken queue ignores this). */
    if (atomic_load(&n->running))
        for (unsigned q = 0; q < 2u * n->pairs; q++)
            net_coal_flush(n, q);
    atomic_store(&n->running, false);
    n->features = 0;
    atomic_store(&n->features_dirty, true);
    net_filter_reset(n);
    net_set_mac(n, n->cfg_mac);
    if (!on_thread)
        pthread_mutex_unlock(&n->run_lock);
    wake(n);
}

#define NET_FEATURES                                                                               \
    (NET_BIT(VIRTIO_NET_F_CSUM) | NET_BIT(VIRTIO_NET_F_GUEST_CSUM) | NET_BIT(VIRTIO_NET_F_MTU) |   \
     NET_BIT(VIRTIO_NET_F_MAC) | NET_BIT(VIRTIO_NET_F_GUEST_TSO4) |                                \
     NET_BIT(VIRTIO_NET_F_GUEST_TSO6) | NET_BIT(VIRTIO_NET_F_GUEST_ECN) |                          \
     NET_BIT(VIRTIO_NET_F_HOST_TSO4) | NET_BIT(VIRTIO_NET_F_HOST_TSO6) |                           \
     NET_BIT(VIRTIO_NET_F_HOST_ECN) | NET_BIT(VIRTIO_NET_F_MRG_RXBUF) |                            \
     NET_BIT(VIRTIO_NET_F_STATUS) | NET_BIT(VIRTIO_NET_F_CTRL_VQ) |                                \
     NET_BIT(VIRTIO_NET_F_CTRL_RX) | NET_BIT(VIRTIO_NET_F_CTRL_RX_EXTRA) |                         \
     NET_BIT(VIRTIO_NET_F_CTRL_MAC_ADDR))

/* Each NIC attaches with its own copy (n->ops), which adds NOTF_COAL under `notf-coal` and,
 * with `queues` > 1, MQ and RSS, the queues and the RSS fields of the configuration space. */
const struct vdev_virtio_ops net_virtio_ops = {
    .size = sizeof(struct vdev_virtio_ops),
    .device_id = VIRTIO_ID_NET,
    .features = NET_FEATURES,
    .num_queues = NET_NUM_QUEUES,
    .queue_size_max = NET_QUEUE_SIZE,
    .config_size = NET_CFG_SIZE,
    .config_read = net_config_read,
    .config_write = net_config_write,
    .features_ok = net_features_ok,
    .start = net_start,
    .stop = net_stop,
    .queue_kick = NULL, /* the data thread polls the kick fds */
};
