/* The peer link's control messages on the endpoint sockets (SOCK_SEQPACKET, one message per
 * packet, fds passed with SCM_RIGHTS). See docs/peer-link.md.
 *
 * Each end connects to the other's endpoint and sends HELLO on that connection with the
 * ring it receives on; the accepting end maps the ring (it becomes its transmit ring) and
 * answers ACK, or REFUSE with a reason and hangs up. Later FEATURES messages travel on the
 * same connection as the HELLO that carried the earlier value, and so does a host peer's
 * PL_TAP; the NIC answers PL_TAP_TAKE on its own connection, and the host peer, which from
 * then on leaves the TAP alone, PL_TAP_RELEASED on its own: only then does the NIC use it.
 * Older ends ignore (and close the fds of) message types they do not know. */
#ifndef VDEV_NET_PEER_LINK_PROTO_H
#define VDEV_NET_PEER_LINK_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PL_MAGIC    0x4b4c5056u /* "VPLK" */
#define PL_VERSION  1u
#define PL_PATH_MAX 108u /* sun_path */
#define PL_MAX_FDS  3

enum pl_type {
    PL_HELLO = 1,        /* + 3 fds: ring memfd, rx-wakeup eventfd, tx-space eventfd */
    PL_ACK = 2,          /* the HELLO's ring is mapped */
    PL_REFUSE = 3,       /* followed by a hang-up */
    PL_FEATURES = 4,     /* the sender's guest renegotiated */
    PL_TAP = 5,          /* + 1 fd: the sender's (a host peer's) TAP; the receiver may use it */
    PL_TAP_TAKE = 6,     /* the receiver of PL_TAP will move the frames through that TAP */
    PL_TAP_RELEASED = 7, /* the sender of PL_TAP no longer reads it or sets its offloads */
};

struct pl_hdr {
    uint32_t magic;
    uint16_t version;
    uint16_t type;
};

struct pl_hello {
    struct pl_hdr h;
    uint64_t instance; /* random per open: tells a restarted peer from the old one */
    uint64_t features;
    uint32_t ring_size;
    uint8_t mac[6];
    uint8_t pad[2];
    uint64_t bind_dev, bind_ino; /* the sender's endpoint socket file (stat at bind) */
    char bind_path[PL_PATH_MAX]; /* the sender's endpoint */
    char peer_path[PL_PATH_MAX]; /* the endpoint the sender wants to reach */
};

struct pl_ack {
    struct pl_hdr h;
    uint64_t instance;
};

struct pl_refuse {
    struct pl_hdr h;
    char reason[200];
};

struct pl_features {
    struct pl_hdr h;
    uint64_t features;
};

struct pl_tap {
    struct pl_hdr h;
    char ifname[16]; /* the interface's name, for messages (the receiver asks the fd) */
};

struct pl_tap_step { /* PL_TAP_TAKE, PL_TAP_RELEASED */
    struct pl_hdr h;
};

union pl_msg {
    struct pl_hdr h;
    struct pl_hello hello;
    struct pl_ack ack;
    struct pl_refuse refuse;
    struct pl_features features;
    struct pl_tap tap;
    struct pl_tap_step tap_step;
    char raw[512]; /* anything longer is truncated and refused */
};

/* Sends one message with fds (up to 16: more than a HELLO may carry, so that tests can
 * send too many), never blocking: 0 or -errno (-EINVAL beyond 16). */
int pl_send(int sock, const void *msg, size_t len, const int *fds, int nfds);
/* Receives one message: its length (0 = hang-up), or -errno (-EAGAIN: nothing). All fds
 * that came with it are returned in fds[] (up to PL_MAX_FDS; extra ones are closed) and
 * the caller owns them; *nfds is -1 when the message or its fds were truncated. */
long pl_recv(int sock, union pl_msg *msg, int fds[PL_MAX_FDS], int *nfds);
void pl_close_fds(int *fds, int nfds);
void pl_hdr_init(struct pl_hdr *h, enum pl_type type);

#endif
