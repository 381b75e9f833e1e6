/* vdev_hostdev_find, _prepare, _info and _release (include/vdev/hostdev.h): a VF set up for a
 * guest the way libvirt does it for <interface type='hostdev'>, with a record written before
 * anything changes so that a crash can be undone (hostdev_restore.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostdev_internal.h"

/* The members of the 0.3 tables: a smaller size is no table of a released header. */
#define ENV_SIZE_0_3 (offsetof(struct vdev_hostdev_env, state_dir) + sizeof(const char *))
#define CFG_SIZE_0_3 (offsetof(struct vdev_hostdev_cfg, owner) + sizeof(pid_t))

struct vdev_hostdev {
    struct vdev_hostdev_vf vf;
    bool recorded; /* a record is on disk: release sets the VF back */
    struct hd_record rec;
    char sysfs[PATH_MAX];
    char *state_dir; /* NULL: the default */
    struct hd_hooks hooks;
    bool real_hooks;
};

static const struct hd_hooks real_hooks = {
    .nl_send = hd_real_nl_send, .nl_recv = hd_real_nl_recv, .sys_write = hd_real_sys_write};

int hd_ctx_init(struct hd_ctx *c, const struct vdev_hostdev_env *env, const struct hd_hooks *hooks,
                struct vdev_err *err)
{
    memset(c, 0, sizeof(*c));
    c->nl_fd = -1;
    struct vdev_hostdev_env e = {0};
    if (env) {
        if (env->size < ENV_SIZE_0_3)
            return vdev_err_setc(err, VDEV_E_INVAL,
                                 "struct vdev_hostdev_env of %zu bytes: set its size to sizeof",
                                 env->size);
        memcpy(&e, env, env->size < sizeof(e) ? env->size : sizeof(e)); /* nothing past it */
    }
    const char *sysfs = e.sysfs && *e.sysfs ? e.sysfs : "/sys";
    if (strlen(sysfs) >= sizeof(c->sysfs) - 128)
        return vdev_err_setc(err, VDEV_E_INVAL, "the sysfs path %.64s... is too long", sysfs);
    snprintf(c->sysfs, sizeof(c->sysfs), "%s", sysfs);
    c->state_dir = e.state_dir && *e.state_dir ? e.state_dir : NULL;
    c->hooks = hooks ? *hooks : real_hooks;
    if (!hooks)
        c->hooks.ctx = &c->nl_fd;
    return 0;
}

void hd_ctx_close(struct hd_ctx *c)
{
    if (c->nl_fd >= 0)
        close(c->nl_fd);
    c->nl_fd = -1;
}

static int bad_bdf(const char *bdf, struct vdev_err *err)
{
    return vdev_err_setc(err, VDEV_E_INVAL,
                         "'%s' is not a PCI address (expected DDDD:BB:DD.F, e.g. 0000:01:10.0)",
                         bdf ? bdf : "(null)");
}

int vdev_hostdev_find(const struct vdev_hostdev_env *env, const char *bdf,
                      struct vdev_hostdev_vf *vf, struct vdev_err *err)
{
    char norm[VDEV_HOSTDEV_BDF_MAX];
    struct hd_ctx c;
    if (!vf)
        return vdev_err_setc(err, VDEV_E_INVAL, "vdev_hostdev_find: no result struct");
    if (hd_parse_bdf(bdf, norm))
        return bad_bdf(bdf, err);
    if (hd_ctx_init(&c, env, NULL, err))
        return -1;
    int rc = hd_find_vf(&c, norm, vf, err);
    hd_ctx_close(&c);
    return rc;
}

/* The table's values, checked: a unicast MAC, a VLAN and priority in range. */
static int check_cfg(const struct vdev_hostdev_cfg *cfg, const char *bdf, struct vdev_err *err)
{
    static const uint8_t zero[6];
    char mac[18];
    hd_format_mac(cfg->mac, mac);
    if (cfg->set_mac && !memcmp(cfg->mac, zero, 6))
        return vdev_err_setc(err, VDEV_E_INVAL, "%s: MAC %s is no address (it means none)", bdf,
                             mac);
    if (cfg->set_mac && (cfg->mac[0] & 1))
        return vdev_err_setc(err, VDEV_E_INVAL,
                             "%s: MAC %s is a multicast address, which no NIC can have", bdf, mac);
    if (cfg->set_vlan && (cfg->vlan > 4094 || cfg->qos > 7))
        return vdev_err_setc(err, VDEV_E_INVAL,
                             "%s: VLAN %u priority %u (a VLAN is 0-4094, 0 for none; a priority "
                             "0-7)",
                             bdf, cfg->vlan, cfg->qos);
    if (cfg->set_vlan && cfg->vlan == 0 && cfg->qos)
        return vdev_err_setc(err, VDEV_E_INVAL, "%s: priority %u without a VLAN", bdf, cfg->qos);
    return 0;
}

/* A record left by an owner: refused while it runs, restored when it is gone. */
static int take_stale(struct hd_ctx *c, int dfd, const char *dir, const char *bdf,
                      struct vdev_err *err)
{
    struct hd_record old;
    int rc = hd_state_read(dfd, dir, bdf, &old, err);
    if (rc <= 0)
        return rc;
    if (hd_owner_alive(old.owner, old.owner_start))
        return vdev_err_setc(err, VDEV_E_BUSY,
                             "%s is in use by pid %d (its record: %s/%s.state) (hint: one VF, one "
                             "guest; it is free once that process ends)",
                             bdf, (int)old.owner, dir, bdf);
    struct vdev_err e = {0};
    if (hd_restore(c, &old, NULL, 0, &e) < 0)
        return vdev_err_setc(err, e.code,
                             "%s: the record of pid %d, which is no longer running, could not be "
                             "restored: %s",
                             bdf, (int)old.owner, e.msg);
    return hd_state_remove(dfd, dir, bdf, err);
}

/* After a failure of prepare: undo what `done` records and drop the record. */
static void undo(struct hd_ctx *c, int dfd, const char *dir, const struct hd_record *done,
                 struct vdev_err *err)
{
    struct vdev_err e = {0};
    if ((hd_restore(c, done, NULL, 0, &e) >= 0 && !hd_state_remove(dfd, dir, done->bdf, &e)) ||
        !err)
        return;
    size_t n = strlen(err->msg);
    snprintf(err->msg + n, sizeof(err->msg) - n,
             "; undoing it failed too: %s (the record stays: vdevkit hostdev-cleanup %s)", e.msg,
             done->bdf);
}

/* Records, then changes the VF. MAC and VLAN go in separate requests, so that a failure
 * knows exactly what it changed (one request may set the MAC and then fail on the VLAN). */
static int apply(struct hd_ctx *c, int dfd, const char *dir, struct vdev_hostdev *h,
                 const struct vdev_hostdev_cfg *cfg, struct vdev_err *err)
{
    struct hd_link link = {0};
    if ((cfg->set_mac || cfg->set_vlan) && hd_nl_get_vf(c, &h->vf, &link, err))
        return -1;
    if ((cfg->set_mac || cfg->set_vlan) && !link.up)
        return vdev_err_setc(err, VDEV_E_IO,
                             "%s: its PF %s is down, so the VF would have no link (hint: ip link "
                             "set %s up)",
                             h->vf.bdf, h->vf.pf_ifname, h->vf.pf_ifname);
    struct hd_record *r = &h->rec;
    *r = (struct hd_record){.vf = h->vf.vf,
                            .owner = r->owner,
                            .owner_start = r->owner_start,
                            .restore_mac = cfg->set_mac,
                            .restore_vlan = cfg->set_vlan,
                            .orig = link.vf,
                            .rebind = cfg->managed && strcmp(h->vf.driver, "vfio-pci")};
    memcpy(r->bdf, h->vf.bdf, sizeof(r->bdf));
    memcpy(r->pf_ifname, h->vf.pf_ifname, sizeof(r->pf_ifname));
    memcpy(r->driver, h->vf.driver, sizeof(r->driver));
    if (hd_state_write(dfd, dir, r, true, err))
        return -1;
    h->recorded = true;
    struct hd_record done = *r; /* what to undo: only what went through */
    done.restore_mac = done.restore_vlan = done.rebind = false;
    struct hd_vf_cfg vlan = {.vlan = cfg->vlan, .qos = cfg->qos};
    int rc = 0;
    if (r->rebind) {
        rc = hd_bind_vfio(c, h->vf.bdf, h->vf.driver, &done.rebind, err);
    }
    if (!rc && cfg->set_mac) {
        rc = hd_nl_set_vf(c, &h->vf, cfg->mac, NULL, err);
        done.restore_mac = rc == 0;
    }
    if (!rc && cfg->set_vlan) {
        rc = hd_nl_set_vf(c, &h->vf, NULL, &vlan, err);
        done.restore_vlan = rc == 0;
    }
    if (rc) {
        undo(c, dfd, dir, &done, err);
        h->recorded = false;
    }
    return rc;
}

struct vdev_hostdev *hd_prepare(const struct vdev_hostdev_env *env, const struct hd_hooks *hooks,
                                const struct vdev_hostdev_cfg *cfg_in, unsigned flags,
                                struct vdev_err *err)
{
    struct vdev_hostdev_cfg cfg = {0};
    char bdf[VDEV_HOSTDEV_BDF_MAX], dir[PATH_MAX];
    if (flags) {
        vdev_err_setc(err, VDEV_E_INVAL, "vdev_hostdev_prepare: unknown flags 0x%x", flags);
        return NULL;
    }
    if (!cfg_in || cfg_in->size < CFG_SIZE_0_3) {
        vdev_err_setc(err, VDEV_E_INVAL,
                      "vdev_hostdev_prepare: %s (set its size to sizeof(struct vdev_hostdev_cfg))",
                      cfg_in ? "the table is smaller than any release's" : "no table");
        return NULL;
    }
    memcpy(&cfg, cfg_in, cfg_in->size < sizeof(cfg) ? cfg_in->size : sizeof(cfg));
    if (hd_parse_bdf(cfg.bdf, bdf)) {
        bad_bdf(cfg.bdf, err);
        return NULL;
    }
    if (check_cfg(&cfg, bdf, err))
        return NULL;
    struct vdev_hostdev *h = calloc(1, sizeof(*h));
    if (!h) {
        vdev_err_setc(err, VDEV_E_NOMEM, "out of memory");
        return NULL;
    }
    h->rec.owner = cfg.owner ? cfg.owner : getpid();
    if (hd_proc_start(h->rec.owner, &h->rec.owner_start)) {
        vdev_err_setc(err, VDEV_E_INVAL, "%s: the owner, pid %d, is not running", bdf,
                      (int)h->rec.owner);
        free(h);
        return NULL;
    }
    struct hd_ctx c;
    if (hd_ctx_init(&c, env, hooks, err)) {
        free(h);
        return NULL;
    }
    int dfd = -1, rc = -1;
    bool changes = cfg.set_mac || cfg.set_vlan || cfg.managed;
    if (changes && (dfd = hd_state_open(&c, dir, sizeof(dir), err)) < 0)
        goto out;
    if (changes && take_stale(&c, dfd, dir, bdf, err))
        goto out;
    if (hd_find_vf(&c, bdf, &h->vf, err) || (changes && apply(&c, dfd, dir, h, &cfg, err)))
        goto out;
    snprintf(h->sysfs, sizeof(h->sysfs), "%s", c.sysfs);
    h->real_hooks = !hooks;
    h->hooks = c.hooks;
    h->state_dir = c.state_dir ? strdup(c.state_dir) : NULL;
    rc = c.state_dir && !h->state_dir ? vdev_err_setc(err, VDEV_E_NOMEM, "out of memory") : 0;
out:
    if (rc && h->recorded)
        undo(&c, dfd, dir, &h->rec, err);
    hd_state_close(dfd);
    hd_ctx_close(&c);
    if (rc) {
        free(h);
        return NULL;
    }
    return h;
}

struct vdev_hostdev *vdev_hostdev_prepare(const struct vdev_hostdev_env *env,
                                          const struct vdev_hostdev_cfg *cfg, unsigned flags,
                                          struct vdev_err *err)
{
    return hd_prepare(env, NULL, cfg, flags, err);
}

const struct vdev_hostdev_vf *vdev_hostdev_info(const struct vdev_hostdev *h)
{
    return h ? &h->vf : NULL;
}

/* The record on disk must still be this handle's: another owner's is not ours to undo. */
static int still_ours(int dfd, const char *dir, const struct vdev_hostdev *h, struct vdev_err *err)
{
    struct hd_record now;
    int rc = hd_state_read(dfd, dir, h->vf.bdf, &now, err);
    if (rc <= 0)
        return rc; /* none (removed by hand): set back all the same */
    if (now.owner != h->rec.owner || now.owner_start != h->rec.owner_start)
        return vdev_err_setc(err, VDEV_E_BUSY,
                             "%s: its record now belongs to pid %d, not to pid %d: not set back",
                             h->vf.bdf, (int)now.owner, (int)h->rec.owner);
    return 0;
}

int vdev_hostdev_release(struct vdev_hostdev *h, unsigned flags, struct vdev_err *err)
{
    if (!h)
        return 0;
    int rc = 0;
    if (flags) {
        rc = vdev_err_setc(err, VDEV_E_INVAL,
                           "vdev_hostdev_release: unknown flags 0x%x (the record stays)", flags);
    } else if (h->recorded) {
        struct hd_ctx c;
        char dir[PATH_MAX];
        struct vdev_hostdev_env env = {
            .size = sizeof(env), .sysfs = h->sysfs, .state_dir = h->state_dir};
        rc = hd_ctx_init(&c, &env, h->real_hooks ? NULL : &h->hooks, err);
        int dfd = rc ? -1 : hd_state_open(&c, dir, sizeof(dir), err);
        if (dfd < 0 || still_ours(dfd, dir, h, err) || hd_restore(&c, &h->rec, NULL, 0, err) < 0 ||
            hd_state_remove(dfd, dir, h->vf.bdf, err)) {
            size_t n = strlen(err ? err->msg : "");
            if (err)
                snprintf(err->msg + n, sizeof(err->msg) - n,
                         " (the record stays: 'vdevkit hostdev-cleanup %s' retries)", h->vf.bdf);
            rc = -1;
        }
        hd_state_close(dfd);
        hd_ctx_close(&c);
    }
    free(h->state_dir);
    free(h);
    return rc;
}
