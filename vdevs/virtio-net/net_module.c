/* vdev virtio-net: a virtio 1.x network card whose wire is a peer link to another VM, or
 * an existing TAP interface of the host.
 *
 *   vdev virtio-net name curly peer /run/vdevkit/sys1/moe mac 52:54:00:00:00:01
 *   vdev virtio-net tap vm0
 *
 * Options (besides the common loc, intr, name, log):
 *   mac XX:XX:XX:XX:XX:XX  default: derived from the system and vdev names (net_mac.h)
 *   peer PATH              the other end's endpoint; needs `name` (our own endpoint)
 *   tap NAME               attach to the host's TAP interface NAME, made beforehand with
 *                          `ip tuntap add NAME mode tap [user U]` (not with `peer`)
 *   peerfeats MASK         guest offloads the peer may be sent (default: all; the link
 *                          tells which ones the peer's guest negotiated)
 *   mtu N                  the MTU offered with VIRTIO_NET_F_MTU (68..65535, default 1500)
 *   capture FILE           record the NIC's frames to a pcap file (relative: to the
 *                          working directory); `vdevkit capture` starts/stops at run time
 *   poll-us N              busy-poll the rings and the link up to N us (<= 1000) before
 *                          asking the guest to kick and sleeping (default 0: off)
 *   notf-coal              offer VIRTIO_NET_F_NOTF_COAL (the guest's `ethtool -C`)
 *   coalesce-{rx,tx}-us N  hold a queue's interrupt up to N us (<= 10000) for drivers that
 *   coalesce-{rx,tx}-frames N   set none, or until N frames (default 256) were used
 *   coalesce-adaptive      ... only while frames keep coming (a quiet queue's is not held)
 *   queues N               queue pairs (1..16, default 1); more than 1 offers MQ and RSS
 *   legacy                 qvm's virtio-mmio version 1: recognized, refused (not supported)
 * See docs/virtio-net.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <vdev/machine.h>

#include "net.h"
#include "net_backend.h"
#include "net_capture.h"
#include "netpeer/net_mac.h"
#include "netpeer/peer_link.h"

#define PEERFEATS_DEFAULT NET_GUEST_OFFLOADS

static const struct vdev_option net_options[] = {
    {.name = "mac",
     .kind = VDEV_OPT_MAC,
     .arg = "XX:XX:XX:XX:XX:XX",
     .def = "derived from the system and vdev names",
     .help = "the NIC's MAC address (unicast, not all zero)"},
    {.name = "peer",
     .kind = VDEV_OPT_PATH,
     .arg = "PATH",
     .help = "the endpoint of the other end of the link (RUNTIME_DIR/SYSTEM/NAME)"},
    {.name = "tap",
     .kind = VDEV_OPT_STRING,
     .arg = "NAME",
     .help = "attach to the existing host TAP interface NAME instead of a peer link (make it "
             "first: ip tuntap add NAME mode tap [user USER])"},
    {.name = "peerfeats",
     .kind = VDEV_OPT_U64,
     .arg = "MASK",
     .def = "0x382",
     .help = "virtio-net guest offloads the peer may be sent (CSUM 0x2, TSO4 0x80, TSO6 0x100, "
             "ECN 0x200), within what the peer reports"},
    {.name = "mtu",
     .kind = VDEV_OPT_U64,
     .arg = "N",
     .def = "1500",
     .help = "MTU offered to the guest",
     .min = 68,
     .max = 65535},
    {.name = "capture",
     .kind = VDEV_OPT_STRING,
     .arg = "FILE",
     .help = "record the NIC's frames, both directions, to a pcap file (mode 0600; a relative "
             "name is relative to the working directory)"},
    {.name = "poll-us",
     .kind = VDEV_OPT_U64,
     .arg = "N",
     .def = "0",
     .help = "busy-poll the rings and the link up to N microseconds (0 to 1000) before asking "
             "the guest to kick and sleeping; 0 = off"},
    {.name = "notf-coal",
     .kind = VDEV_OPT_FLAG,
     .help = "offer VIRTIO_NET_F_NOTF_COAL: the guest sets interrupt coalescing (ethtool -C)"},
    {.name = "coalesce-rx-us",
     .kind = VDEV_OPT_U64,
     .arg = "N",
     .def = "0",
     .help = "hold a receive interrupt up to N microseconds (0 to 10000) while the driver set "
             "no coalescing of its own; 0 = off"},
    {.name = "coalesce-rx-frames",
     .kind = VDEV_OPT_U64,
     .arg = "N",
     .def = "256",
     .help = "... or until N frames (2 to 256) were received"},
    {.name = "coalesce-tx-us",
     .kind = VDEV_OPT_U64,
     .arg = "N",
     .def = "0",
     .help = "hold a transmit-completion interrupt up to N microseconds (0 to 10000) while the "
             "driver set no coalescing of its own; 0 = off"},
    {.name = "coalesce-tx-frames",
     .kind = VDEV_OPT_U64,
     .arg = "N",
     .def = "256",
     .help = "... or until N frames (2 to 256) were sent"},
    {.name = "coalesce-adaptive",
     .kind = VDEV_OPT_FLAG,
     .help = "the coalesce-* defaults hold an interrupt only while frames keep coming: one on a "
             "queue quiet for the coalesce-*-us time goes at once"},
    {.name = "queues",
     .kind = VDEV_OPT_U64,
     .arg = "N",
     .def = "1",
     .help = "queue pairs (1 to 16): more than 1 offers VIRTIO_NET_F_MQ and VIRTIO_NET_F_RSS, "
             "so a guest with several vCPUs spreads its traffic over them"},
    /* Recognized so that a qvm configuration gets a clear refusal, not "unknown option". */
    {.name = "legacy",
     .kind = VDEV_OPT_FLAG,
     .help = "virtio-mmio version 1 (legacy): not supported, the configuration is refused"},
    {.name = NULL},
};

static int net_options_start(struct vdev *d)
{
    struct net *n = vdev_state(d);
    n->d = d;
    n->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (n->wake_fd < 0)
        return vdev_error(d, vdev_pos(d), NULL, "eventfd: %s", strerror(errno));
    pthread_mutex_init(&n->cfg_lock, NULL);
    pthread_mutex_init(&n->run_lock, NULL);
    n->peerfeats = PEERFEATS_DEFAULT;
    n->mtu = 1500;
    n->pairs = 1;
    n->now_ns = net_now_ns;
    n->coal.def[NET_Q_RX].frames = n->coal.def[NET_Q_TX].frames = NET_COAL_MAX_FRAMES;
    net_filter_reset(n);
    n->ready = true;
    return 0;
}

/* `capture FILE` is relative to the working directory at start-up, not to the
 * configuration's folder: it names an output, like a shell redirection. */
static char *absolute_path(const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        return NULL;
    size_t len = strlen(cwd) + 1 + strlen(path) + 1;
    char *abs = malloc(len);
    if (abs)
        snprintf(abs, len, "%s/%s", cwd, path);
    return abs;
}

/* qvm names a peer /dev/qvm/SYSTEM/NAME; here that endpoint is RUNTIME_DIR/SYSTEM/NAME (the
 * folder every VM's named endpoints live in), so qvm configurations link as written. */
#define QVM_PEER_PREFIX "/dev/qvm/"

static char *qvm_peer_path(struct vdev *d, const char *path)
{
    if (strncmp(path, QVM_PEER_PREFIX, strlen(QVM_PEER_PREFIX)) != 0)
        return strdup(path);
    const char *base = vdev_machine_runtime_base(vdev_machine_of(d));
    const char *rest = path + strlen(QVM_PEER_PREFIX);
    size_t len = strlen(base) + 1 + strlen(rest) + 1;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%s/%s", base, rest);
    return out;
}

/* The levers' numbers: range errors with what the value does, so the hint can say it. */
static int lever_option(struct vdev *d, struct net *n, const struct vdev_optval *v)
{
    const char *o = v->opt->name;
    if (!strcmp(o, "poll-us")) {
        if (v->num > NET_POLL_MAX_US)
            return vdev_error(d, v->pos,
                              "the data thread spins on a CPU for up to this long whenever it "
                              "runs out of work; tens to a few hundred microseconds is usual",
                              "poll-us %s is out of range (0 to %u microseconds)", v->text,
                              NET_POLL_MAX_US);
        n->poll_us = (unsigned)v->num;
        return 0;
    }
    unsigned q = strstr(o, "-rx-") ? NET_Q_RX : NET_Q_TX;
    if (strstr(o, "-us")) {
        if (v->num > NET_COAL_OPT_MAX_US)
            return vdev_error(d, v->pos,
                              "every interrupt may be this late; tens to a few hundred "
                              "microseconds is usual",
                              "%s %s is out of range (0 to %u microseconds)", o, v->text,
                              NET_COAL_OPT_MAX_US);
        n->coal.def[q].usecs = (uint32_t)v->num;
    } else {
        if (v->num < 2 || v->num > NET_COAL_MAX_FRAMES)
            return vdev_error(d, v->pos,
                              "1 would notify every frame, and more than the queue holds "
                              "cannot be waited for: leave it out for 256",
                              "%s %s is out of range (2 to %u frames)", o, v->text,
                              NET_COAL_MAX_FRAMES);
        n->coal.def[q].frames = (uint32_t)v->num;
        n->coal_frames_pos[q] = v->pos;
        n->coal_frames_given[q] = true;
    }
    return 0;
}

static int net_option(struct vdev *d, const struct vdev_optval *v)
{
    struct net *n = vdev_state(d);
    const char *o = v->opt->name;
    if (!strcmp(o, "mac")) {
        memcpy(n->cfg_mac, v->mac, 6);
        n->mac_given = true;
        n->mac_pos = v->pos;
    } else if (!strcmp(o, "peer")) {
        free(n->peer_path);
        n->peer_path = qvm_peer_path(d, v->path);
        if (!n->peer_path)
            return vdev_error(d, v->pos, NULL, "out of memory");
    } else if (!strcmp(o, "tap")) {
        if (!v->text[0] || strlen(v->text) >= IFNAMSIZ || strpbrk(v->text, "/ \t:") ||
            !strcmp(v->text, ".") || !strcmp(v->text, ".."))
            return vdev_error(d, v->pos,
                              "an interface name has 1 to 15 characters, no '/', ':' "
                              "or blank",
                              "tap '%s': not an interface name", v->text);
        free(n->tap_name);
        n->tap_name = strdup(v->text);
        n->tap_pos = v->pos;
        if (!n->tap_name)
            return vdev_error(d, v->pos, NULL, "out of memory");
    } else if (!strcmp(o, "peerfeats")) {
        n->peerfeats = v->num;
    } else if (!strcmp(o, "mtu")) {
        n->mtu = (unsigned)v->num;
    } else if (!strcmp(o, "capture")) {
        free(n->cap_opt);
        n->cap_opt = absolute_path(v->text);
        if (!n->cap_opt)
            return vdev_error(d, v->pos, NULL, "capture %s: %s", v->text, strerror(errno));
    } else if (!strcmp(o, "poll-us") || !strncmp(o, "coalesce-rx-", 12) ||
               !strncmp(o, "coalesce-tx-", 12)) {
        return lever_option(d, n, v);
    } else if (!strcmp(o, "queues")) {
        if (v->num < 1 || v->num > NET_MAX_PAIRS)
            return vdev_error(d, v->pos,
                              "one pair per guest vCPU that handles network traffic is usual; "
                              "1 (the default) offers no multiqueue",
                              "queues %s is out of range (1 to %u queue pairs)", v->text,
                              NET_MAX_PAIRS);
        n->pairs = (unsigned)v->num;
    } else if (!strcmp(o, "notf-coal")) {
        n->coal.offer = true;
    } else if (!strcmp(o, "coalesce-adaptive")) {
        n->coal.adaptive = true;
        n->coal_adaptive_pos = v->pos;
    } else if (!strcmp(o, "legacy")) {
        return vdev_error(d, v->pos,
                          "drop it: stock kernels drive virtio-mmio version 2, which vdevkit "
                          "provides",
                          "option 'legacy' (virtio-mmio version 1) is not supported");
    }
    return 0;
}

static size_t device_index(struct vdev *d)
{
    struct vdev_machine *m = vdev_machine_of(d);
    size_t count = vdev_machine_device_count(m);
    for (size_t i = 0; i < count; i++)
        if (vdev_machine_device(m, i) == d)
            return i;
    return count;
}

/* Every NIC of a VM needs its own MAC (qvm says so too): the guest's stack and any bridge
 * its frames reach would otherwise mix the two up. The NICs before this one have theirs. */
static int check_unique_mac(struct vdev *d, const struct net *n)
{
    struct vdev_machine *m = vdev_machine_of(d);
    size_t me = device_index(d);
    for (size_t i = 0; i < me; i++) {
        struct vdev *o = vdev_machine_device(m, i);
        if (strcmp(vdev_type_name(o), "virtio-net") != 0)
            continue;
        const struct net *on = vdev_state(o);
        if (memcmp(on->cfg_mac, n->cfg_mac, 6) != 0)
            continue;
        const uint8_t *a = n->cfg_mac;
        struct vdev_srcpos op = on->mac_given ? on->mac_pos : vdev_pos(o);
        return vdev_error(d, n->mac_given ? n->mac_pos : vdev_pos(d),
                          "give each NIC its own 'mac', or leave 'mac' out to get one made from "
                          "the system and NIC names",
                          "MAC %02x:%02x:%02x:%02x:%02x:%02x is already the MAC of the NIC at "
                          "%s:%u",
                          a[0], a[1], a[2], a[3], a[4], a[5], op.file, op.line);
    }
    return 0;
}

/* Options that do nothing without another one are refused, not silently ignored. */
static int check_levers(struct vdev *d, const struct net *n)
{
    static const char *const dir[] = {"rx", "tx"};
    for (unsigned q = 0; q < NET_COAL_DIRS; q++)
        if (n->coal_frames_given[q] && !n->coal.def[q].usecs) {
            char hint[96];
            snprintf(hint, sizeof(hint),
                     "add 'coalesce-%s-us N': frames are held at most that long", dir[q]);
            return vdev_error(d, n->coal_frames_pos[q], hint,
                              "option 'coalesce-%s-frames' does nothing without "
                              "'coalesce-%s-us'",
                              dir[q], dir[q]);
        }
    if (n->coal.adaptive && !n->coal.def[NET_Q_RX].usecs && !n->coal.def[NET_Q_TX].usecs)
        return vdev_error(d, n->coal_adaptive_pos,
                          "add 'coalesce-rx-us N' or 'coalesce-tx-us N': the time that makes "
                          "a queue quiet, and the longest an interrupt is held",
                          "option 'coalesce-adaptive' needs 'coalesce-rx-us' or "
                          "'coalesce-tx-us'");
    return 0;
}

static int net_options_end(struct vdev *d)
{
    struct net *n = vdev_state(d);
    if (check_levers(d, n))
        return -1;
    if (n->tap_name && n->peer_path)
        return vdev_error(d, n->tap_pos,
                          "keep one: 'tap NAME' joins the NIC to a host interface directly, "
                          "'peer PATH' to another VM or to `vdevkit net-peer`",
                          "option 'tap' cannot be combined with 'peer'");
    if (n->peer_path && !vdev_user_name(d))
        return vdev_error(d, vdev_pos(d),
                          "add 'name NAME': the peer reaches this NIC at RUNTIME_DIR/SYSTEM/NAME",
                          "option 'peer' needs 'name' too");
    if (!n->mac_given) {
        char idx[32];
        const char *name = vdev_user_name(d);
        if (!name) {
            snprintf(idx, sizeof(idx), "#%zu", device_index(d));
            name = idx;
        }
        net_mac_derive(vdev_machine_system_name(vdev_machine_of(d)), name, n->cfg_mac);
    }
    memcpy(n->mac, n->cfg_mac, 6);
    return check_unique_mac(d, n);
}

static int net_assign(struct vdev *d)
{
    struct net *n = vdev_state(d);
    struct vdev_err err = {0};
    n->ops = net_virtio_ops;
    if (n->coal.offer)
        n->ops.features |= NET_BIT(VIRTIO_NET_F_NOTF_COAL);
    if (n->pairs > 1) {
        n->ops.features |= NET_BIT(VIRTIO_NET_F_MQ) | NET_BIT(VIRTIO_NET_F_RSS);
        n->ops.config_size = NET_CFG_SIZE_RSS;
    }
    n->ops.num_queues = 2 * n->pairs + 1;
    n->vio = net_virtio_attach(d, &n->ops, n, &err);
    if (!n->vio)
        return vdev_error(d, vdev_pos(d), NULL, "%s", err.msg);
    return 0;
}

static void link_state_changed(void *opaque, bool up)
{
    struct net *n = opaque;
    atomic_store(&n->link_up, up);
    n->tx_blocked = n->tx_dropping = false;
    n->rx_held_stale = true;
    vdev_info(n->d, "link %s", up ? "up" : "down");
    if (atomic_load(&n->running))
        vdev_virtio_config_changed(n->vio);
}

static void link_log(void *opaque, enum vdev_log_level level, const char *msg)
{
    struct net *n = opaque;
    vdev_log(n->d, level, "%s", msg);
}

/* The link and the data thread start with the machine, not with the guest's driver, so
 * the peer sees this end as soon as the VM exists. A dryrun binds nothing. */
static int net_configured(struct vdev *d)
{
    struct net *n = vdev_state(d);
    struct vdev_machine *m = vdev_machine_of(d);
    n->be = n->tap_name ? &net_be_tap : &net_be_peer;
    if (vdev_machine_config(m)->dryrun)
        return 0;
    if (n->tap_name) {
        struct vdev_err err = {0};
        if (net_tap_open(n, &err))
            return vdev_error(d, n->tap_pos, NULL, "tap %s: %s", n->tap_name, err.msg);
        atomic_store(&n->link_up, true); /* while attached: the host side changes nothing */
        vdev_info(d, "attached to tap %s", n->tap_name);
    }
    if (n->peer_path) {
        struct vdev_err err = {0};
        if (vdev_machine_runtime_path(m, vdev_user_name(d), n->bind_path, sizeof(n->bind_path),
                                      &err))
            return vdev_error(d, vdev_pos(d), NULL, "%s", err.msg);
        struct peer_link_cfg cfg = {.bind_path = n->bind_path,
                                    .peer_path = n->peer_path,
                                    .features = 0,
                                    .state_changed = link_state_changed,
                                    .log = link_log,
                                    .opaque = n,
                                    .accept_tap = true};
        memcpy(cfg.mac, n->cfg_mac, 6);
        n->link = peer_link_open(&cfg, &err);
        if (!n->link)
            return vdev_error(d, vdev_pos(d), NULL, "peer link: %s", err.msg);
    }
    if (n->cap_opt) {
        struct vdev_err err = {0};
        n->cap = net_capture_open(n->cap_opt, &err);
        if (!n->cap)
            return vdev_error(d, vdev_pos(d), NULL, "%s", err.msg);
        n->cap_shown = strdup(n->cap_opt);
    }
    if (net_thread_start(n))
        return vdev_error(d, vdev_pos(d), NULL, "cannot start the data thread: %s",
                          strerror(errno));
    return 0;
}

/* Sum of a per-queue counter over the rx (dir 0) or tx (dir 1) queues. */
static uint64_t sum_dir(const struct net *n, const _Atomic uint64_t *c, unsigned dir)
{
    uint64_t sum = 0;
    for (unsigned p = 0; p < n->pairs; p++)
        sum += net_read(&c[2 * p + dir]);
    return sum;
}

/* With several pairs: what each pair did (the totals are in the line before). `active` is
 * what the data thread last set (a snapshot, like the counters). */
static void print_pairs(const struct net *n, FILE *out)
{
    const struct net_stats *s = &n->st;
    fprintf(out, " queue-pairs %u active %u steering %s", n->pairs,
            atomic_load_explicit(&n->mq.active, memory_order_relaxed),
            atomic_load_explicit(&n->mq.rss, memory_order_relaxed) ? "rss" : "auto");
    for (unsigned p = 0; p < n->pairs; p++) {
        unsigned rx = 2 * p, tx = 2 * p + 1;
        fprintf(out,
                " pair %u frames rx %" PRIu64 " tx %" PRIu64 " kicks rx %" PRIu64 " tx %" PRIu64
                " interrupts rx %" PRIu64 " tx %" PRIu64 " held rx %" PRIu64 " tx %" PRIu64,
                p, net_read(&s->q_frames[rx]), net_read(&s->q_frames[tx]), net_read(&s->kicks[rx]),
                net_read(&s->kicks[tx]), net_read(&s->irqs[rx]), net_read(&s->irqs[tx]),
                net_read(&s->held[rx]), net_read(&s->held[tx]));
    }
}

static void net_status(struct vdev *d, FILE *out)
{
    struct net *n = vdev_state(d);
    uint8_t mac[6];
    char text[18];
    net_get_mac(n, mac);
    net_mac_format(mac, text);
    const struct net_stats *s = &n->st;
    fprintf(out, "%s mac %s link %s %s %s", n->vio ? vdev_virtio_where(n->vio) : "detached", text,
            atomic_load(&n->link_up) ? "up" : "down", n->tap_name ? "tap" : "peer",
            n->tap_name    ? n->tap_name
            : n->peer_path ? n->peer_path
                           : "none");
    fprintf(out,
            " rx %" PRIu64 " frames %" PRIu64 " bytes tx %" PRIu64 " frames %" PRIu64
            " bytes drops link-down %" PRIu64 " ring-full %" PRIu64 " no-buffers %" PRIu64
            " too-big %" PRIu64 " filtered %" PRIu64 " bad-header %" PRIu64 " errors %" PRIu64
            " sw-gso %" PRIu64 " frames %" PRIu64 " segments sw-csum %" PRIu64
            " link connects %" PRIu64 " disconnects %" PRIu64 " bad-records %" PRIu64,
            net_read(&s->rx_frames), net_read(&s->rx_bytes), net_read(&s->tx_frames),
            net_read(&s->tx_bytes), net_read(&s->drop_link_down), net_read(&s->drop_ring_full),
            net_read(&s->drop_no_buffers), net_read(&s->drop_too_big), net_read(&s->drop_filtered),
            net_read(&s->drop_bad_header), net_read(&s->errors), net_read(&s->sw_gso_frames),
            net_read(&s->sw_gso_segments), net_read(&s->sw_csum), net_read(&s->link_connects),
            net_read(&s->link_disconnects), net_read(&s->link_bad_records));
    fprintf(out,
            " kicks rx %" PRIu64 " tx %" PRIu64 " ctrl %" PRIu64 " interrupts rx %" PRIu64
            " tx %" PRIu64 " ctrl %" PRIu64 " held rx %" PRIu64 " tx %" PRIu64
            " busy-poll hits %" PRIu64 " misses %" PRIu64,
            sum_dir(n, s->kicks, 0), sum_dir(n, s->kicks, 1), net_read(&s->kicks[2 * n->pairs]),
            sum_dir(n, s->irqs, 0), sum_dir(n, s->irqs, 1), net_read(&s->irqs[2 * n->pairs]),
            sum_dir(n, s->held, 0), sum_dir(n, s->held, 1), net_read(&s->poll_hits),
            net_read(&s->poll_misses));
    if (n->pairs > 1)
        print_pairs(n, out);
    pthread_mutex_lock(&n->cfg_lock);
    if (n->tap_name || n->handed_tap[0])
        fprintf(out, " tap-errors %" PRIu64, net_read(&s->tap_errors));
    if (n->handed_tap[0]) /* the host peer's TAP, handed over: frames bypass the rings */
        fprintf(out, " via-tap %s", n->handed_tap);
    if (n->cap_shown)
        fprintf(out, " capture %s", n->cap_shown);
    pthread_mutex_unlock(&n->cfg_lock);
}

static void net_terminate(struct vdev *d)
{
    struct net *n = vdev_state(d);
    if (!n->ready)
        return;
    net_thread_stop(n);
    struct vdev_err err = {0};
    if (net_capture_close(n->cap, &err))
        vdev_log(d, VDEV_LOG_ERROR, "%s", err.msg);
    n->cap = NULL;
    free(n->cap_opt);
    free(n->cap_shown);
    n->cap_opt = n->cap_shown = NULL;
    if (n->link)
        peer_link_close(n->link);
    n->link = NULL;
    net_tap_close(n);
    free(n->peer_path);
    free(n->tap_name);
    n->peer_path = n->tap_name = NULL;
    close(n->wake_fd);
    pthread_mutex_destroy(&n->run_lock);
    pthread_mutex_destroy(&n->cfg_lock);
    n->ready = false;
}

VDEV_MODULE(virtio_net, .name = "virtio-net",
            .summary = "virtio network card linked to another VM by a peer link, or to a host TAP",
            .options = net_options, .state_size = sizeof(struct net),
            .places = VDEV_PLACE_PCI | VDEV_PLACE_MEM, .default_loc = NULL, .window_size = 0,
            .has_intr = true, .intr_optional = true, .options_start = net_options_start,
            .option = net_option, .options_end = net_options_end, .assign = net_assign,
            .configured = net_configured, .status = net_status, .terminate = net_terminate,
            .control = net_control);
