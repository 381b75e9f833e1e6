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
#include "net_peer_internal.h"
#include "netpeer/net_hdr.h"
#include "netpeer/net_mac.h"
#include "netpeer/net_offload.h"
#include "netpeer/tap_if.h"
#include "tool_msg.h"

#define NP_HINT                                                                                    \
    "hint: peer=PATH,bind=PATH[,mac=MAC][,name=PREFIX|,tap=IFNAME][,netns=NAME][,offload=on|off]"  \
    "[,handoff=on|off]"

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
    o->handoff = true;
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
        } else if (!strcmp(kv, "handoff")) {
            if (strcmp(val, "on") && strcmp(val, "off"))
                return vdev_err_set(err, "handoff=%s: expected 'on' or 'off'", val);
            o->handoff = !strcmp(val, "on");
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
                "%llu disconnects %llu bad-records %llu tap %s\n",
                p->o.ifname, p->o.peer, p->o.bind, mac, p->up ? "up" : "down",
                (unsigned long long)s->tap_frames, (unsigned long long)s->tap_bytes,
                (unsigned long long)s->guest_frames, (unsigned long long)s->guest_bytes,
                (unsigned long long)s->drop_link_down, (unsigned long long)s->drop_ring_full,
                (unsigned long long)s->bad_header, (unsigned long long)s->tap_errors,
                (unsigned long long)s->sw_gso_frames, (unsigned long long)s->sw_gso_segments,
                (unsigned long long)s->sw_csum, (unsigned long long)ls.connects,
                (unsigned long long)ls.disconnects, (unsigned long long)ls.bad_frames,
                p->handed ? "handed-over" : "here");
    }
    fflush(out);
}

/* ---- the command ---- */

void vmm_net_peer_usage(FILE *out)
{
    fprintf(out,
            "usage: vdevkit net-peer [-p] peer=PATH,bind=PATH[,mac=MAC][,name=PREFIX|,tap=IFNAME]"
            "[,netns=NAME][,offload=on|off][,handoff=on|off] ...\n"
            "  one argument per guest NIC; each gets a TAP interface PREFIX0, PREFIX1, ...\n"
            "  (default prefix vp) that carries the NIC's frames, or attaches to the existing\n"
            "  TAP IFNAME (tap=: made with 'ip tuntap add IFNAME mode tap'; it and its addresses\n"
            "  outlive this process). The guest's NIC is handed the TAP's fd and moves its\n"
            "  frames itself unless handoff=off (or offload=off); the interface stays here.\n"
            "  SIGUSR1 prints the counters; SIGTERM or SIGINT removes\n"
            "  the interfaces made here and the endpoints, and exits.\n"
            "  See docs/networking.md.\n");
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
            /* offload=off asks for plain frames on the TAP, which only this end makes */
            .offer_tap = p->o.handoff && p->o.offload,
            .tap_fd = p->tap,
            .state_changed = np_state_changed,
            .log = np_link_log,
            .opaque = p,
        };
        memcpy(cfg.mac, p->o.mac, 6);
        if (make_parents(p->o.bind, err))
            return -1;
        struct vdev_err lerr = {0};
        p->link = peer_link_open(&cfg, &lerr);
        if (!p->link)
            return vdev_err_set(err, "%s: bind=%s: %s", p->o.ifname, p->o.bind, lerr.msg);
        if (np_ep_add(np->ep, p->tap, EPOLLIN, TAG(i, TAG_TAP)) ||
            np_ep_add(np->ep, peer_link_fd(p->link), EPOLLIN, TAG(i, TAG_LINK)) ||
            np_ep_add(np->ep, peer_link_rx_fd(p->link), EPOLLIN, TAG(i, TAG_RX)) ||
            np_ep_add(np->ep, peer_link_tx_space_fd(p->link), EPOLLIN, TAG(i, TAG_SPACE)))
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
            busy |= np_pump(np, &np->p[i]);
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
                np_drain_fd(peer_link_tx_space_fd(np->p[i].link));
                np->p[i].waiting_space = false;
                np_tap_events(&np->p[i], !np->p[i].handed);
            } else if (kind == TAG_RX) {
                np_drain_fd(peer_link_rx_fd(np->p[i].link));
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
        tool_error("net-peer", "out of memory");
        rc = 1;
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            vmm_net_peer_usage(stdout);
            rc = 0;
            goto out;
        }
        if (!strcmp(a, "-p")) {
            if (++i == argc) {
                rc = tool_usage_error("net-peer", "-p needs a peer's options (%s)", NP_HINT);
                goto out;
            }
            a = argv[i];
        } else if (a[0] == '-') {
            rc = tool_usage_error("net-peer", "unknown option '%s'", a);
            goto out;
        }
        char *orig = strdup(a);
        struct np_peer *p = &np.p[np.n];
        if (!orig || net_peer_parse(a, &p->o, &err)) {
            if (orig)
                rc = tool_usage_error("net-peer", "in '%s': %s", orig, err.msg);
            else
                tool_error("net-peer", "out of memory"), rc = 1;
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
                rc = tool_usage_error(
                    "net-peer", "interface name %s is too long (hint: a shorter name=)", name);
                goto out;
            }
            memcpy(p->o.ifname, name, strlen(name) + 1);
        }
        np.n++;
    }
    if (!np.n) {
        rc = tool_usage_error("net-peer", "missing peer=PATH,bind=PATH (one argument per guest "
                                          "NIC)");
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
    if (np.sfd < 0 || np.ep < 0 || np_ep_add(np.ep, np.sfd, EPOLLIN, TAG(0, TAG_SIGNAL))) {
        tool_error("net-peer", "%s", strerror(errno));
        rc = 1;
        goto out;
    }
    if (setup(&np, &err)) {
        tool_error("net-peer", "%s", err.msg);
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
