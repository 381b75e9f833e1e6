/* The fake host of the hostdev tests: see hostdev_fake.h. */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostdev_fake.h"

/* ---- messages ---- */

void hd_fake_put(struct hd_fake_msg *b, const void *data, size_t n)
{
    ck_assert_uint_le(b->len + n, b->cap);
    if (data)
        memcpy(b->buf + b->len, data, n);
    else
        memset(b->buf + b->len, 0, n);
    b->len += n;
}

size_t hd_fake_nest(struct hd_fake_msg *b, uint16_t type)
{
    size_t at = b->len;
    struct nlattr a = {.nla_type = type};
    hd_fake_put(b, &a, sizeof(a));
    return at;
}

void hd_fake_end(struct hd_fake_msg *b, size_t at)
{
    uint16_t len = (uint16_t)(b->len - at);
    memcpy(b->buf + at, &len, sizeof(len));
    hd_fake_put(b, NULL, NLA_ALIGN(b->len) - b->len);
}

void hd_fake_attr_put(struct hd_fake_msg *b, uint16_t type, const void *data, size_t n)
{
    size_t at = hd_fake_nest(b, type);
    hd_fake_put(b, data, n);
    hd_fake_end(b, at);
}

size_t hd_fake_done(struct hd_fake_msg *b)
{
    uint32_t len = (uint32_t)b->len;
    memcpy(b->buf, &len, sizeof(len));
    return b->len;
}

size_t hd_fake_newlink(uint8_t *buf, size_t cap, uint32_t seq, int32_t ifindex, bool up,
                       const struct fake_vf *vfs, unsigned n)
{
    struct hd_fake_msg b = {buf, cap, 0};
    struct nlmsghdr h = {.nlmsg_type = RTM_NEWLINK, .nlmsg_seq = seq};
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC,
                            .ifi_type = 1, /* ARPHRD_ETHER */
                            .ifi_index = ifindex,
                            .ifi_flags = IFF_BROADCAST | (up ? IFF_UP | IFF_RUNNING : 0)};
    hd_fake_put(&b, &h, sizeof(h));
    hd_fake_put(&b, &ifi, sizeof(ifi));
    hd_fake_attr_put(&b, IFLA_IFNAME, FAKE_IFNAME, sizeof(FAKE_IFNAME));
    uint32_t num = n;
    hd_fake_attr_put(&b, IFLA_NUM_VF, &num, sizeof(num));
    size_t list = hd_fake_nest(&b, IFLA_VFINFO_LIST); /* the kernel's: no NLA_F_NESTED */
    for (unsigned i = 0; i < n; i++) {
        size_t info = hd_fake_nest(&b, IFLA_VF_INFO);
        struct ifla_vf_mac m = {.vf = i};
        memcpy(m.mac, vfs[i].mac, 6);
        hd_fake_attr_put(&b, IFLA_VF_MAC, &m, sizeof(m));
        struct ifla_vf_broadcast bc;
        memset(bc.broadcast, 0xff, sizeof(bc.broadcast));
        hd_fake_attr_put(&b, IFLA_VF_BROADCAST, &bc, sizeof(bc));
        struct ifla_vf_vlan v = {.vf = i, .vlan = vfs[i].vlan, .qos = vfs[i].qos};
        hd_fake_attr_put(&b, IFLA_VF_VLAN, &v, sizeof(v));
        size_t vl = hd_fake_nest(&b, IFLA_VF_VLAN_LIST);
        struct ifla_vf_vlan_info vi = {
            .vf = i, .vlan = vfs[i].vlan, .qos = vfs[i].qos, .vlan_proto = htons(0x8100)};
        hd_fake_attr_put(&b, IFLA_VF_VLAN_INFO, &vi, sizeof(vi));
        hd_fake_end(&b, vl);
        struct ifla_vf_spoofchk sc = {.vf = i, .setting = 1};
        hd_fake_attr_put(&b, IFLA_VF_SPOOFCHK, &sc, sizeof(sc));
        struct ifla_vf_link_state ls = {.vf = i};
        hd_fake_attr_put(&b, IFLA_VF_LINK_STATE, &ls, sizeof(ls));
        hd_fake_end(&b, info);
    }
    hd_fake_end(&b, list);
    return hd_fake_done(&b);
}

size_t hd_fake_error(uint8_t *buf, size_t cap, uint32_t seq, int error, const char *ext,
                     bool capped)
{
    struct hd_fake_msg b = {buf, cap, 0};
    struct nlmsghdr h = {.nlmsg_type = NLMSG_ERROR,
                         .nlmsg_flags = (capped ? NLM_F_CAPPED : 0) | (ext ? NLM_F_ACK_TLVS : 0),
                         .nlmsg_seq = seq};
    struct nlmsgerr e = {
        .error = error,
        .msg = {.nlmsg_len = capped ? 16 : 32, .nlmsg_type = RTM_SETLINK, .nlmsg_seq = seq}};
    hd_fake_put(&b, &h, sizeof(h));
    hd_fake_put(&b, &e, sizeof(e));
    if (!capped)
        hd_fake_put(&b, NULL, 16); /* the rest of the request, quoted */
    if (ext)
        hd_fake_attr_put(&b, NLMSGERR_ATTR_MSG, ext, strlen(ext) + 1);
    return hd_fake_done(&b);
}

/* ---- the tree ---- */

static void pathf(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void pathf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    ck_assert(n > 0 && (size_t)n < len);
}

static void mkdirs(const char *path)
{
    char cmd[512];
    pathf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
}

void hd_fake_file(struct hd_fake *f, const char *path, const char *text)
{
    char p[512];
    pathf(p, sizeof(p), "%s/%s", f->sysfs, path);
    unlink(p);
    FILE *fp = fopen(p, "w");
    ck_assert_msg(fp != NULL, "%s: %s", p, strerror(errno));
    fputs(text, fp);
    fclose(fp);
}

void hd_fake_link(struct hd_fake *f, const char *path, const char *target)
{
    char p[512];
    pathf(p, sizeof(p), "%s/%s", f->sysfs, path);
    unlink(p);
    ck_assert_int_eq(symlink(target, p), 0);
}

void hd_fake_rm(struct hd_fake *f, const char *path)
{
    char cmd[600];
    pathf(cmd, sizeof(cmd), "rm -rf '%s/%s'", f->sysfs, path);
    ck_assert_int_eq(system(cmd), 0);
}

const char *hd_fake_attr(struct hd_fake *f, const char *path)
{
    static char text[256];
    char p[512];
    pathf(p, sizeof(p), "%s/%s", f->sysfs, path);
    text[0] = '\0';
    FILE *fp = fopen(p, "r");
    if (fp) {
        size_t n = fread(text, 1, sizeof(text) - 1, fp);
        text[n] = '\0';
        fclose(fp);
    }
    return text;
}

const char *hd_fake_driver(struct hd_fake *f, const char *bdf)
{
    static char name[64];
    char p[512], target[512];
    pathf(p, sizeof(p), "%s/bus/pci/devices/%s/driver", f->sysfs, bdf);
    ssize_t n = readlink(p, target, sizeof(target) - 1);
    name[0] = '\0';
    if (n > 0) {
        target[n] = '\0';
        snprintf(name, sizeof(name), "%s", strrchr(target, '/') + 1);
    }
    return name;
}

void hd_fake_bind(struct hd_fake *f, const char *bdf, const char *driver)
{
    char p[128], target[512];
    pathf(p, sizeof(p), "bus/pci/devices/%s/driver", bdf);
    if (!driver) {
        hd_fake_rm(f, p);
        return;
    }
    pathf(target, sizeof(target), "%s/bus/pci/drivers/%s", f->sysfs, driver);
    hd_fake_link(f, p, target);
}

bool hd_fake_recorded(struct hd_fake *f, const char *bdf)
{
    char p[256];
    struct stat st;
    pathf(p, sizeof(p), "%s/%s.state", f->state, bdf);
    return stat(p, &st) == 0;
}

const char *hd_fake_record_text(struct hd_fake *f, const char *bdf)
{
    static char text[8192];
    char p[256];
    pathf(p, sizeof(p), "%s/%s.state", f->state, bdf);
    text[0] = '\0';
    FILE *fp = fopen(p, "r");
    if (fp) {
        size_t n = fread(text, 1, sizeof(text) - 1, fp);
        text[n] = '\0';
        fclose(fp);
    }
    return text;
}

/* Any record on disk: what every change must find. */
static void check_recorded(struct hd_fake *f)
{
    DIR *d = opendir(f->state);
    bool any = false;
    struct dirent *e;
    while (d && (e = readdir(d)))
        any |= strlen(e->d_name) > 6 && !strcmp(e->d_name + strlen(e->d_name) - 6, ".state");
    if (d)
        closedir(d);
    if (!any)
        f->changes_unrecorded++;
}

/* ---- the fake kernel behind sysfs writes ---- */

static void log_write(struct hd_fake *f, const char *rel, const char *val)
{
    size_t n = strlen(f->writes);
    snprintf(f->writes + n, sizeof(f->writes) - n, "%s=%s\n", rel, strcmp(val, "\n") ? val : "\\n");
}

/* What drivers_probe binds the free device `bdf` to. */
static void probe(struct hd_fake *f, const char *bdf)
{
    char p[128], over[64];
    if (*hd_fake_driver(f, bdf))
        return;
    pathf(p, sizeof(p), "bus/pci/devices/%s/driver_override", bdf);
    snprintf(over, sizeof(over), "%s", hd_fake_attr(f, p));
    over[strcspn(over, "\n")] = '\0';
    if (!strcmp(over, "(null)"))
        over[0] = '\0';
    if (!strcmp(over, "vfio-pci") && f->vfio_loaded)
        hd_fake_bind(f, bdf, "vfio-pci");
    else if (!*over && f->native_probe)
        hd_fake_bind(f, bdf, "igbvf");
}

static int fake_write(void *ctx, const char *path, const char *val)
{
    struct hd_fake *f = ctx;
    size_t sl = strlen(f->sysfs);
    ck_assert_msg(!strncmp(path, f->sysfs, sl) && path[sl] == '/', "write outside: %s", path);
    const char *rel = path + sl + 1;
    log_write(f, rel, val);
    if (++f->nwrites == f->write_fail_at)
        return -f->write_errno;
    struct stat st;
    if (stat(path, &st))
        return -errno; /* no such attribute (an unbind with no driver) */
    check_recorded(f);
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(val, fp);
    fclose(fp);
    size_t rl = strlen(rel);
    char drv[64];
    if (rl > 7 && !strcmp(rel + rl - 7, "/unbind")) {
        hd_fake_bind(f, val, NULL);
    } else if (!strcmp(rel, "bus/pci/drivers_probe")) {
        probe(f, val);
    } else if (sscanf(rel, "bus/pci/drivers/%63[^/]/bind", drv) == 1) {
        hd_fake_bind(f, val, drv);
    }
    return 0;
}

/* ---- the fake rtnetlink peer ---- */

static void queue(struct hd_fake *f, const uint8_t *msg, size_t len)
{
    ck_assert_uint_lt(f->queued, FAKE_QUEUE);
    f->queue[f->queued] = malloc(len);
    memcpy(f->queue[f->queued], msg, len);
    f->queue_len[f->queued++] = len;
}

static void answer_error(struct hd_fake *f, uint32_t seq, int e)
{
    uint8_t buf[512];
    queue(f, buf, hd_fake_error(buf, sizeof(buf), seq, e, e ? f->set_ext : NULL, true));
}

/* The VF settings a well-formed RTM_SETLINK of ours carries. */
struct setvf {
    bool has_mac, has_vlan;
    struct ifla_vf_mac mac;
    struct ifla_vf_vlan vlan;
};

static void walk(const uint8_t *p, size_t len, int depth, struct setvf *s)
{
    while (len >= NLA_HDRLEN) {
        struct nlattr a;
        memcpy(&a, p, sizeof(a));
        ck_assert_uint_ge(a.nla_len, NLA_HDRLEN);
        ck_assert_uint_le(a.nla_len, len);
        uint16_t type = a.nla_type & NLA_TYPE_MASK;
        const uint8_t *pl = p + NLA_HDRLEN;
        size_t plen = a.nla_len - NLA_HDRLEN;
        if (depth == 0 && type == IFLA_VFINFO_LIST)
            walk(pl, plen, 1, s);
        else if (depth == 1 && type == IFLA_VF_INFO)
            walk(pl, plen, 2, s);
        else if (depth == 2 && type == IFLA_VF_MAC && plen >= sizeof(s->mac))
            s->has_mac = memcpy(&s->mac, pl, sizeof(s->mac)) != NULL;
        else if (depth == 2 && type == IFLA_VF_VLAN && plen >= sizeof(s->vlan))
            s->has_vlan = memcpy(&s->vlan, pl, sizeof(s->vlan)) != NULL;
        size_t step = NLA_ALIGN((size_t)a.nla_len) < len ? NLA_ALIGN((size_t)a.nla_len) : len;
        p += step;
        len -= step;
    }
}

static void handle(struct hd_fake *f, const uint8_t *msg, size_t len)
{
    struct nlmsghdr h;
    struct ifinfomsg ifi;
    ck_assert_uint_ge(len, sizeof(h) + sizeof(ifi));
    memcpy(&h, msg, sizeof(h));
    memcpy(&ifi, msg + sizeof(h), sizeof(ifi));
    ck_assert_uint_eq(h.nlmsg_len, len);
    if (ifi.ifi_index != FAKE_IFINDEX) {
        answer_error(f, h.nlmsg_seq, -ENODEV);
        return;
    }
    if (h.nlmsg_type == RTM_GETLINK) {
        uint8_t buf[4096];
        if (f->get_errno)
            answer_error(f, h.nlmsg_seq, -f->get_errno);
        else
            queue(f, buf,
                  hd_fake_newlink(buf, sizeof(buf), h.nlmsg_seq, FAKE_IFINDEX, f->up, f->vf,
                                  FAKE_NVFS));
        return;
    }
    ck_assert_uint_eq(h.nlmsg_type, RTM_SETLINK);
    ck_assert(h.nlmsg_flags & NLM_F_ACK);
    struct setvf s = {0};
    walk(msg + sizeof(h) + sizeof(ifi), len - sizeof(h) - sizeof(ifi), 0, &s);
    ck_assert(s.has_mac || s.has_vlan);
    int e = f->set_errno                  ? f->set_errno
            : s.has_vlan && f->vlan_errno ? f->vlan_errno
            : s.has_mac && f->mac_errno   ? f->mac_errno
                                          : 0;
    uint32_t vf = s.has_mac ? s.mac.vf : s.vlan.vf;
    if (!e && vf >= FAKE_NVFS)
        e = EINVAL;
    if (!e) {
        check_recorded(f);
        if (s.has_mac)
            memcpy(f->vf[vf].mac, s.mac.mac, 6);
        if (s.has_vlan) {
            f->vf[vf].vlan = (uint16_t)s.vlan.vlan;
            f->vf[vf].qos = (uint8_t)s.vlan.qos;
        }
        f->nsets++;
    }
    answer_error(f, h.nlmsg_seq, -e);
}

static int fake_send(void *ctx, const void *msg, size_t len)
{
    struct hd_fake *f = ctx;
    ck_assert_uint_lt(f->nreqs, FAKE_REQS_MAX);
    f->req[f->nreqs] = malloc(len);
    memcpy(f->req[f->nreqs], msg, len);
    f->req_len[f->nreqs++] = len;
    if (f->send_errno)
        return -f->send_errno;
    handle(f, msg, len);
    return 0;
}

static ssize_t fake_recv(void *ctx, uint8_t **msg)
{
    struct hd_fake *f = ctx;
    *msg = NULL;
    if (f->recv_errno)
        return -f->recv_errno;
    if (f->canned) {
        *msg = f->canned;
        f->canned = NULL;
        return (ssize_t)f->canned_len;
    }
    if (f->silent || f->queued == 0)
        return -ETIMEDOUT;
    *msg = f->queue[0];
    ssize_t n = (ssize_t)f->queue_len[0];
    memmove(f->queue, f->queue + 1, --f->queued * sizeof(f->queue[0]));
    memmove(f->queue_len, f->queue_len + 1, f->queued * sizeof(f->queue_len[0]));
    return n;
}

void hd_fake_flush(struct hd_fake *f)
{
    for (unsigned i = 0; i < f->queued; i++)
        free(f->queue[i]);
    f->queued = 0;
}

/* ---- set up, tear down ---- */

void hd_fake_init(struct hd_fake *f)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/vdevkit-hostdev-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->root));
    pathf(f->sysfs, sizeof(f->sysfs), "%s/sys", f->root);
    pathf(f->state, sizeof(f->state), "%s/run/hostdev", f->root);
    char p[512];
    pathf(p, sizeof(p), "%s/bus/pci/devices/%s/net/%s", f->sysfs, FAKE_PF, FAKE_IFNAME);
    mkdirs(p);
    static const char *const drivers[] = {"igb", "igbvf", "vfio-pci"};
    for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++) {
        pathf(p, sizeof(p), "%s/bus/pci/drivers/%s", f->sysfs, drivers[i]);
        mkdirs(p);
        pathf(p, sizeof(p), "bus/pci/drivers/%s/bind", drivers[i]);
        hd_fake_file(f, p, "");
        pathf(p, sizeof(p), "bus/pci/drivers/%s/unbind", drivers[i]);
        hd_fake_file(f, p, "");
    }
    hd_fake_file(f, "bus/pci/drivers_probe", "");
    hd_fake_file(f, "bus/pci/devices/" FAKE_PF "/net/" FAKE_IFNAME "/ifindex", "4\n");
    hd_fake_bind(f, FAKE_PF, "igb");
    const char *vfs[FAKE_NVFS] = {FAKE_VF0, FAKE_VF1};
    for (unsigned i = 0; i < FAKE_NVFS; i++) {
        pathf(p, sizeof(p), "%s/bus/pci/devices/%s", f->sysfs, vfs[i]);
        mkdirs(p);
        pathf(p, sizeof(p), "bus/pci/devices/%s/physfn", vfs[i]);
        hd_fake_link(f, p, "../" FAKE_PF);
        pathf(p, sizeof(p), "bus/pci/devices/%s/driver_override", vfs[i]);
        hd_fake_file(f, p, "(null)\n");
        char link[64], target[64];
        pathf(link, sizeof(link), "bus/pci/devices/" FAKE_PF "/virtfn%u", i);
        pathf(target, sizeof(target), "../%s", vfs[i]);
        hd_fake_link(f, link, target);
        hd_fake_bind(f, vfs[i], "igbvf");
    }
    f->vf[1].mac[0] = 0x02;
    f->vf[1].mac[5] = 0x01;
    f->up = f->vfio_loaded = f->native_probe = true;
    f->env =
        (struct vdev_hostdev_env){.size = sizeof(f->env), .sysfs = f->sysfs, .state_dir = f->state};
    f->hooks = (struct hd_hooks){
        .nl_send = fake_send, .nl_recv = fake_recv, .sys_write = fake_write, .ctx = f};
}

void hd_fake_fini(struct hd_fake *f)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
    ck_assert_int_eq(system(cmd), 0);
    for (unsigned i = 0; i < f->nreqs; i++)
        free(f->req[i]);
    hd_fake_flush(f);
    free(f->canned);
}
