/* A fake host for the hostdev tests (hostdev_fake.c, in the hostdev_fake archive): a sysfs
 * tree in a temporary folder with an igb-like PF and two VFs, a fake kernel behind sysfs
 * writes (unbind, driver_override, drivers_probe, bind move the VF's driver link), and a fake
 * rtnetlink peer that answers RTM_GETLINK with the VFs' settings and applies RTM_SETLINK,
 * recording every request and write, and failing on demand. Both check, at every change,
 * that a record is already on disk. */
#ifndef HOSTDEV_FAKE_H
#define HOSTDEV_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostdev_internal.h"

#define FAKE_PF       "0000:01:00.0"
#define FAKE_VF0      "0000:01:10.0"
#define FAKE_VF1      "0000:01:10.2"
#define FAKE_IFNAME   "enp1s0"
#define FAKE_IFINDEX  4
#define FAKE_NVFS     2
#define FAKE_REQS_MAX 32
#define FAKE_QUEUE    8

struct fake_vf {
    uint8_t mac[6];
    uint16_t vlan;
    uint8_t qos;
};

struct hd_fake {
    char root[64];   /* the temporary folder */
    char sysfs[128]; /* root/sys */
    char state[128]; /* root/run/hostdev: the state folder (made by the library) */
    struct vdev_hostdev_env env;
    struct hd_hooks hooks;

    /* rtnetlink */
    bool up;
    struct fake_vf vf[FAKE_NVFS];
    int send_errno;      /* nl_send fails with it */
    int recv_errno;      /* nl_recv fails with it */
    int get_errno;       /* RTM_GETLINK is answered with it */
    int set_errno;       /* every RTM_SETLINK is answered with it (not applied) */
    int vlan_errno;      /* a RTM_SETLINK with IFLA_VF_VLAN is answered with it */
    int mac_errno;       /* a RTM_SETLINK with IFLA_VF_MAC is answered with it */
    const char *set_ext; /* the kernel's words with those errors (extended ACK) */
    bool silent;         /* nothing answers: nl_recv times out */
    uint8_t *canned;     /* answered instead, once (malloc'd; taken) */
    size_t canned_len;
    unsigned nreqs; /* requests as sent */
    uint8_t *req[FAKE_REQS_MAX];
    size_t req_len[FAKE_REQS_MAX];
    unsigned nsets; /* RTM_SETLINKs applied */
    uint8_t *queue[FAKE_QUEUE];
    size_t queue_len[FAKE_QUEUE];
    unsigned queued;

    /* sysfs */
    char writes[8192]; /* one "PATH=VALUE" line per write, PATH relative to sysfs/ */
    unsigned nwrites;
    unsigned write_fail_at; /* the Nth write (1-based) fails with write_errno */
    int write_errno;
    bool vfio_loaded;  /* drivers_probe with driver_override vfio-pci binds it */
    bool native_probe; /* drivers_probe without an override binds igbvf */

    unsigned changes_unrecorded; /* changes made while no record was on disk */
};

/* Makes the tree (PF with enp1s0, VFs 0 and 1 with igbvf, MACs 00:..:00 and
 * 02:00:00:00:00:01, no VLAN) and the hooks; vfio loaded, native probe on, PF up. */
void hd_fake_init(struct hd_fake *f);
/* Removes the tree and frees what the fake holds. */
void hd_fake_fini(struct hd_fake *f);

/* Drops the replies not read yet (a kernel's stale answers). */
void hd_fake_flush(struct hd_fake *f);
/* The VF's driver now ("" for none) and binding it by hand (NULL: unbound). */
const char *hd_fake_driver(struct hd_fake *f, const char *bdf);
void hd_fake_bind(struct hd_fake *f, const char *bdf, const char *driver);
/* sysfs/PATH's content as the last write left it ("" when none). */
const char *hd_fake_attr(struct hd_fake *f, const char *path);
/* Creates or replaces a file or a link of the tree (relative to sysfs/). */
void hd_fake_file(struct hd_fake *f, const char *path, const char *text);
void hd_fake_link(struct hd_fake *f, const char *path, const char *target);
void hd_fake_rm(struct hd_fake *f, const char *path);
/* Whether BDF has a record in the state folder, and its text (static buffer; "" if none). */
bool hd_fake_recorded(struct hd_fake *f, const char *bdf);
const char *hd_fake_record_text(struct hd_fake *f, const char *bdf);

/* Building netlink messages: bytes, nested attributes (nest ... end), attributes, and the
 * message's length written into its header (which starts at buf). */
struct hd_fake_msg {
    uint8_t *buf;
    size_t cap, len;
};
void hd_fake_put(struct hd_fake_msg *m, const void *data, size_t n); /* data NULL: zeros */
size_t hd_fake_nest(struct hd_fake_msg *m, uint16_t type);
void hd_fake_end(struct hd_fake_msg *m, size_t at);
void hd_fake_attr_put(struct hd_fake_msg *m, uint16_t type, const void *data, size_t n);
size_t hd_fake_done(struct hd_fake_msg *m);

/* Messages as the kernel sends them, for the parser tests and the fake peer. */
size_t hd_fake_newlink(uint8_t *buf, size_t cap, uint32_t seq, int32_t ifindex, bool up,
                       const struct fake_vf *vfs, unsigned n);
size_t hd_fake_error(uint8_t *buf, size_t cap, uint32_t seq, int error, const char *ext,
                     bool capped);

#endif
