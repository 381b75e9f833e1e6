/* The peer link: a point-to-point Ethernet link between two VM processes (or a VM and a
 * host peer), with shared-memory rings and eventfd notifications.
 *
 * Each end has an endpoint, a Unix socket it binds at `bind_path`
 * (<runtime dir>/<system>/<name>), and names the other end's endpoint with `peer_path`.
 * Either end may start first and either may go away and come back: the link reconnects by
 * itself and reports link up/down to its owner. While it is down, sends are refused (the
 * owner drops and counts); nothing queues without bound and nothing blocks.
 *
 * Data path: each end owns a receive ring in a memfd that it passes to the other end over
 * the endpoint socket together with an eventfd; the other end writes frames straight into
 * it (one copy from the sender's guest buffers) and the owner copies them into its guest
 * (the second copy). Notifications are batched and suppressed: a side sleeps only after
 * announcing it in the ring header, and is woken only then. No system call per frame in
 * steady state.
 *
 * Threading: a link is used from one thread only (the device's data thread): it polls
 * peer_link_fd() and calls peer_link_service() when that is readable or its timeout
 * passes; it polls peer_link_rx_fd() for frames.
 *
 * Frames carry the 12-byte virtio_net_hdr (virtio 1.x layout, num_buffers unused) first,
 * then the Ethernet frame; at most PEER_LINK_MAX_FRAME bytes in all.
 *
 * Pointers from peer_link_tx_reserve() and peer_link_rx_peek() point into shared memory:
 * they stay valid until the matching commit/release or the next peer_link_service(),
 * whichever comes first (a reconnect unmaps the rings). The peer can change a received
 * frame while we read it: copy the virtio_net_hdr out once before interpreting it.
 * When the link goes down nothing wakes rx_fd/tx_space_fd any more; state_changed(up)
 * tells the owner to look again. Protocol, ring layout and figures: docs/peer-link.md.
 */
#ifndef VDEV_NET_PEER_LINK_H
#define VDEV_NET_PEER_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vdev/types.h>

#define PEER_LINK_HDR_LEN   12u
#define PEER_LINK_MAX_FRAME (PEER_LINK_HDR_LEN + 65550u)

struct peer_link;

struct peer_link_cfg {
    const char *bind_path; /* our endpoint; created (a stale socket file is replaced) */
    const char *peer_path; /* the other end's endpoint */
    uint8_t mac[6];        /* ours, sent to the peer (duplicate MACs on a link are reported) */
    uint64_t features;     /* our guest's negotiated virtio-net features (update later) */
    /* The link went up or down; runs inside peer_link_service() on the owner's thread. */
    void (*state_changed)(void *opaque, bool up);
    /* Messages ("peer /run/vdevkit/b/moe connected", "both ends use MAC ..."). */
    void (*log)(void *opaque, enum vdev_log_level level, const char *msg);
    void *opaque;
    /* Size of our receive ring in bytes: a power of two, 256 KiB..64 MiB; 0 = 4 MiB. */
    uint32_t ring_size;
    /* TAP hand-over (docs/peer-link.md): a host peer offers its TAP (offer_tap: tap_fd is
     * sent with every link-up, and stays the caller's); a NIC that can move frames through
     * a TAP itself accepts one (accept_tap). */
    bool offer_tap;
    int tap_fd;
    bool accept_tap;
};

/* Binds the endpoint and starts trying to reach the peer. NULL with err set (path too
 * long, folder missing, "endpoint PATH is in use" by a live process; the message has no
 * "peer link:" prefix, the caller adds its context). */
struct peer_link *peer_link_open(const struct peer_link_cfg *cfg, struct vdev_err *err);
/* Closes both directions and removes the endpoint file. */
void peer_link_close(struct peer_link *l);

/* Readable when peer_link_service() has work (connections, hello, hang-ups, retries). */
int peer_link_fd(const struct peer_link *l);
/* Milliseconds until peer_link_service() should run even if nothing is readable (-1: none). */
int peer_link_timeout_ms(const struct peer_link *l);
void peer_link_service(struct peer_link *l);

bool peer_link_up(const struct peer_link *l);
/* The features the peer's guest negotiated (0 while down). */
uint64_t peer_link_peer_features(const struct peer_link *l);
/* Our guest (re)negotiated: tell the peer. */
void peer_link_set_features(struct peer_link *l, uint64_t features);

/* ---- TAP hand-over ---- */

/* accept_tap: the TAP the peer offered, once the link is up, the fd passed the checks
 * (tap_if_check_handed) and the peer confirmed it leaves the TAP alone: its fd, now the
 * caller's, with the interface's name in `ifname` (16 bytes). -1 until then (the first call
 * after the offer asks the peer for it; call again after each peer_link_service()), and
 * again after the next link-up. The caller closes it when the link goes down. */
int peer_link_take_tap(struct peer_link *l, char *ifname);
/* offer_tap: the peer asked for the TAP and was told it is released (until the link goes
 * down): from the service call that reported it on, leave the TAP's frames and offloads to
 * the peer. */
bool peer_link_tap_taken(const struct peer_link *l);

/* ---- sending (into the peer's ring) ---- */

/* Room for a frame of `len` bytes (header included): a pointer to write it to, or NULL when
 * the link is down or the peer's ring is full (the caller drops and counts, or retries
 * later). */
void *peer_link_tx_reserve(struct peer_link *l, size_t len);
/* Publishes the reserved frame with its final length (<= the reserved one). */
void peer_link_tx_commit(struct peer_link *l, size_t len);
/* End of a batch: wakes the peer if it sleeps. */
void peer_link_tx_flush(struct peer_link *l);
/* Readable when the peer made room in its ring after we found it full (and asked). */
int peer_link_tx_space_fd(const struct peer_link *l);
/* Asks to be woken through peer_link_tx_space_fd() when room appears (for `len` bytes and at
 * least an eighth of the ring, so a stream of small frames wakes the sender once per many);
 * true if there is room already (no need to sleep). Reads (resets) tx_space_fd first. */
bool peer_link_tx_want_space(struct peer_link *l, size_t len);

/* ---- receiving (from our ring) ---- */

/* The next frame, or NULL when the ring is empty or the link is down. */
const void *peer_link_rx_peek(struct peer_link *l, size_t *len);
/* Done with the frame peek returned. */
void peer_link_rx_release(struct peer_link *l);
/* Readable (eventfd) when frames arrived while we slept. */
int peer_link_rx_fd(const struct peer_link *l);
/* Before sleeping: announce it to the sender. Returns true if frames arrived meanwhile
 * (do not sleep). Any rx_peek ends the sleep announcement. Reads (resets) rx_fd first, so
 * a wakeup left from an earlier round does not keep the owner spinning. */
bool peer_link_rx_sleep(struct peer_link *l);

/* Counters of the link itself. */
struct peer_link_stats {
    uint64_t connects, disconnects, bad_frames; /* bad_frames: malformed records dropped */
};
void peer_link_get_stats(const struct peer_link *l, struct peer_link_stats *out);

#endif
