/* The hostdev library's parts (include/vdev/hostdev.h is its API), and the seams through
 * which the unit tests and the fuzz target drive them: a fake netlink peer and a fake
 * kernel behind sysfs writes. Nothing here is exported from libvdev. */
#ifndef VDEVKIT_HOSTDEV_INTERNAL_H
#define VDEVKIT_HOSTDEV_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <vdev/hostdev.h>

#define HD_API __attribute__((visibility("hidden")))

/* ---- the seams ---- */

/* What talks to the kernel. Every hook returns 0 (or a length) or a negative errno. */
struct hd_hooks {
    /* One rtnetlink request to the kernel. */
    int (*nl_send)(void *ctx, const void *msg, size_t len);
    /* The next datagram from the kernel, malloc'd into *msg (the caller frees); its length. 0
     * with *msg NULL: one that was not the kernel's, skipped. */
    ssize_t (*nl_recv)(void *ctx, uint8_t **msg);
    /* Writes `val` to the sysfs attribute `path` (a full path under the sysfs root). */
    int (*sys_write)(void *ctx, const char *path, const char *val);
    void *ctx;
};

/* One operation's context: the environment resolved, and the hooks (the real ones unless a
 * test gave its own). */
struct hd_ctx {
    char sysfs[PATH_MAX];
    const char *state_dir; /* NULL: the default */
    struct hd_hooks hooks;
    int nl_fd;    /* the real transport's socket, -1 until used */
    uint32_t seq; /* the last netlink sequence number used */
};

/* The real hooks: an rtnetlink socket (ctx: an int holding its fd, -1 until the first send)
 * and plain writes. */
HD_API int hd_real_nl_send(void *ctx, const void *msg, size_t len);
HD_API ssize_t hd_real_nl_recv(void *ctx, uint8_t **msg);
HD_API int hd_real_sys_write(void *ctx, const char *path, const char *val);

/* Fills `c` from env (NULL: defaults) with `hooks` (NULL: the real ones). -1 with err for a
 * table without a size. hd_ctx_close closes what the real hooks opened. */
HD_API int hd_ctx_init(struct hd_ctx *c, const struct vdev_hostdev_env *env,
                       const struct hd_hooks *hooks, struct vdev_err *err);
HD_API void hd_ctx_close(struct hd_ctx *c);

/* The public calls with the seams: what the tests drive. */
HD_API struct vdev_hostdev *hd_prepare(const struct vdev_hostdev_env *env,
                                       const struct hd_hooks *hooks,
                                       const struct vdev_hostdev_cfg *cfg, unsigned flags,
                                       struct vdev_err *err);
HD_API int hd_recover(const struct vdev_hostdev_env *env, const struct hd_hooks *hooks,
                      const char *bdf, unsigned flags, vdev_hostdev_report_fn report, void *ctx,
                      struct vdev_err *err);

/* ---- PCI addresses and names (hostdev_names.c) ---- */

/* "0000:01:10.0" (or "01:10.0": domain 0) into the normalised lowercase form; 0 or -1. */
HD_API int hd_parse_bdf(const char *s, char out[VDEV_HOSTDEV_BDF_MAX]);
/* A driver name we put in a sysfs path or a record: 1 to `max`-1 characters from
 * [A-Za-z0-9_.:-], not "." or "..". */
HD_API bool hd_name_ok(const char *s, size_t max);
/* An interface name as the kernel allows it (dev_valid_name), without control bytes. */
HD_API bool hd_ifname_ok(const char *s);
/* "52:54:00:12:34:56" */
HD_API void hd_format_mac(const uint8_t mac[6], char buf[18]);

/* ---- sysfs (hostdev_sysfs.c) ---- */

/* vdev_hostdev_find on the context's sysfs root; `bdf` already normalised. */
HD_API int hd_find_vf(const struct hd_ctx *c, const char *bdf, struct vdev_hostdev_vf *vf,
                      struct vdev_err *err);
/* Whether the device exists, and its driver now ("" for none): 1 and the name, 0 when there
 * is no such device. */
HD_API int hd_current_driver(const struct hd_ctx *c, const char *bdf, char *buf, size_t len);
/* `managed`: driver_override = vfio-pci, unbind from `driver` (if any), drivers_probe; then
 * vfio-pci must have it. 0, or -1 with err and *touched true when a write went through
 * before the failure (the way back is then needed). */
HD_API int hd_bind_vfio(struct hd_ctx *c, const char *bdf, const char *driver, bool *touched,
                        struct vdev_err *err);
/* The way back: unbind from vfio-pci, clear driver_override, reprobe so that `orig` (the
 * driver it had; "" for none) takes it, and check that it did. 0, or -1 with err. */
HD_API int hd_give_back(struct hd_ctx *c, const char *bdf, const char *orig, struct vdev_err *err);

/* ---- rtnetlink messages (hostdev_nl_msg.c: no I/O, fuzzed) ---- */

/* A VF's administrative settings as its PF reports them. */
struct hd_vf_cfg {
    uint8_t mac[6];
    uint16_t vlan;
    uint8_t qos;
};

/* What an RTM_GETLINK reply says about the PF and one VF. */
struct hd_link {
    bool up;       /* the PF's IFF_UP */
    bool has_vfs;  /* it has an IFLA_VFINFO_LIST */
    bool found;    /* the VF's IFLA_VF_INFO is there (with its MAC and VLAN) */
    uint32_t nvfs; /* VF entries in the list */
    struct hd_vf_cfg vf;
};

#define HD_NL_REQ_MAX 256 /* room for any request built here */

/* RTM_GETLINK of `ifindex` asking for its VFs (IFLA_EXT_MASK = RTEXT_FILTER_VF). Returns
 * the length. */
HD_API size_t hd_nl_getlink_req(uint8_t *buf, size_t cap, uint32_t seq, int32_t ifindex);
/* RTM_SETLINK (with an ACK) of `ifindex`: IFLA_VFINFO_LIST > IFLA_VF_INFO > IFLA_VF_MAC
 * {vf, mac} when mac is not NULL, IFLA_VF_VLAN {vf, vlan, qos} when vlan is not NULL.
 * Returns the length. */
HD_API size_t hd_nl_setvf_req(uint8_t *buf, size_t cap, uint32_t seq, int32_t ifindex, uint32_t vf,
                              const uint8_t *mac, const struct hd_vf_cfg *vlan);

/* What a datagram from the kernel turned out to be. */
enum hd_nl_status {
    HD_NL_ANSWER,    /* the answer: the link (parse_link) or a positive ACK (parse_ack) */
    HD_NL_ERROR,     /* NLMSG_ERROR with an errno: *kerr, and the kernel's text in ext */
    HD_NL_UNRELATED, /* nothing for this request (another sequence number, NOOP): read on */
    HD_NL_MALFORMED, /* lengths or values that do not hold together: `why` says which */
};

/* The reply to hd_nl_getlink_req(seq, ifindex), looking for VF `vf`. */
HD_API enum hd_nl_status hd_nl_parse_link(const uint8_t *msg, size_t len, uint32_t seq,
                                          int32_t ifindex, uint32_t vf, struct hd_link *link,
                                          int *kerr, char *ext, size_t extlen, char *why,
                                          size_t whylen);
/* The reply to a request with NLM_F_ACK. */
HD_API enum hd_nl_status hd_nl_parse_ack(const uint8_t *msg, size_t len, uint32_t seq, int *kerr,
                                         char *ext, size_t extlen, char *why, size_t whylen);

/* ---- rtnetlink exchanges (hostdev_nl.c) ---- */

/* The PF's state and VF `vf`'s MAC and VLAN. 0, or -1 with err naming the VF (`who`). */
HD_API int hd_nl_get_vf(struct hd_ctx *c, const struct vdev_hostdev_vf *vf, struct hd_link *link,
                        struct vdev_err *err);
/* Sets VF `vf`'s MAC (mac not NULL) and VLAN (vlan not NULL) in one request. */
HD_API int hd_nl_set_vf(struct hd_ctx *c, const struct vdev_hostdev_vf *vf, const uint8_t *mac,
                        const struct hd_vf_cfg *vlan, struct vdev_err *err);

/* ---- the records (hostdev_state.c, hostdev_record.c) ---- */

/* What a state file holds. */
struct hd_record {
    char bdf[VDEV_HOSTDEV_BDF_MAX];
    char pf_ifname[VDEV_HOSTDEV_NAME_MAX]; /* for people; the way back asks sysfs again */
    uint32_t vf;
    pid_t owner;
    unsigned long long owner_start; /* the owner's start time (/proc/PID/stat, field 22) */
    bool restore_mac;               /* we set the MAC: `mac` is the one to put back */
    bool restore_vlan;              /* we set the VLAN: `vlan`/`qos` go back */
    struct hd_vf_cfg orig;
    bool rebind;                        /* we bound it to vfio-pci: give it back */
    char driver[VDEV_HOSTDEV_NAME_MAX]; /* ... to this driver ("" when it had none) */
};

#define HD_RECORD_MAX 4096 /* a state file larger than this is not ours */

/* The record as text; the length, or 0 when it does not fit. */
HD_API size_t hd_record_format(const struct hd_record *r, char *buf, size_t cap);
/* Parses and checks a state file's text (`len` bytes, no NUL needed): 0, or -1 with why. */
HD_API int hd_record_parse(const char *text, size_t len, struct hd_record *r, char *why,
                           size_t whylen);

/* The state folder, open and locked (flock): its fd, its path in `path`. -1 with err. */
HD_API int hd_state_open(const struct hd_ctx *c, char *path, size_t len, struct vdev_err *err);
/* Unlocks and closes it. */
HD_API void hd_state_close(int dfd);
/* Reads BDF's record: 1 when there is one (in *r), 0 when there is none, -1 with err when
 * the file is not a valid record of ours (a link, another owner, open to others' writes,
 * too large, not the format). */
HD_API int hd_state_read(int dfd, const char *dir, const char *bdf, struct hd_record *r,
                         struct vdev_err *err);
/* Writes r's record atomically (a temporary file, fsync, rename, fsync of the folder), mode
 * 0600. With `exclusive`, an existing record is EEXIST (VDEV_E_EXIST). */
HD_API int hd_state_write(int dfd, const char *dir, const struct hd_record *r, bool exclusive,
                          struct vdev_err *err);
/* Removes BDF's record (none is fine). */
HD_API int hd_state_remove(int dfd, const char *dir, const char *bdf, struct vdev_err *err);
/* The BDFs that have records, sorted: a malloc'd array of `*n` entries (the caller frees). */
HD_API int hd_state_list(int dfd, const char *dir, char (**bdfs)[VDEV_HOSTDEV_BDF_MAX], size_t *n,
                         struct vdev_err *err);

/* A process's start time: 0, or -1 when there is no such process (or it is a zombie). */
HD_API int hd_proc_start(pid_t pid, unsigned long long *start);
/* Whether the owner a record names is running: the same pid, started at the same time. */
HD_API bool hd_owner_alive(pid_t pid, unsigned long long start);

/* ---- the way back (hostdev_restore.c) ---- */

/* Sets back what `r` records (MAC and VLAN, then the driver). 0; 1 when the VF no longer
 * exists (nothing to do); -1 with err. `what`, when not NULL, gets one line saying what
 * was set back. */
HD_API int hd_restore(struct hd_ctx *c, const struct hd_record *r, char *what, size_t whatlen,
                      struct vdev_err *err);

#endif
