/* `vdevkit net-peer`'s state, shared by the command (net_peer.c: options, set-up, the epoll
 * loop) and the data path (net_peer_path.c), and reached by fuzz_peer_host, which drives the
 * data path of one peer against a hostile guest and TAP. */
#ifndef TOOLS_NET_PEER_INTERNAL_H
#define TOOLS_NET_PEER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "net_peer.h"

#define NP_BATCH 64u /* frames per direction per pass before the loop looks elsewhere */

struct np_stats {
    uint64_t tap_frames, tap_bytes;     /* guest -> tap */
    uint64_t guest_frames, guest_bytes; /* tap -> guest */
    uint64_t drop_link_down, drop_ring_full, bad_header, tap_errors;
    uint64_t sw_gso_frames, sw_gso_segments, sw_csum;
};

struct np;

struct np_peer {
    struct np *np; /* the process's state (the epoll set) */
    struct net_peer_opts o;
    char prefix[16];
    int tap;
    struct peer_link *link;
    bool up;
    bool offload_valid; /* offload_applied is what the TAP has */
    uint64_t offload_applied;
    bool waiting_space; /* the ring was full: the TAP is not read until room appears */
    bool tap_paused;    /* the TAP's EPOLLIN is off (while waiting_space, or handed) */
    bool handed;        /* the guest's NIC took the TAP (peer_link_tap_taken): hands off */
    bool carrier_warned;
    uint64_t log_window;
    unsigned log_used;
    struct np_stats st;
};

struct np {
    struct np_peer *p;
    unsigned n;
    int ep, sfd;
    uint8_t *scratch; /* one frame, for software segmentation */
};

enum { TAG_SIGNAL = 0, TAG_TAP, TAG_LINK, TAG_RX, TAG_SPACE };
#define TAG(i, kind) ((uint64_t)(i) << 8 | (kind))

/* Resets an eventfd epoll reported readable (EAGAIN: nothing to drain). */
static inline void np_drain_fd(int fd)
{
    uint64_t v;
    if (read(fd, &v, sizeof(v)) < 0) {
        /* nothing to drain */
    }
}

static inline int np_ep_add(int ep, int fd, uint32_t events, uint64_t tag)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* ---- net_peer_path.c ---- */

void np_log(struct np_peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The peer link's messages (peer_link_cfg.log). */
void np_link_log(void *opaque, enum vdev_log_level level, const char *msg);
/* The TAP's EPOLLIN on or off (off while the guest's ring is full). */
void np_tap_events(struct np_peer *p, bool on);
/* The link went up or down (peer_link_cfg.state_changed): the carrier follows. */
void np_state_changed(void *opaque, bool up);
/* Services one peer (link, offloads, both directions); true when there is more to do at once. */
bool np_pump(struct np *np, struct np_peer *p);

#endif
