/* A host NIC's SR-IOV virtual function (VF) given to a guest with libvirt's
 * <interface type='hostdev'> semantics: the VF's MAC address and VLAN are set through its
 * physical function (PF) before the guest starts and set back when it ends, and a `managed`
 * VF is bound to vfio-pci for the guest and given back to its host driver afterwards. What
 * was there before is recorded in a state file first, so that a crash loses nothing: the
 * next vdev_hostdev_prepare() of the VF, vdev_hostdev_recover() or `vdevkit hostdev-cleanup`
 * restores it. docs/passthrough.md ("The hostdev NIC") explains it all.
 *
 * Since VDEVKIT_0.3. Changing a VF needs CAP_NET_ADMIN (rtnetlink) and, for `managed`, root
 * (sysfs). These calls know nothing of machines: a VMM or a management layer calls them
 * around the VFIO device it opens. */
#ifndef VDEV_HOSTDEV_H
#define VDEV_HOSTDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <vdev/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where the calls look and keep their records: a sized table (members appended later count
 * as 0 for a caller built before them); a NULL table means every default. */
struct vdev_hostdev_env {
    size_t size; /* sizeof(struct vdev_hostdev_env) */
    /* Where sysfs is mounted; NULL or "": /sys. Trusted: a fake tree for tests, or the
     * host's sysfs seen from a container. */
    const char *sysfs;
    /* The folder of the state files; NULL or "": $VDEVKIT_RUNTIME_DIR/hostdev, else
     * /run/vdevkit/hostdev. One per host, not per VM: pass NULL unless every caller on the
     * host (and `vdevkit hostdev-cleanup`) is told the same. Made 0700 when missing; it and
     * every folder above it must belong to this user or root and be closed to others'
     * writes. */
    const char *state_dir;
};

#define VDEV_HOSTDEV_BDF_MAX  16 /* "0000:01:10.0" and its NUL, with room */
#define VDEV_HOSTDEV_NAME_MAX 32 /* interface and driver names and their NUL */

/* A VF as sysfs describes it (vdev_hostdev_find). */
struct vdev_hostdev_vf {
    char bdf[VDEV_HOSTDEV_BDF_MAX];        /* the VF, normalised: "0000:01:10.0" */
    char pf_bdf[VDEV_HOSTDEV_BDF_MAX];     /* its PF: the target of the VF's physfn link */
    char pf_ifname[VDEV_HOSTDEV_NAME_MAX]; /* the PF's network interface (its net/ folder) */
    int32_t pf_ifindex;                    /* and its index */
    uint32_t vf;                           /* the VF's index on the PF: the N of virtfnN */
    char driver[VDEV_HOSTDEV_NAME_MAX];    /* the VF's driver now; "" when none */
};

/* Finds the VF at PCI address `bdf` ("0000:01:10.0", or "01:10.0" for domain 0; hex digits
 * in either case) through sysfs. Reads only. Returns 0, or -1 with err: VDEV_E_INVAL for an
 * address that is not one, VDEV_E_NOENT when there is no such device or it is no VF ("...
 * is not an SR-IOV virtual function (no physfn)"), VDEV_E_UNSUPPORTED when its PF has no or
 * several network interfaces. */
VDEV_API int vdev_hostdev_find(const struct vdev_hostdev_env *env, const char *bdf,
                               struct vdev_hostdev_vf *vf, struct vdev_err *err);

/* What vdev_hostdev_prepare does to a VF: libvirt's <interface type='hostdev'
 * managed='yes'> with <mac address/> and <vlan><tag id/></vlan>. A sized table. */
struct vdev_hostdev_cfg {
    size_t size;     /* sizeof(struct vdev_hostdev_cfg) */
    const char *bdf; /* the VF, as for vdev_hostdev_find */
    bool set_mac;    /* set the VF's MAC to `mac` (a unicast address, not all zero) */
    uint8_t mac[6];
    bool set_vlan; /* set the VF's VLAN: `vlan` 0-4094 (0: none) with priority `qos` 0-7 */
    uint16_t vlan;
    uint8_t qos;
    bool managed; /* bind the VF to vfio-pci now and give it back to its driver at release */
    pid_t owner;  /* whose VF it is while prepared (the VMM's pid); 0: the calling process */
};

/* A prepared VF; released with vdev_hostdev_release. */
struct vdev_hostdev;

/* Prepares the VF for a guest, in this order: takes the VF's record (a stale one, whose
 * owner is no longer running, is restored first; one whose owner runs is VDEV_E_BUSY);
 * reads the VF's admin MAC and VLAN from its PF; writes the record (what to restore, the
 * driver, the owner); with `managed`, binds the VF to vfio-pci (unbind, driver_override,
 * drivers_probe) unless it is already there; sets the MAC and VLAN. A failure undoes what
 * was done and removes the record. Returns the handle, or NULL with err: VDEV_E_INVAL (a bad
 * table, address, MAC, VLAN or flag), VDEV_E_NOENT (no such VF), VDEV_E_BUSY (another
 * running process has it), VDEV_E_PERM (needs CAP_NET_ADMIN or root; a state folder or
 * record that is not ours), VDEV_E_UNSUPPORTED (the PF's driver cannot set it), VDEV_E_IO
 * (the PF is down, vfio-pci did not take the VF, the kernel's reply was malformed, ...).
 * flags: 0. Not thread-safe for one VF; different VFs may be prepared concurrently (the
 * state folder is locked while a record changes). */
VDEV_API struct vdev_hostdev *vdev_hostdev_prepare(const struct vdev_hostdev_env *env,
                                                   const struct vdev_hostdev_cfg *cfg,
                                                   unsigned flags, struct vdev_err *err);

/* The VF a handle prepared (its PF, index and the driver it had before). */
VDEV_API const struct vdev_hostdev_vf *vdev_hostdev_info(const struct vdev_hostdev *h);

/* Restores what prepare changed (MAC and VLAN as recorded, an all-zero MAC included, as
 * libvirt does; then the host driver of a managed VF: unbind from vfio-pci, clear
 * driver_override, drivers_probe) and removes the record. Frees `h` whatever happens; NULL
 * does nothing. Returns 0, or -1 with err, and then the record stays for
 * vdev_hostdev_recover or `vdevkit hostdev-cleanup`. Call it after closing the VF's VFIO
 * device. flags: 0. */
VDEV_API int vdev_hostdev_release(struct vdev_hostdev *h, unsigned flags, struct vdev_err *err);

/* What vdev_hostdev_recover did with one record. */
enum vdev_hostdev_outcome {
    VDEV_HOSTDEV_RESTORED = 0, /* set back, and the record removed */
    VDEV_HOSTDEV_GONE,         /* the VF no longer exists (its PF's VFs were removed): nothing
                                  to set back; the record removed */
    VDEV_HOSTDEV_IN_USE,       /* its owner is running: left alone */
    VDEV_HOSTDEV_NO_RECORD,    /* (a VF that was named) nothing is recorded for it */
    VDEV_HOSTDEV_FAILED,       /* restoring failed or the record is not valid: it stays */
};

/* One record, handed to the report callback; valid during the call only. */
struct vdev_hostdev_report {
    size_t size;                       /* sizeof the struct in the library that calls */
    const char *bdf;                   /* the VF */
    enum vdev_hostdev_outcome outcome; /* what was done */
    const char *pf_ifname;             /* as recorded; NULL when unknown */
    int64_t vf;                        /* as recorded; -1 when unknown */
    pid_t owner;                       /* as recorded; 0 when unknown */
    const char *detail;                /* one line: what was set back, or why not */
};

typedef void (*vdev_hostdev_report_fn)(void *ctx, const struct vdev_hostdev_report *r);

/* Restores after a crash: every record whose owner is no longer running (bdf NULL), or the
 * record of `bdf`. A record whose owner runs is left alone (VDEV_HOSTDEV_IN_USE). Calls
 * `report` (if not NULL) once per record, in address order, and once for a `bdf` with
 * none. Returns 0 when every record it met was removed (restored or gone) or there was none,
 * 1 when one or more stay (in use, or failed: see the reports), -1 with err when it could not
 * look (a bad address or flag, an unusable state folder). flags: 0. */
VDEV_API int vdev_hostdev_recover(const struct vdev_hostdev_env *env, const char *bdf,
                                  unsigned flags, vdev_hostdev_report_fn report, void *ctx,
                                  struct vdev_err *err);

/* "restored", "gone", "in-use", "no-record", "failed"; "?" for another value. */
VDEV_API const char *vdev_hostdev_outcome_name(int outcome);

#ifdef __cplusplus
}
#endif
#endif
