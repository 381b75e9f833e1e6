/* virtio-net: the state of one NIC and the module-internal calls between its files.
 *
 * net_module.c  type, options, life-cycle, status line
 * net_attach.c  the virtio transport (alone: white-box tests replace it)
 * net_config.c  configuration space, feature checks
 * net_thread.c  the data thread: waits on kicks and the link, runs tx, rx and ctrl
 * net_tx.c      guest -> backend (header checks)
 * net_rx.c      backend -> guest (receive filter, mergeable buffers)
 * net_be_*.c    the backends (net_backend.h): the peer link, a host TAP (`tap NAME`)
 * net_ctrl.c    the control queue (receive filter, MAC, coalescing commands)
 * net_coal.c    interrupt moderation (VIRTIO_NET_F_NOTF_COAL, `coalesce-*`)
 * net_busy_poll.c  polling the rings a while before sleeping (`poll-us`)
 * net_capture*.c pcap capture of the NIC's frames (`capture FILE`, `vdevkit capture`)
 * net_mq.c, net_rss.c, net_flow.c  queue pairs, receive steering, RSS (net_mq.h)
 */
#ifndef VDEV_NET_H
#define VDEV_NET_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <vdev/module.h>
#include <vdev/virtio.h>

#include "net_coal.h"
#include "net_mq.h"
#include "net_stats.h"
#include "netpeer/net_hdr.h"

struct peer_link;
struct net_capture;
struct net_backend;
struct net_tap;

/* The queues of one pair (`queues 1`, or a driver without MQ/RSS); more: net_mq.h */
enum { NET_Q_RX = 0, NET_Q_TX = 1, NET_Q_CTRL = 2, NET_NUM_QUEUES = 3 };
enum { NET_RX_SRC_NONE, NET_RX_SRC_RING, NET_RX_SRC_TAP };

#define NET_QUEUE_SIZE  256u
#define NET_MAC_TABLE   64u   /* entries per MAC_TABLE_SET list; more means "accept all" */
#define NET_BATCH       64u   /* chains/frames per pass before looking at the link again */
#define NET_TX_STALL_MS 200u  /* a full peer ring stalls tx this long, then tx drops */
#define NET_POLL_MAX_US 1000u /* `poll-us` at most: the thread spins this long at most */

/* Receive filter (VIRTIO_NET_CTRL_RX / MAC_TABLE_SET), owned by the data thread. */
struct net_filter {
    bool promisc, allmulti, alluni, nomulti, nouni, nobcast;
    bool uni_overflow, multi_overflow;
    unsigned n_uni, n_multi;
    uint8_t uni[NET_MAC_TABLE][6], multi[NET_MAC_TABLE][6];
};

struct net {
    struct vdev *d;
    struct vdev_virtio *vio;
    bool ready; /* options_start ran: locks and fds exist */

    /* options */
    bool mac_given;
    uint8_t cfg_mac[6];
    char *peer_path;            /* resolved `peer` */
    char *tap_name;             /* `tap` */
    struct vdev_srcpos tap_pos; /* for errors found later */
    struct vdev_srcpos mac_pos;
    uint64_t peerfeats;
    unsigned mtu;
    unsigned poll_us; /* `poll-us`: busy-poll window before sleeping, 0 = off */
    unsigned pairs;   /* `queues`: queue pairs offered (1..NET_MAX_PAIRS); 2 * pairs + 1 vqs */
    /* options that need another one, for their errors */
    struct vdev_srcpos coal_frames_pos[NET_COAL_DIRS], coal_adaptive_pos;
    bool coal_frames_given[NET_COAL_DIRS];
    struct vdev_virtio_ops ops; /* net_virtio_ops, with NOTF_COAL when `notf-coal` */

    char bind_path[PATH_MAX];     /* our endpoint, when linked */
    struct peer_link *link;       /* NULL: no `peer`, or dryrun */
    struct net_tap *tap;          /* `tap`, or the TAP the host peer handed over; else NULL */
    char handed_tap[16];          /* that TAP's name while it is used, for status (cfg_lock) */
    int rx_src;                   /* net_be_peer: where rx_peek's frame is from (NET_RX_SRC_*) */
    bool ring_sent;               /* net_be_peer: frames went into the ring since the flush */
    const struct net_backend *be; /* net_be_tap with `tap`, else net_be_peer */
    uint64_t link_due;            /* net_be_peer: when the link wants servicing (ms) */

    pthread_mutex_t cfg_lock; /* mac (MAC_ADDR_SET on the data thread, config reads anywhere) */
    uint8_t mac[6];
    atomic_bool link_up;

    /* data thread */
    pthread_t thread;
    bool thread_started;
    int wake_fd;              /* eventfd: start, stop of the thread */
    atomic_bool quit;         /* terminate: the thread ends */
    pthread_mutex_t run_lock; /* held by the thread while it touches queues */
    atomic_bool running;      /* between virtio start and stop */
    atomic_bool features_dirty;
    atomic_bool fresh_start; /* set by start: the thread forgets its per-run state */
    bool broken;       /* the driver broke a rule: leave the queues alone until the next start */
    uint64_t features; /* negotiated, set at start */

    struct net_filter filter;
    struct net_mq mq;
    struct net_coal coal;
    struct net_stats st;
    uint64_t (*now_ns)(void); /* net_now_ns; the fuzz targets' clock is their own */

    /* data-thread scratch */
    struct vdev_virtq_elem *elem;        /* tx and ctrl */
    struct vdev_virtq_elem *rx_elem;     /* rx: a frame's first chain, kept while held */
    struct vdev_virtq_elem *elem2;       /* rx: later chains */
    uint8_t *scratch;                    /* one frame with its header, for software conversions */
    uint16_t heads[VDEV_VIRTQ_MAX_SIZE]; /* tx: the chains of one batch */
    uint32_t lens[VDEV_VIRTQ_MAX_SIZE];
    /* rx: a frame's chains; separate from tx's because held chains live across tx passes */
    uint16_t rx_heads[VDEV_VIRTQ_MAX_SIZE];
    uint32_t rx_lens[VDEV_VIRTQ_MAX_SIZE];
    bool tx_blocked;        /* waiting for room in the peer's ring (net_be_peer) */
    bool tx_dropping;       /* the ring stayed full: drop until it takes a frame again */
    uint64_t tx_blocked_ms; /* when tx_blocked began (monotonic) */
    unsigned tx_next;       /* the pair whose tx queue goes first in the next pass */
    bool rx_wait_buffers;   /* a frame waits for the guest to post receive buffers ... */
    unsigned rx_wait_vq;    /* ... on this rx queue */
    unsigned rx_held;       /* chains popped and filled for that frame (mergeable buffers) */
    unsigned rx_held_vq;    /* the rx queue they were popped from */
    size_t rx_held_off;     /* bytes of header + frame already in them */
    size_t rx_held_len;     /* the frame's length */
    bool rx_held_stale;     /* the link went down meanwhile: the frame is another one */

    /* capture (net_capture_nic.c): the pointer is read and written under run_lock only,
     * so the data thread needs no other synchronisation; NULL = off */
    struct net_capture *cap;
    char *cap_opt;   /* the `capture` option (absolute), opened at `configured` */
    char *cap_shown; /* the file being captured to, for `status` (under cfg_lock) */
};

static inline bool net_has(const struct net *n, unsigned bit)
{
    return (n->features >> bit) & 1u;
}

/* The queues may be used: the driver runs and has not broken a rule. Data thread only. */
static inline bool net_live(struct net *n)
{
    return atomic_load(&n->running) && !n->broken;
}

/* net_attach.c: vdev_virtio_attach (the transport the device's `loc` asks for). Alone in its
 * file so that a white-box test can define its own (a fake transport) and keep this one out
 * of its link (vdev-virtio-net-whitebox is an archive). */
struct vdev_virtio *net_virtio_attach(struct vdev *d, const struct vdev_virtio_ops *ops,
                                      void *opaque, struct vdev_err *err);

/* net_config.c */
extern const struct vdev_virtio_ops net_virtio_ops;
void net_filter_reset(struct net *n);
void net_get_mac(struct net *n, uint8_t mac[6]);
void net_set_mac(struct net *n, const uint8_t mac[6]);

/* net_thread.c */
int net_thread_start(struct net *n);
void net_thread_stop(struct net *n);
uint64_t net_now_ms(void);
uint64_t net_now_ns(void);
/* Reads (resets) an eventfd poll reported readable; -1 and EAGAIN are fine. Returns the
 * count it read (0 when there was none). */
uint64_t net_drain_fd(int fd);
/* Kicks off while working, for every queue of a running driver. */
void net_quiet_kicks(struct net *n);

/* net_busy_poll.c: spins up to `poll-us` for work before the thread asks for kicks and
 * sleeps; true when work came (or something else needs the loop), false when it ran out. */
bool net_busy_poll(struct net *n);

/* net_tx.c: pops and sends up to NET_BATCH chains; true if it made progress. */
bool net_tx_process(struct net *n);
/* net_rx.c: delivers up to NET_BATCH frames; true if it made progress. */
bool net_rx_process(struct net *n);
/* Drops what arrives while the guest has no running driver; true if there may be more. */
bool net_rx_discard(struct net *n);
/* Would the guest's receive filter take a frame for `dest`? */
bool net_filter_accepts(struct net *n, const uint8_t dest[6]);
/* net_ctrl.c */
bool net_ctrl_process(struct net *n);

/* net_capture_nic.c: data thread, run_lock held. */
void net_capture_record(struct net *n, const uint8_t *frame, size_t len);
void net_capture_idle(struct net *n); /* about to sleep: write buffered records out */
/* Starts (replacing a running one) or, with path NULL, stops the capture; any thread but
 * the data thread. A one-line reply; 0, or -1 with the error in `reply`. */
int net_capture_set(struct net *n, const char *path, char *reply, size_t len);
/* `vdevkit capture SYSTEM NAME FILE|off` (the module's control hook). */
int net_control(struct vdev *d, int argc, char **argv, char *reply, size_t len);

/* Records a frame when a capture runs: one predictable branch when it does not. */
static inline void net_capture(struct net *n, const uint8_t *frame, size_t len)
{
    if (__builtin_expect(n->cap != NULL, 0))
        net_capture_record(n, frame, len);
}

/* The driver broke a rule (a queue call returned -1, or we called vdev_virtio_fail):
 * counted once, and the queues are left alone until the device starts again. */
void net_driver_error(struct net *n);

/* Logs at most a few times per second per NIC (a guest can make errors fast). */
void net_log_limited(struct net *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
