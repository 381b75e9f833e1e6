/* `vdevkit net-peer`: the host peer endpoint. Each peer joins a guest NIC's peer link to a
 * TAP interface of the host; one thread serves every peer from one epoll loop.
 *
 * guest -> tap: frames from our ring are written to the TAP with their virtio-net header
 *   (the kernel takes partial checksums and TSO frames as they are).
 * tap -> guest: the TAP gives frames with the offloads set by TUNSETOFFLOAD, which follows
 *   what the guest negotiated (the kernel segments and checksums the rest); a frame read
 *   across a feature change is converted here with net_offload. A full ring stops reading
 *   the TAP until the guest makes room (the kernel's queue then holds or drops).
 * While the link is down the interface stays, with its carrier off; what the TAP gives is
 * dropped and counted. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <vdev/config.h>

#include "host_owner.h"
#include "net_hdr.h"
#include "net_mac.h"
#include "net_offload.h"
#include "net_peer.h"
#include "tap_if.h"

#define NP_BATCH 64u
#define NP_HINT                                                                                    \
    "hint: peer=PATH,bind=PATH[,mac=MAC][,name=PREFIX|,tap=IFNAME][,netns=NAME][,offload=on|off]"

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
    bool tap_paused;    /* the TAP's EPOLLIN is off (while waiting_space) */
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

/* ---- options ---- */

static bool valid_prefix(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 12) /* IFNAMSIZ 16: room for up to three digits and the NUL */
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

int net_peer_parse(char *spec, struct net_peer_opts *o, struct vdev_err *err)
{
    memset(o, 0, sizeof(*o));
    o->offload = true;
    snprintf(o->ifname, sizeof(o->ifname), "vp");
    bool name_given = false;
    char *save = NULL;
    for (char *kv = strtok_r(spec, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *val = strchr(kv, '=');
        if (!val)
            return vdev_err_set(err, "'%s' is not KEY=VALUE (%s)", kv, NP_HINT);
        *val++ = '\0';
        if (!*val)
            return vdev_err_set(err, "option '%s' has an empty value (%s)", kv, NP_HINT);
        if (!strcmp(kv, "peer")) {
            o->peer = val;
        } else if (!strcmp(kv, "bind")) {
            o->bind = val;
        } else if (!strcmp(kv, "netns")) {
            o->netns = val;
        } else if (!strcmp(kv, "mac")) {
            const char *why;
            if (vdev_parse_mac(val, o->mac, &why)) /* the config language's MAC rules */
                return vdev_err_set(err,
                                    "mac=%s: %s (hint: six hex bytes, the first one even, such "
                                    "as 52:54:00:12:34:56)",
                                    val, why);
            o->mac_given = true;
        } else if (!strcmp(kv, "tap")) {
            if (strlen(val) >= sizeof(o->ifname) || strchr(val, '/') || !strcmp(val, ".") ||
                !strcmp(val, ".."))
                return vdev_err_set(
                    err, "tap=%s is not an interface name (hint: 1 to 15 characters)", val);
            snprintf(o->ifname, sizeof(o->ifname), "%s", val);
            o->existing = true;
        } else if (!strcmp(kv, "name")) {
            name_given = true;
            if (!valid_prefix(val))
                return vdev_err_set(err,
                                    "name=%s is not an interface name prefix (hint: 1 to 12 "
                                    "letters, digits, '_', '-' or '.'; the number is appended)",
                                    val);
            snprintf(o->ifname, sizeof(o->ifname), "%s", val);
        } else if (!strcmp(kv, "offload")) {
            if (strcmp(val, "on") && strcmp(val, "off"))
                return vdev_err_set(err, "offload=%s: expected 'on' or 'off'", val);
            o->offload = !strcmp(val, "on");
        } else {
            return vdev_err_set(err, "unknown option '%s' (%s)", kv, NP_HINT);
        }
    }
    if (!o->peer)
        return vdev_err_set(err, "missing peer=PATH (hint: the guest NIC's endpoint, "
                                 "RUNTIME_DIR/SYSTEM/NAME, e.g. /run/vdevkit/guest0/eth0)");
    if (!o->bind)
        return vdev_err_set(err, "missing bind=PATH (hint: this end's endpoint, which the guest's "
                                 "'peer' names, e.g. /run/vdevkit/host/vp0)");
    if (o->existing && name_given)
        return vdev_err_set(err, "tap= and name= exclude each other (hint: tap=IFNAME attaches to "
                                 "an existing interface, name=PREFIX names the ones made here)");
    if (!o->mac_given)
        net_mac_derive("host", o->bind, o->mac); /* stable across restarts */
    return 0;
}

/* ---- logging and counters ---- */

static void np_log(struct np_peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void np_log(struct np_peer *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "net-peer: %s: ", p->o.ifname);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Per-frame trouble: at most 10 messages a second per peer (a guest can make errors fast). */
static bool log_allowed(struct np_peer *p)
{
    uint64_t now = (uint64_t)time(NULL);
    if (now != p->log_window)
        p->log_window = now, p->log_used = 0;
    return p->log_used++ < 10;
}

static void link_log(void *opaque, enum vdev_log_level level, const char *msg)
{
    if (level <= VDEV_LOG_INFO)
        np_log(opaque, "%s", msg);
}

static void print_status(const struct np *np, FILE *out)
{
    for (unsigned i = 0; i < np->n; i++) {
        const struct np_peer *p = &np->p[i];
        const struct np_stats *s = &p->st;
        struct peer_link_stats ls = {0};
        if (p->link)
            peer_link_get_stats(p->link, &ls);
        char mac[18];
        net_mac_format(p->o.mac, mac);
        fprintf(out,
                "%s peer %s bind %s mac %s link %s to-tap %llu frames %llu bytes to-guest %llu "
                "frames %llu bytes drops link-down %llu ring-full %llu bad-header %llu "
                "tap-errors %llu sw-gso %llu frames %llu segments sw-csum %llu link connects "
                "%llu disconnects %llu bad-records %llu\n",
                p->o.ifname, p->o.peer, p->o.bind, mac, p->up ? "up" : "down",
                (unsigned long long)s->tap_frames, (unsigned long long)s->tap_bytes,
                (unsigned long long)s->guest_frames, (unsigned long long)s->guest_bytes,
                (unsigned long long)s->drop_link_down, (unsigned long long)s->drop_ring_full,
                (unsigned long long)s->bad_header, (unsigned long long)s->tap_errors,
                (unsigned long long)s->sw_gso_frames, (unsigned long long)s->sw_gso_segments,
                (unsigned long long)s->sw_csum, (unsigned long long)ls.connects,
                (unsigned long long)ls.disconnects, (unsigned long long)ls.bad_frames);
    }
    fflush(out);
}

/* ---- link state ---- */

static void tap_events(struct np_peer *p, bool on)
{
    if (p->tap_paused == !on)
        return;
    struct epoll_event ev = {.events = on ? EPOLLIN : 0, .data.u64 = TAG(p - p->np->p, TAG_TAP)};
    epoll_ctl(p->np->ep, EPOLL_CTL_MOD, p->tap, &ev);
    p->tap_paused = !on;
}

static void state_changed(void *opaque, bool up)
{
    struct np_peer *p = opaque;
    p->up = up;
    if (!up) {
        p->offload_valid = false; /* the next guest may negotiate otherwise */
        p->waiting_space = false;
        tap_events(p, true); /* drain (and count) what the TAP gives while down */
    }
    int r = tap_if_set_carrier(p->tap, up);
    if (r < 0 && !p->carrier_warned) {
        p->carrier_warned = true;
        np_log(p, "cannot set the carrier (TUNSETCARRIER needs Linux 5.0): %s", strerror(-r));
    }
    np_log(p, "link %s, carrier %s", up ? "up" : "down", up ? "on" : "off");
}

/* TUNSETOFFLOAD follows what the guest negotiated (again after each driver reset). */
static void sync_offload(struct np_peer *p)
{
    if (!p->up)
        return;
    uint64_t want = p->o.offload ? peer_link_peer_features(p->link) & NET_GUEST_OFFLOADS : 0;
    if (p->offload_valid && want == p->offload_applied)
        return;
    int r = tap_if_set_offload(p->tap, want);
    if (r < 0)
        np_log(p, "TUNSETOFFLOAD: %s (the kernel keeps its previous offloads)", strerror(-r));
    p->offload_valid = true;
    p->offload_applied = want;
}

/* ---- guest -> tap ---- */

static void to_tap(struct np_peer *p, const uint8_t *f, size_t len)
{
    if (len < NET_HDR_LEN + ETH_HLEN || len > PEER_LINK_MAX_FRAME) {
        p->st.bad_header++;
        if (log_allowed(p))
            np_log(p, "%zu-byte record from the guest dropped", len);
        return;
    }
    uint8_t raw[NET_HDR_LEN];
    memcpy(raw, f, NET_HDR_LEN); /* once: the guest's process may change the ring meanwhile */
    struct net_hdr h;
    net_hdr_load(&h, raw);
    size_t flen = len - NET_HDR_LEN;
    unsigned type = h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    const char *why = NULL;
    if (h.flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
        why = "unknown flags";
    else if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
             (h.csum_start >= flen || (size_t)h.csum_start + h.csum_offset + 2 > flen))
        why = "checksum offsets outside the frame";
    else if (type != VIRTIO_NET_HDR_GSO_NONE && type != VIRTIO_NET_HDR_GSO_TCPV4 &&
             type != VIRTIO_NET_HDR_GSO_TCPV6)
        why = "unsupported GSO type";
    else if (type != VIRTIO_NET_HDR_GSO_NONE &&
             (!h.gso_size || !(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)))
        why = "GSO frame without gso_size or NEEDS_CSUM";
    if (why) {
        p->st.bad_header++;
        if (log_allowed(p))
            np_log(p, "frame from the guest dropped: %s", why);
        return;
    }
    h.num_buffers = 0;
    net_hdr_store(&h, raw);
    struct iovec iov[2] = {{raw, NET_HDR_LEN}, {(void *)(f + NET_HDR_LEN), flen}};
    if (writev(p->tap, iov, 2) < 0) {
        int e = errno;
        p->st.tap_errors++; /* EINVAL: the kernel refused the header */
        if (log_allowed(p))
            np_log(p, "writing a %zu-byte frame to the tap: %s", flen, strerror(e));
        return;
    }
    p->st.tap_frames++;
    p->st.tap_bytes += flen;
}

/* ---- tap -> guest ---- */

/* A GSO frame the guest cannot take (read across a feature change): segment it from a
 * private copy into the ring. */
static bool segment_to_guest(struct np *np, struct np_peer *p, const struct net_hdr *h, size_t flen)
{
    struct net_tso t;
    const char *why;
    size_t hl = flen < NET_TSO_MAX_HDR ? flen : NET_TSO_MAX_HDR;
    if (net_tso_prepare(&t, np->scratch, hl, flen, h->gso_type, h->gso_size, &why)) {
        p->st.bad_header++;
        if (log_allowed(p))
            np_log(p, "GSO frame from the tap dropped: %s", why);
        return false;
    }
    struct iovec iv = {np->scratch, flen};
    struct net_src src = {.iov = &iv, .niov = 1, .skip = 0, .len = flen};
    bool sent = false;
    for (unsigned i = 0; i < t.nsegs; i++) {
        /* this segment's length: hdr_len + mss may exceed any record, a segment never
         * exceeds the frame */
        uint8_t *q = peer_link_tx_reserve(p->link, NET_HDR_LEN + net_tso_seg_len(&t, i));
        if (!q) {
            p->st.drop_ring_full += t.nsegs - i; /* TCP retransmits them */
            break;
        }
        memset(q, 0, NET_HDR_LEN);
        size_t sl = net_tso_segment(&t, np->scratch, &src, i, q + NET_HDR_LEN);
        peer_link_tx_commit(p->link, NET_HDR_LEN + sl);
        p->st.guest_frames++;
        p->st.guest_bytes += sl;
        p->st.sw_gso_segments++;
        sent = true;
    }
    p->st.sw_gso_frames++;
    return sent;
}

/* Converts the frame just read into the ring at d (n bytes with the header) for the guest's
 * features and publishes it. True if something was published. */
static bool publish(struct np *np, struct np_peer *p, uint8_t *d, size_t n)
{
    struct net_hdr h;
    net_hdr_load(&h, d);
    size_t flen = n - NET_HDR_LEN;
    uint64_t pf = p->o.offload ? peer_link_peer_features(p->link) : 0;
    if ((h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_NONE &&
        !net_guest_takes_gso(pf, h.gso_type)) {
        memcpy(np->scratch, d + NET_HDR_LEN, flen);
        peer_link_tx_commit(p->link, 0); /* cancel: the segments take its place */
        return segment_to_guest(np, p, &h, flen);
    }
    if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !(pf & NET_BIT(VIRTIO_NET_F_GUEST_CSUM))) {
        if (net_csum_complete(d + NET_HDR_LEN, flen, h.csum_start, h.csum_offset)) {
            peer_link_tx_commit(p->link, 0);
            p->st.bad_header++;
            return false;
        }
        p->st.sw_csum++;
        h.flags = 0;
        h.csum_start = h.csum_offset = 0;
    }
    h.num_buffers = 0;
    net_hdr_store(&h, d);
    peer_link_tx_commit(p->link, n);
    p->st.guest_frames++;
    p->st.guest_bytes += flen;
    return true;
}

/* Up to NP_BATCH frames from the TAP; returns how many were taken. */
static unsigned from_tap(struct np *np, struct np_peer *p)
{
    unsigned k;
    bool sent = false;
    for (k = 0; k < NP_BATCH; k++) {
        if (!peer_link_up(p->link)) {
            if (read(p->tap, np->scratch, PEER_LINK_MAX_FRAME) < 0)
                break;
            p->st.drop_link_down++;
            continue;
        }
        uint8_t *d = peer_link_tx_reserve(p->link, PEER_LINK_MAX_FRAME);
        if (!d && !peer_link_tx_want_space(p->link, PEER_LINK_MAX_FRAME)) {
            p->waiting_space = true; /* tx_space_fd says when */
            tap_events(p, false);
            break;
        }
        if (!d && !(d = peer_link_tx_reserve(p->link, PEER_LINK_MAX_FRAME)))
            break;
        ssize_t n = read(p->tap, d, PEER_LINK_MAX_FRAME);
        if (n < 0) {
            int e = errno;
            peer_link_tx_commit(p->link, 0);
            if (e != EAGAIN && e != EINTR) {
                p->st.tap_errors++;
                if (log_allowed(p))
                    np_log(p, "reading the tap: %s", strerror(e));
            }
            break;
        }
        if ((size_t)n < NET_HDR_LEN + ETH_HLEN) {
            peer_link_tx_commit(p->link, 0);
            p->st.bad_header++;
            continue;
        }
        sent |= publish(np, p, d, (size_t)n);
    }
    if (sent)
        peer_link_tx_flush(p->link);
    return k;
}

/* Services one peer; true when there is more to do at once. */
static bool pump(struct np *np, struct np_peer *p)
{
    peer_link_service(p->link);
    sync_offload(p);
    bool busy = false;
    unsigned k = 0;
    size_t len;
    const uint8_t *f;
    while (k < NP_BATCH && (f = peer_link_rx_peek(p->link, &len))) {
        to_tap(p, f, len);
        peer_link_rx_release(p->link);
        k++;
    }
    busy |= k == NP_BATCH;
    if (!p->waiting_space)
        busy |= from_tap(np, p) == NP_BATCH;
    if (!busy && peer_link_up(p->link) && peer_link_rx_sleep(p->link))
        busy = true;
    return busy;
}

/* ---- the command ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vdevkit net-peer [-p] peer=PATH,bind=PATH[,mac=MAC][,name=PREFIX|,tap=IFNAME]"
            "[,netns=NAME][,offload=on|off] ...\n"
            "  one argument per guest NIC; each gets a TAP interface PREFIX0, PREFIX1, ...\n"
            "  (default prefix vp) that carries the NIC's frames, or attaches to the existing\n"
            "  TAP IFNAME (tap=: made with 'ip tuntap add IFNAME mode tap'; it and its addresses\n"
            "  outlive this process). SIGUSR1 prints the counters; SIGTERM or SIGINT removes\n"
            "  the interfaces made here and the endpoints, and exits.\n"
            "  See docs/networking.md.\n");
}

static void drain_fd(int fd)
{
    uint64_t v;
    if (read(fd, &v, sizeof(v)) < 0) {
        /* EAGAIN: nothing to drain */
    }
}

static int ep_add(int ep, int fd, uint32_t events, uint64_t tag)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* The endpoint's folder (e.g. /run/vdevkit/host) is made if missing, as a VM makes its own,
 * component by component; an existing one another user owns or may change is refused. */
static int make_parents(const char *path, struct vdev_err *err)
{
    char why[VDEV_ERR_MAX];
    if (host_owner_check_parent(path, true, 0755, true,
                                "bind endpoints in a folder of this user, such as the run-time "
                                "folder",
                                why, sizeof(why)))
        return vdev_err_set(err, "bind=%s: %s", path, why);
    return 0;
}

static int setup(struct np *np, struct vdev_err *err)
{
    for (unsigned i = 0; i < np->n; i++) {
        struct np_peer *p = &np->p[i];
        p->tap = net_peer_tap_open(&p->o, err);
        if (p->tap < 0)
            return -1;
    }
    for (unsigned i = 0; i < np->n; i++) {
        struct np_peer *p = &np->p[i];
        struct peer_link_cfg cfg = {
            .bind_path = p->o.bind,
            .peer_path = p->o.peer,
            .features = p->o.offload ? NET_GUEST_OFFLOADS : 0, /* what the TAP can take */
            .state_changed = state_changed,
            .log = link_log,
            .opaque = p,
        };
        memcpy(cfg.mac, p->o.mac, 6);
        if (make_parents(p->o.bind, err))
            return -1;
        struct vdev_err lerr = {0};
        p->link = peer_link_open(&cfg, &lerr);
        if (!p->link)
            return vdev_err_set(err, "%s: bind=%s: %s", p->o.ifname, p->o.bind, lerr.msg);
        if (ep_add(np->ep, p->tap, EPOLLIN, TAG(i, TAG_TAP)) ||
            ep_add(np->ep, peer_link_fd(p->link), EPOLLIN, TAG(i, TAG_LINK)) ||
            ep_add(np->ep, peer_link_rx_fd(p->link), EPOLLIN, TAG(i, TAG_RX)) ||
            ep_add(np->ep, peer_link_tx_space_fd(p->link), EPOLLIN, TAG(i, TAG_SPACE)))
            return vdev_err_set(err, "epoll: %s", strerror(errno));
        char mac[18];
        net_mac_format(p->o.mac, mac);
        np_log(p, "mac %s, endpoint %s, peer %s%s%s", mac, p->o.bind, p->o.peer,
               p->o.netns ? ", netns " : "", p->o.netns ? p->o.netns : "");
    }
    return 0;
}

static void run(struct np *np)
{
    for (;;) {
        bool busy = false;
        int timeout = -1;
        for (unsigned i = 0; i < np->n; i++) {
            busy |= pump(np, &np->p[i]);
            int t = peer_link_timeout_ms(np->p[i].link);
            if (t >= 0 && (timeout < 0 || t < timeout))
                timeout = t;
        }
        struct epoll_event evs[32];
        int ne = epoll_wait(np->ep, evs, 32, busy ? 0 : timeout);
        for (int e = 0; e < ne; e++) {
            unsigned kind = evs[e].data.u64 & 0xff, i = (unsigned)(evs[e].data.u64 >> 8);
            if (kind == TAG_SIGNAL) {
                struct signalfd_siginfo si;
                if (read(np->sfd, &si, sizeof(si)) != sizeof(si))
                    continue;
                if (si.ssi_signo == SIGUSR1)
                    print_status(np, stdout);
                else
                    return;
            } else if (kind == TAG_SPACE) {
                drain_fd(peer_link_tx_space_fd(np->p[i].link));
                np->p[i].waiting_space = false;
                tap_events(&np->p[i], true);
            } else if (kind == TAG_RX) {
                drain_fd(peer_link_rx_fd(np->p[i].link));
            }
        }
    }
}

int vmm_cmd_net_peer(int argc, char **argv)
{
    struct np np = {.ep = -1, .sfd = -1};
    int rc = 2;
    struct vdev_err err = {0};
    np.p = calloc((size_t)argc, sizeof(*np.p));
    np.scratch = malloc(PEER_LINK_MAX_FRAME);
    if (!np.p || !np.scratch) {
        fprintf(stderr, "net-peer: out of memory\n");
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto out;
        }
        if (!strcmp(a, "-p")) {
            if (++i == argc) {
                fprintf(stderr, "net-peer: -p needs a peer's options (%s)\n", NP_HINT);
                goto out;
            }
            a = argv[i];
        }
        char *orig = strdup(a);
        struct np_peer *p = &np.p[np.n];
        if (!orig || net_peer_parse(a, &p->o, &err)) {
            fprintf(stderr, "net-peer: in '%s': %s\n", orig ? orig : a,
                    orig ? err.msg : "out of memory");
            free(orig);
            goto out;
        }
        free(orig);
        p->tap = -1;
        p->np = &np;
        if (!p->o.existing) {
            snprintf(p->prefix, sizeof(p->prefix), "%s", p->o.ifname);
            unsigned same = 0; /* vp0, vp1, ...: numbered per prefix */
            for (unsigned j = 0; j < np.n; j++)
                same += !strcmp(np.p[j].prefix, p->prefix);
            char name[32];
            snprintf(name, sizeof(name), "%s%u", p->prefix, same);
            if (strlen(name) >= sizeof(p->o.ifname)) {
                fprintf(stderr, "net-peer: interface name %s is too long (hint: a shorter name=)\n",
                        name);
                goto out;
            }
            memcpy(p->o.ifname, name, strlen(name) + 1);
        }
        np.n++;
    }
    if (!np.n) {
        usage(stderr);
        goto out;
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    np.sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    np.ep = epoll_create1(EPOLL_CLOEXEC);
    if (np.sfd < 0 || np.ep < 0 || ep_add(np.ep, np.sfd, EPOLLIN, TAG(0, TAG_SIGNAL))) {
        fprintf(stderr, "net-peer: %s\n", strerror(errno));
        rc = 1;
        goto out;
    }
    if (setup(&np, &err)) {
        fprintf(stderr, "net-peer: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    run(&np);
    print_status(&np, stdout);
    rc = 0;
out:
    for (unsigned i = 0; np.p && i < np.n; i++) {
        peer_link_close(np.p[i].link); /* removes the endpoint */
        if (np.p[i].tap >= 0)
            close(np.p[i].tap); /* removes the interface */
    }
    if (np.ep >= 0)
        close(np.ep);
    if (np.sfd >= 0)
        close(np.sfd);
    free(np.p);
    free(np.scratch);
    return rc;
}
