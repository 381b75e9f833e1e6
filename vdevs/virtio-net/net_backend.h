/* What carries a NIC's frames: its backend. net_tx.c, net_rx.c and net_thread.c do the
 * virtio side (queues, header checks, receive filter, mergeable buffers, capture of
 * received frames) and call the backend for the wire:
 *
 *   net_be_peer  the peer link (`peer PATH`), and no wire at all when neither `peer` nor
 *                `tap` is given (every send is dropped as link-down)
 *   net_be_tap   an existing host TAP interface (`tap NAME`), read and written directly
 *
 * Every call runs on the data thread; all but poll_prepare/poll_done with run_lock held.
 */
#ifndef VDEV_NET_BACKEND_H
#define VDEV_NET_BACKEND_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vdev/types.h>

#include "netpeer/net_hdr.h"
#include "netpeer/net_offload.h"

struct net;

enum net_tx_result {
    NET_TX_SENT,    /* on the wire (counted) */
    NET_TX_DROPPED, /* dropped and counted; the chain is used */
    NET_TX_BLOCKED, /* no room now: the chain goes back, tx waits (n->tx_blocked) */
    NET_TX_FAILED,  /* the driver broke a rule: leave the queue alone */
};

#define NET_BE_FDS 4 /* pollfds a backend may add to the data thread's poll */

struct net_backend {
    /* One frame from the guest, its header checked against the negotiated features
     * (src->skip bytes in src->iov is where the frame starts). Counts what it sends,
     * records it to the capture, may change *h. */
    enum net_tx_result (*tx)(struct net *n, struct net_hdr *h, const struct net_src *src);
    /* End of a tx batch in which something was sent. */
    void (*tx_flush)(struct net *n);
    /* The next frame for the guest (header + frame, the header in virtio 1.x form, what the
     * guest may not take converted already or left to net_rx's checks), or NULL. It stays
     * the next one until rx_release (the guest may have no buffers for it yet). */
    const uint8_t *(*rx_peek)(struct net *n, size_t *len);
    void (*rx_release)(struct net *n);
    /* The data thread is about to sleep with rx idle: true when frames arrived meanwhile. */
    bool (*rx_sleep)(struct net *n);
    /* n->features changed (driver start or reset). */
    void (*features_changed)(struct net *n);
    /* Before poll: fills fds[0..NET_BE_FDS) (fd -1 = unused) and returns the longest the
     * thread may sleep for the backend's sake (ms; -1 = no limit). */
    int (*poll_prepare)(struct net *n, struct pollfd *fds);
    /* After poll (r: poll's result): services what the fds reported. */
    void (*poll_done)(struct net *n, const struct pollfd *fds, int r);
};

extern const struct net_backend net_be_peer, net_be_tap;

/* net_be_tap.c: attaches n->tap_name (at `configured`); 0, or -1 with err set. */
int net_tap_open(struct net *n, struct vdev_err *err);
void net_tap_close(struct net *n);
/* A TAP the host peer handed over (net_be_peer.c): n->tap moves the frames through `fd`
 * (ours now, closed by net_tap_close) with net_be_tap's calls; 0, or -1 (fd closed). */
int net_tap_adopt(struct net *n, int fd, const char *ifname);
/* n->tap is there and works (a handed TAP that failed is not). */
bool net_tap_ready(const struct net *n);
/* The fd to poll for frames, or -1 while the guest cannot take them or the TAP failed. */
int net_tap_poll_fd(const struct net *n);
/* What poll said of that fd (an error: the TAP failed). */
void net_tap_poll_done(struct net *n, short revents);

#endif
