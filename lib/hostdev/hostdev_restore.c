/* The way back: set a VF back as its record says (MAC and VLAN through the PF, then its host
 * driver), and vdev_hostdev_recover, which does that for the records of owners that died. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostdev_internal.h"

int hd_restore(struct hd_ctx *c, const struct hd_record *r, char *what, size_t whatlen,
               struct vdev_err *err)
{
    char drv[VDEV_HOSTDEV_NAME_MAX], buf[256];
    if (!what || !whatlen) {
        what = buf;
        whatlen = sizeof(buf);
    }
    if (!hd_current_driver(c, r->bdf, drv, sizeof(drv))) {
        snprintf(what, whatlen, "%s no longer exists: nothing to set back", r->bdf);
        return 1;
    }
    /* MAC and VLAN first, so that the host driver starts with the VF's own MAC. */
    if (r->restore_mac || r->restore_vlan) {
        struct vdev_hostdev_vf vf;
        if (hd_find_vf(c, r->bdf, &vf, err))
            return -1;
        if (vf.vf != r->vf)
            return vdev_err_setc(err, VDEV_E_IO,
                                 "%s is VF %u of %s now, and its record says VF %u: not set back "
                                 "(hint: were the VFs made again? then nothing is left to set "
                                 "back: remove the record)",
                                 r->bdf, vf.vf, vf.pf_ifname, r->vf);
        if (hd_nl_set_vf(c, &vf, r->restore_mac ? r->orig.mac : NULL,
                         r->restore_vlan ? &r->orig : NULL, err))
            return -1;
    }
    if (r->rebind && hd_give_back(c, r->bdf, r->driver, err))
        return -1;
    char mac[18];
    hd_format_mac(r->orig.mac, mac);
    size_t n = (size_t)snprintf(what, whatlen, "%s vf %u:", r->pf_ifname, r->vf);
    if (r->restore_mac && n < whatlen)
        n += (size_t)snprintf(what + n, whatlen - n, " MAC %s", mac);
    if (r->restore_vlan && n < whatlen)
        n += (size_t)snprintf(what + n, whatlen - n, "%s VLAN %u priority %u",
                              r->restore_mac ? "," : "", r->orig.vlan, r->orig.qos);
    if ((r->restore_mac || r->restore_vlan) && n < whatlen)
        n += (size_t)snprintf(what + n, whatlen - n, " set back");
    if (r->rebind && n < whatlen)
        n += (size_t)snprintf(what + n, whatlen - n, "%s%s%s",
                              r->restore_mac || r->restore_vlan ? ";" : "",
                              *r->driver ? " back with " : " left without a driver", r->driver);
    if (!r->restore_mac && !r->restore_vlan && !r->rebind && n < whatlen)
        snprintf(what + n, whatlen - n, " nothing to set back");
    return 0;
}

const char *vdev_hostdev_outcome_name(int outcome)
{
    static const char *const names[] = {
        [VDEV_HOSTDEV_RESTORED] = "restored", [VDEV_HOSTDEV_GONE] = "gone",
        [VDEV_HOSTDEV_IN_USE] = "in-use",     [VDEV_HOSTDEV_NO_RECORD] = "no-record",
        [VDEV_HOSTDEV_FAILED] = "failed",
    };
    return outcome >= 0 && (size_t)outcome < sizeof(names) / sizeof(names[0]) ? names[outcome]
                                                                              : "?";
}

/* One record: looked at, restored when its owner is gone, reported. 1 when it stays. */
static int recover_one(struct hd_ctx *c, int dfd, const char *dir, const char *bdf, bool named,
                       vdev_hostdev_report_fn report, void *ctx)
{
    struct hd_record r;
    struct vdev_err e = {0};
    char detail[VDEV_ERR_MSG_MAX + 32];
    struct vdev_hostdev_report rep = {.size = sizeof(rep), .bdf = bdf, .vf = -1, .detail = detail};
    int rc = hd_state_read(dfd, dir, bdf, &r, &e);
    if (rc == 1) {
        rep.pf_ifname = r.pf_ifname;
        rep.vf = r.vf;
        rep.owner = r.owner;
    }
    if (rc == 0) {
        if (!named)
            return 0; /* removed since it was listed */
        rep.outcome = VDEV_HOSTDEV_NO_RECORD;
        snprintf(detail, sizeof(detail), "nothing is recorded for it: nothing to restore");
    } else if (rc < 0) {
        rep.outcome = VDEV_HOSTDEV_FAILED;
        snprintf(detail, sizeof(detail), "%s", e.msg);
    } else if (hd_owner_alive(r.owner, r.owner_start)) {
        rep.outcome = VDEV_HOSTDEV_IN_USE;
        snprintf(detail, sizeof(detail),
                 "in use by pid %d, which is running: left alone (it restores the VF when it "
                 "ends)",
                 (int)r.owner);
    } else if ((rc = hd_restore(c, &r, detail, sizeof(detail), &e)) < 0 ||
               hd_state_remove(dfd, dir, bdf, &e)) {
        rep.outcome = VDEV_HOSTDEV_FAILED;
        snprintf(detail, sizeof(detail), "%s (the record stays)", e.msg);
    } else {
        rep.outcome = rc == 1 ? VDEV_HOSTDEV_GONE : VDEV_HOSTDEV_RESTORED;
    }
    if (report)
        report(ctx, &rep);
    return rep.outcome == VDEV_HOSTDEV_IN_USE || rep.outcome == VDEV_HOSTDEV_FAILED;
}

int hd_recover(const struct vdev_hostdev_env *env, const struct hd_hooks *hooks, const char *bdf,
               unsigned flags, vdev_hostdev_report_fn report, void *ctx, struct vdev_err *err)
{
    char one[VDEV_HOSTDEV_BDF_MAX], dir[PATH_MAX];
    if (flags)
        return vdev_err_setc(err, VDEV_E_INVAL, "vdev_hostdev_recover: unknown flags 0x%x", flags);
    if (bdf && hd_parse_bdf(bdf, one))
        return vdev_err_setc(err, VDEV_E_INVAL,
                             "'%s' is not a PCI address (expected DDDD:BB:DD.F, e.g. 0000:01:10.0)",
                             bdf);
    struct hd_ctx c;
    if (hd_ctx_init(&c, env, hooks, err))
        return -1;
    int dfd = hd_state_open(&c, dir, sizeof(dir), err);
    if (dfd < 0) {
        hd_ctx_close(&c);
        return -1;
    }
    char(*bdfs)[VDEV_HOSTDEV_BDF_MAX] = NULL;
    size_t n = 0;
    int left = 0;
    if (bdf) {
        left = recover_one(&c, dfd, dir, one, true, report, ctx);
    } else if (hd_state_list(dfd, dir, &bdfs, &n, err)) {
        left = -1;
    } else {
        for (size_t i = 0; i < n; i++)
            left |= recover_one(&c, dfd, dir, bdfs[i], false, report, ctx);
    }
    free(bdfs);
    hd_state_close(dfd);
    hd_ctx_close(&c);
    return left;
}

int vdev_hostdev_recover(const struct vdev_hostdev_env *env, const char *bdf, unsigned flags,
                         vdev_hostdev_report_fn report, void *ctx, struct vdev_err *err)
{
    return hd_recover(env, NULL, bdf, flags, report, ctx, err);
}
