/* Busy polling (`poll-us N`), as vhost-net's busyloop_timeout: when a pass of the data
 * thread finds nothing to do, it keeps looking at the avail rings and the backend for up to
 * N microseconds before it asks the guest to kick and sleeps. Work that comes within the
 * window costs the guest no doorbell exit and the thread no sleep and wake-up; the price is
 * the CPU the thread spins on. Kicks stay off meanwhile. The thread holds run_lock while it
 * spins, so a reset waits for the window at most (NET_POLL_MAX_US). */
#include "net.h"
#include "net_backend.h"

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Would a pass find work? Reads only what the driver and the peer publish. */
static bool work_waiting(struct net *n)
{
    struct vdev_virtq *cq = vdev_virtio_queue(n->vio, net_ctrl_vq(n));
    struct vdev_virtq *rxq = vdev_virtio_queue(n->vio, n->rx_wait_vq);
    if (cq && net_has(n, VIRTIO_NET_F_CTRL_VQ) && vdev_virtq_has_avail(cq))
        return true;
    for (unsigned p = 0; !n->tx_blocked && p < net_mq_pairs(n); p++) {
        struct vdev_virtq *txq = vdev_virtio_queue(n->vio, 2 * p + 1);
        if (txq && vdev_virtq_has_avail(txq))
            return true;
    }
    if (n->rx_wait_buffers) /* a frame waits: what matters is buffers for it */
        return rxq && vdev_virtq_has_avail(rxq);
    size_t len;
    return n->be->rx_peek(n, &len) != NULL;
}

bool net_busy_poll(struct net *n)
{
    net_quiet_kicks(n);
    uint64_t now = n->now_ns();
    uint64_t end = now + (uint64_t)n->poll_us * 1000u, due = net_coal_due(n);
    for (;;) {
        if (work_waiting(n)) {
            net_count(&n->st.poll_hits, 1);
            return true;
        }
        if (atomic_load_explicit(&n->quit, memory_order_relaxed))
            return true; /* terminate: the loop ends */
        now = n->now_ns();
        if (now >= due)
            return true; /* a held notification goes out first */
        if (now >= end)
            break;
        cpu_relax();
    }
    net_count(&n->st.poll_misses, 1);
    return false;
}
