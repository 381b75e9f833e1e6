/* rtnetlink exchanges with the PF: read a VF's MAC and VLAN, set them, and say what went
 * wrong in words a person can act on. The socket is behind the context's hooks, so the unit
 * tests put a fake kernel there. */
#include <errno.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "hostdev_internal.h"

#define REPLY_MAX     (4u << 20) /* a PF's RTM_NEWLINK with every VF is far smaller */
#define REPLY_TIMEOUT 5          /* seconds */
#define READS_MAX     16         /* datagrams that are not the answer before giving up */

/* ---- the real transport ---- */

static int nl_open(int *fd)
{
    *fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (*fd < 0)
        return -errno;
    int one = 1;
    struct timeval tv = {.tv_sec = REPLY_TIMEOUT};
    /* The kernel's own words in errors, without the request echoed back; optional both. */
    setsockopt(*fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    setsockopt(*fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    if (setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
        int e = errno;
        close(*fd);
        *fd = -1;
        return -e;
    }
    return 0;
}

int hd_real_nl_send(void *ctx, const void *msg, size_t len)
{
    int *fd = ctx;
    if (*fd < 0) {
        int rc = nl_open(fd);
        if (rc)
            return rc;
    }
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    ssize_t n = sendto(*fd, msg, len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

ssize_t hd_real_nl_recv(void *ctx, uint8_t **msg)
{
    int *fd = ctx;
    *msg = NULL;
    ssize_t n;
    do /* the datagram's size, left queued */
        n = recv(*fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
    size_t want = (size_t)n > REPLY_MAX ? REPLY_MAX : (size_t)n;
    uint8_t *buf = malloc(want ? want : 1);
    if (!buf)
        return -ENOMEM;
    struct sockaddr_nl from;
    socklen_t fromlen = sizeof(from);
    do
        n = recvfrom(*fd, buf, want, MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
    while (n < 0 && errno == EINTR);
    if (n < 0 || (size_t)n > want) {
        int e = n < 0 ? errno : EMSGSIZE;
        free(buf);
        return -e;
    }
    if (fromlen != sizeof(from) || from.nl_family != AF_NETLINK || from.nl_pid != 0) {
        free(buf); /* only the kernel answers for itself */
        return 0;
    }
    *msg = buf;
    return n;
}

/* ---- the exchanges ---- */

/* "0000:01:10.0 (enp1s0 vf 0)": how messages name a VF. */
static void who(const struct vdev_hostdev_vf *vf, char *buf, size_t len)
{
    snprintf(buf, len, "%s (%s vf %u)", vf->bdf, vf->pf_ifname, vf->vf);
}

/* What went wrong with a netlink call, for people: the errno's words, the kernel's own
 * (extended ACK) and a hint. */
static int nl_fail(const struct vdev_hostdev_vf *vf, const char *what, int e, const char *ext,
                   struct vdev_err *err)
{
    char w[96];
    who(vf, w, sizeof(w));
    const char *hint = "";
    int code = VDEV_E_IO;
    if (e == EPERM || e == EACCES) {
        hint = " (hint: this needs CAP_NET_ADMIN: run it as root)";
        code = VDEV_E_PERM;
    } else if (e == EOPNOTSUPP) {
        hint = " (hint: the PF's driver does not let its VFs be configured this way)";
        code = VDEV_E_UNSUPPORTED;
    } else if (e == ENODEV) {
        hint = " (hint: the PF's interface is gone)";
        code = VDEV_E_NOENT;
    } else if (e == ETIMEDOUT) {
        hint = " (the kernel did not answer within 5 s)";
    }
    return vdev_err_setc(err, code, "%s: %s: %s%s%s%s", w, what, strerror(e),
                         ext && *ext ? ": " : "", ext ? ext : "", hint);
}

/* Sends `req` and reads until the answer `parse` recognises. HD_NL_ANSWER, or -1 with err. */
typedef enum hd_nl_status (*parse_fn)(const uint8_t *msg, size_t len, void *arg, int *kerr,
                                      char *ext, size_t extlen, char *why, size_t whylen);

static int exchange(struct hd_ctx *c, const struct vdev_hostdev_vf *vf, const char *what,
                    const uint8_t *req, size_t len, parse_fn parse, void *arg, struct vdev_err *err)
{
    int rc = c->hooks.nl_send(c->hooks.ctx, req, len);
    if (rc)
        return nl_fail(vf, what, -rc, NULL, err);
    char ext[256], why[256];
    for (int i = 0; i < READS_MAX; i++) {
        uint8_t *msg = NULL;
        ssize_t n = c->hooks.nl_recv(c->hooks.ctx, &msg);
        if (n < 0)
            return nl_fail(vf, what, (int)-n, NULL, err);
        int kerr = 0;
        enum hd_nl_status st =
            msg ? parse(msg, (size_t)n, arg, &kerr, ext, sizeof(ext), why, sizeof(why))
                : HD_NL_UNRELATED;
        free(msg);
        if (st == HD_NL_ANSWER)
            return 0;
        if (st == HD_NL_ERROR)
            return nl_fail(vf, what, kerr, ext, err);
        if (st == HD_NL_MALFORMED) {
            char w[96];
            who(vf, w, sizeof(w));
            return vdev_err_setc(err, VDEV_E_IO, "%s: %s: the kernel's reply is malformed: %s", w,
                                 what, why);
        }
    }
    char w[96];
    who(vf, w, sizeof(w));
    return vdev_err_setc(err, VDEV_E_IO, "%s: %s: no answer among %d messages from the kernel", w,
                         what, READS_MAX);
}

struct link_arg {
    uint32_t seq;
    const struct vdev_hostdev_vf *vf;
    struct hd_link *link;
};

static enum hd_nl_status parse_link(const uint8_t *msg, size_t len, void *arg, int *kerr, char *ext,
                                    size_t extlen, char *why, size_t whylen)
{
    struct link_arg *a = arg;
    return hd_nl_parse_link(msg, len, a->seq, a->vf->pf_ifindex, a->vf->vf, a->link, kerr, ext,
                            extlen, why, whylen);
}

static enum hd_nl_status parse_ack(const uint8_t *msg, size_t len, void *arg, int *kerr, char *ext,
                                   size_t extlen, char *why, size_t whylen)
{
    return hd_nl_parse_ack(msg, len, *(uint32_t *)arg, kerr, ext, extlen, why, whylen);
}

int hd_nl_get_vf(struct hd_ctx *c, const struct vdev_hostdev_vf *vf, struct hd_link *link,
                 struct vdev_err *err)
{
    uint8_t req[HD_NL_REQ_MAX];
    struct link_arg a = {.seq = ++c->seq, .vf = vf, .link = link};
    size_t len = hd_nl_getlink_req(req, sizeof(req), a.seq, vf->pf_ifindex);
    if (exchange(c, vf, "reading its MAC and VLAN", req, len, parse_link, &a, err))
        return -1;
    char w[96];
    who(vf, w, sizeof(w));
    if (!link->has_vfs || !link->found)
        return vdev_err_setc(err, VDEV_E_NOENT,
                             "%s: %s reports %s (hint: is SR-IOV enabled on it? see its "
                             "sriov_numvfs)",
                             w, vf->pf_ifname, link->has_vfs ? "no such VF" : "no VFs");
    return 0;
}

int hd_nl_set_vf(struct hd_ctx *c, const struct vdev_hostdev_vf *vf, const uint8_t *mac,
                 const struct hd_vf_cfg *vlan, struct vdev_err *err)
{
    if (!mac && !vlan)
        return 0;
    uint8_t req[HD_NL_REQ_MAX];
    uint32_t seq = ++c->seq;
    size_t len = hd_nl_setvf_req(req, sizeof(req), seq, vf->pf_ifindex, vf->vf, mac, vlan);
    char what[96], m[18];
    if (mac)
        hd_format_mac(mac, m);
    if (mac && vlan)
        snprintf(what, sizeof(what), "setting MAC %s and VLAN %u (priority %u)", m, vlan->vlan,
                 vlan->qos);
    else if (mac)
        snprintf(what, sizeof(what), "setting MAC %s", m);
    else
        snprintf(what, sizeof(what), "setting VLAN %u (priority %u)", vlan->vlan, vlan->qos);
    return exchange(c, vf, what, req, len, parse_ack, &seq, err);
}
