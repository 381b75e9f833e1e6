/* The hostdev API (lib/hostdev/hostdev.c, hostdev_restore.c) on the fake host: prepare and
 * release as libvirt does them, the record on disk before every change, a stale record
 * restored first, a live owner refused, every failure undoing exactly what went through
 * (and saying so when undoing fails too), release refusing another owner's record,
 * recover's outcomes, and a VMM killed with SIGKILL whose VF comes back. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hostdev_fake.h"

static struct hd_fake f;
static struct vdev_err err;
static const uint8_t new_mac[6] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55};
static const uint8_t old_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

static void setup(void)
{
    hd_fake_init(&f);
    memcpy(f.vf[0].mac, old_mac, 6);
    memset(&err, 0, sizeof(err));
}

static void teardown(void)
{
    hd_fake_fini(&f);
}

static struct vdev_hostdev_cfg cfg_of(const char *bdf, bool mac, bool vlan, bool managed)
{
    struct vdev_hostdev_cfg c = {.size = sizeof(c),
                                 .bdf = bdf,
                                 .set_mac = mac,
                                 .set_vlan = vlan,
                                 .vlan = 100,
                                 .qos = 3,
                                 .managed = managed};
    memcpy(c.mac, new_mac, 6);
    return c;
}

/* Forgets the requests seen so far. */
static void reset_requests(void)
{
    for (unsigned i = 0; i < f.nreqs; i++)
        free(f.req[i]);
    f.nreqs = 0;
}

static struct vdev_hostdev *prepare(const struct vdev_hostdev_cfg *c)
{
    return hd_prepare(&f.env, &f.hooks, c, 0, &err);
}

/* The type and length of request i, and whether it carries a MAC or a VLAN. */
static void request(unsigned i, uint16_t type, bool mac, bool vlan)
{
    ck_assert_uint_lt(i, f.nreqs);
    struct nlmsghdr h;
    memcpy(&h, f.req[i], sizeof(h));
    ck_assert_uint_eq(h.nlmsg_type, type);
    if (type == 19) /* RTM_SETLINK: 40 bytes of headers, 40 of MAC, 16 of VLAN */
        ck_assert_uint_eq(f.req_len[i], 40 + (mac ? 40 : 0) + (vlan ? 16 : 0));
}

/* A pid that no process has: a child that ended and was reaped. */
static pid_t dead_pid(void)
{
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(p, NULL, 0), p);
    return p;
}

static pid_t sleeper(void)
{
    pid_t p = fork();
    if (p == 0) {
        pause();
        _exit(0);
    }
    return p;
}

static void reap(pid_t p)
{
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
}

/* A record as a VMM that crashed left it. */
static void plant(const struct hd_record *r)
{
    struct hd_ctx c;
    char dir[PATH_MAX];
    ck_assert_int_eq(hd_ctx_init(&c, &f.env, &f.hooks, &err), 0);
    int dfd = hd_state_open(&c, dir, sizeof(dir), &err);
    ck_assert_int_ge(dfd, 0);
    ck_assert_int_eq(hd_state_write(dfd, dir, r, false, &err), 0);
    hd_state_close(dfd);
}

static struct hd_record crashed(const char *bdf, uint32_t vf, pid_t owner)
{
    struct hd_record r = {.vf = vf,
                          .owner = owner,
                          .owner_start = 1,
                          .restore_mac = true,
                          .restore_vlan = true,
                          .rebind = true,
                          .driver = "igbvf",
                          .pf_ifname = FAKE_IFNAME};
    snprintf(r.bdf, sizeof(r.bdf), "%s", bdf);
    memcpy(r.orig.mac, old_mac, 6);
    return r;
}

START_TEST(prepare_and_release_managed)
{
    struct vdev_hostdev_cfg c = cfg_of("01:10.0", true, true, true);
    struct vdev_hostdev *h = prepare(&c);
    ck_assert_msg(h != NULL, "%s", err.msg);
    const struct vdev_hostdev_vf *vf = vdev_hostdev_info(h);
    ck_assert_str_eq(vf->bdf, FAKE_VF0);
    ck_assert_str_eq(vf->pf_ifname, FAKE_IFNAME);
    ck_assert_uint_eq(vf->vf, 0);
    ck_assert_str_eq(vf->driver, "igbvf"); /* the one it had */
    /* the guest's settings, vfio-pci, and the record of the way back */
    ck_assert_mem_eq(f.vf[0].mac, new_mac, 6);
    ck_assert_uint_eq(f.vf[0].vlan, 100);
    ck_assert_uint_eq(f.vf[0].qos, 3);
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "vfio-pci");
    ck_assert_str_eq(f.writes, "bus/pci/devices/0000:01:10.0/driver_override=vfio-pci\n"
                               "bus/pci/devices/0000:01:10.0/driver/unbind=0000:01:10.0\n"
                               "bus/pci/drivers_probe=0000:01:10.0\n");
    ck_assert_uint_eq(f.nreqs, 3);
    request(0, 18, false, false); /* RTM_GETLINK */
    request(1, 19, true, false);
    request(2, 19, false, true);
    char owner[64];
    snprintf(owner, sizeof(owner), "\nowner %d ", (int)getpid());
    const char *rec = hd_fake_record_text(&f, FAKE_VF0);
    ck_assert_ptr_nonnull(strstr(rec, owner));
    ck_assert_ptr_nonnull(strstr(rec, "\nmac 52:54:00:12:34:56\nvlan 0 0\nrebind igbvf\n"));
    ck_assert_uint_eq(f.changes_unrecorded, 0);
    /* the way back: MAC and VLAN in one request, then the driver */
    f.writes[0] = '\0';
    ck_assert_int_eq(vdev_hostdev_release(h, 0, &err), 0);
    ck_assert_mem_eq(f.vf[0].mac, old_mac, 6);
    ck_assert_uint_eq(f.vf[0].vlan, 0);
    ck_assert_uint_eq(f.vf[0].qos, 0);
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "igbvf");
    ck_assert_str_eq(f.writes, "bus/pci/devices/0000:01:10.0/driver/unbind=0000:01:10.0\n"
                               "bus/pci/devices/0000:01:10.0/driver_override=\\n\n"
                               "bus/pci/drivers_probe=0000:01:10.0\n");
    ck_assert_uint_eq(f.nreqs, 4);
    request(3, 19, true, true);
    ck_assert(!hd_fake_recorded(&f, FAKE_VF0));
    ck_assert_uint_eq(f.changes_unrecorded, 0);
}
END_TEST

/* An all-zero MAC was "none": it goes back as zeros (libvirt does the same). */
START_TEST(unmanaged_mac_only_and_zero_mac_back)
{
    memset(f.vf[1].mac, 0, 6);
    struct vdev_hostdev_cfg c = cfg_of(FAKE_VF1, true, false, false);
    struct vdev_hostdev *h = prepare(&c);
    ck_assert_msg(h != NULL, "%s", err.msg);
    ck_assert_str_eq(f.writes, "");
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF1), "igbvf");
    ck_assert_mem_eq(f.vf[1].mac, new_mac, 6);
    const char *rec = hd_fake_record_text(&f, FAKE_VF1);
    ck_assert_ptr_nonnull(strstr(rec, "\nvf 1\n"));
    ck_assert_ptr_nonnull(strstr(rec, "\nmac 00:00:00:00:00:00\n"));
    ck_assert_ptr_null(strstr(rec, "vlan"));
    ck_assert_ptr_null(strstr(rec, "rebind"));
    ck_assert_int_eq(vdev_hostdev_release(h, 0, &err), 0);
    static const uint8_t zero[6];
    ck_assert_mem_eq(f.vf[1].mac, zero, 6);
    request(f.nreqs - 1, 19, true, false);
    ck_assert_str_eq(f.writes, "");
}
END_TEST

START_TEST(nothing_to_change)
{
    struct vdev_hostdev_cfg c = cfg_of(FAKE_VF0, false, false, false);
    struct vdev_hostdev *h = prepare(&c);
    ck_assert_msg(h != NULL, "%s", err.msg);
    ck_assert_str_eq(vdev_hostdev_info(h)->pf_ifname, FAKE_IFNAME);
    ck_assert_uint_eq(f.nreqs, 0);
    ck_assert(!hd_fake_recorded(&f, FAKE_VF0));
    ck_assert_int_eq(vdev_hostdev_release(h, 0, &err), 0);
    ck_assert_uint_eq(f.nreqs, 0);
    ck_assert_int_eq(vdev_hostdev_release(NULL, 0, &err), 0);
    ck_assert_ptr_null(vdev_hostdev_info(NULL));
    /* not a VF: refused all the same */
    c.bdf = FAKE_PF;
    ck_assert_ptr_null(prepare(&c));
    ck_assert_int_eq(err.code, VDEV_E_NOENT);
    ck_assert_ptr_nonnull(strstr(err.msg, "0000:01:00.0 is not an SR-IOV virtual function (no "
                                          "physfn) (hint: name a VF of the NIC,"));
}
END_TEST

START_TEST(managed_on_vfio_already)
{
    hd_fake_bind(&f, FAKE_VF0, "vfio-pci");
    struct vdev_hostdev_cfg c = cfg_of(FAKE_VF0, false, false, true);
    struct vdev_hostdev *h = prepare(&c);
    ck_assert_msg(h != NULL, "%s", err.msg);
    ck_assert_str_eq(f.writes, "");
    ck_assert(hd_fake_recorded(&f, FAKE_VF0));
    ck_assert_ptr_null(strstr(hd_fake_record_text(&f, FAKE_VF0), "rebind"));
    ck_assert_int_eq(vdev_hostdev_release(h, 0, &err), 0);
    ck_assert_str_eq(f.writes, ""); /* it stays with vfio-pci, as it was */
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "vfio-pci");
    ck_assert(!hd_fake_recorded(&f, FAKE_VF0));
    ck_assert_uint_eq(f.nreqs, 0);
}
END_TEST

START_TEST(bad_tables_and_values)
{
    static const struct {
        const char *bdf;
        uint8_t mac0;
        bool zero_mac;
        uint16_t vlan;
        uint8_t qos;
        const char *msg;
    } cases[] = {
        {"0000:01:10", 0, false, 1, 0,
         "'0000:01:10' is not a PCI address (expected DDDD:BB:DD.F, e.g. 0000:01:10.0)"},
        {NULL, 0, false, 1, 0,
         "'(null)' is not a PCI address (expected DDDD:BB:DD.F, e.g. 0000:01:10.0)"},
        {FAKE_VF0, 0, true, 1, 0,
         "0000:01:10.0: MAC 00:00:00:00:00:00 is no address (it means "
         "none)"},
        {FAKE_VF0, 0x01, false, 1, 0,
         "0000:01:10.0: MAC 01:11:22:33:44:55 is a multicast "
         "address, which no NIC can have"},
        {FAKE_VF0, 0, false, 4095, 0,
         "0000:01:10.0: VLAN 4095 priority 0 (a VLAN is 0-4094, 0 "
         "for none; a priority 0-7)"},
        {FAKE_VF0, 0, false, 5, 8,
         "0000:01:10.0: VLAN 5 priority 8 (a VLAN is 0-4094, 0 for "
         "none; a priority 0-7)"},
        {FAKE_VF0, 0, false, 0, 2, "0000:01:10.0: priority 2 without a VLAN"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct vdev_hostdev_cfg c = cfg_of(cases[i].bdf, true, true, true);
        c.mac[0] = cases[i].mac0;
        if (cases[i].zero_mac)
            memset(c.mac, 0, 6);
        c.vlan = cases[i].vlan;
        c.qos = cases[i].qos;
        ck_assert_ptr_null(prepare(&c));
        ck_assert_int_eq(err.code, VDEV_E_INVAL);
        ck_assert_msg(!strcmp(err.msg, cases[i].msg), "%zu: %s", i, err.msg);
    }
    struct vdev_hostdev_cfg c = cfg_of(FAKE_VF0, true, true, true);
    ck_assert_ptr_null(hd_prepare(&f.env, &f.hooks, &c, 1, &err));
    ck_assert_str_eq(err.msg, "vdev_hostdev_prepare: unknown flags 0x1");
    ck_assert_ptr_null(hd_prepare(&f.env, &f.hooks, NULL, 0, &err));
    ck_assert_str_eq(err.msg, "vdev_hostdev_prepare: no table (set its size to sizeof(struct "
                              "vdev_hostdev_cfg))");
    c.size = offsetof(struct vdev_hostdev_cfg, owner);
    ck_assert_ptr_null(prepare(&c));
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    c.size = sizeof(c);
    c.owner = dead_pid();
    ck_assert_ptr_null(prepare(&c));
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    char want[128];
    snprintf(want, sizeof(want), "0000:01:10.0: the owner, pid %d, is not running", (int)c.owner);
    ck_assert_str_eq(err.msg, want);
    struct vdev_hostdev_env env = {.size = 8};
    c.owner = 0;
    ck_assert_ptr_null(hd_prepare(&env, &f.hooks, &c, 0, &err));
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    ck_assert_uint_eq(f.nreqs, 0);
    ck_assert_str_eq(f.writes, "");
    ck_assert(!hd_fake_recorded(&f, FAKE_VF0));
}
END_TEST

/* "The next start": a record whose owner died is restored before the VF is set up again. */
START_TEST(stale_record_restored_first)
{
    struct hd_record r = crashed(FAKE_VF0, 0, dead_pid());
    plant(&r);
    hd_fake_bind(&f, FAKE_VF0, "vfio-pci");
    hd_fake_file(&f, "bus/pci/devices/" FAKE_VF0 "/driver_override", "vfio-pci\n");
    memcpy(f.vf[0].mac, new_mac, 6); /* what the dead VMM's guest had */
    f.vf[0].vlan = 7;
    struct vdev_hostdev_cfg c = cfg_of(FAKE_VF0, true, false, true);
    c.mac[5] = 0x66;
    struct vdev_hostdev *h = prepare(&c);
    ck_assert_msg(h != NULL, "%s", err.msg);
    /* set back (MAC and VLAN, driver), then set up anew from what it had */
    request(0, 19, true, true);
    request(1, 18, false, false);
    request(2, 19, true, false);
    ck_assert_str_eq(f.writes, "bus/pci/devices/0000:01:10.0/driver/unbind=0000:01:10.0\n"
                               "bus/pci/devices/0000:01:10.0/driver_override=\\n\n"
                               "bus/pci/drivers_probe=0000:01:10.0\n"
                               "bus/pci/devices/0000:01:10.0/driver_override=vfio-pci\n"
                               "bus/pci/devices/0000:01:10.0/driver/unbind=0000:01:10.0\n"
                               "bus/pci/drivers_probe=0000:01:10.0\n");
    const char *rec = hd_fake_record_text(&f, FAKE_VF0);
    char owner[64];
    snprintf(owner, sizeof(owner), "\nowner %d ", (int)getpid());
    ck_assert_ptr_nonnull(strstr(rec, owner));
    ck_assert_ptr_nonnull(strstr(rec, "\nmac 52:54:00:12:34:56\nrebind igbvf\n"));
    ck_assert_uint_eq(f.vf[0].mac[5], 0x66);
    ck_assert_uint_eq(f.vf[0].vlan, 0);
    ck_assert_int_eq(vdev_hostdev_release(h, 0, &err), 0);
    ck_assert_mem_eq(f.vf[0].mac, old_mac, 6);
}
END_TEST

START_TEST(live_owner_is_busy)
{
    unsigned long long start;
    struct hd_record r = crashed(FAKE_VF0, 0, getpid());
    ck_assert_int_eq(hd_proc_start(getpid(), &start), 0);
    r.owner_start = start;
    plant(&r);
    struct vdev_hostdev_cfg c = cfg_of(FAKE_VF0, true, true, true);
    ck_assert_ptr_null(prepare(&c));
    ck_assert_int_eq(err.code, VDEV_E_BUSY);
    char want[512];
    snprintf(want, sizeof(want),
             "0000:01:10.0 is in use by pid %d (its record: %s/0000:01:10.0.state) (hint: one VF, "
             "one guest; it is free once that process ends)",
             (int)getpid(), f.state);
    ck_assert_str_eq(err.msg, want);
    ck_assert_uint_eq(f.nreqs, 0);
    ck_assert_str_eq(f.writes, "");
    ck_assert(hd_fake_recorded(&f, FAKE_VF0));
    /* the same pid with another start time is another process: the record is stale */
    r.owner_start = start + 1;
    plant(&r);
    struct vdev_hostdev *h = prepare(&c);
    ck_assert_msg(h != NULL, "%s", err.msg);
    vdev_hostdev_release(h, 0, &err);
}
END_TEST

START_TEST(stale_record_that_cannot_be_restored)
{
    struct hd_record r = crashed(FAKE_VF0, 0, dead_pid());
    plant(&r);
    f.set_errno = EPERM;
    struct vdev_hostdev_cfg c = cfg_of(FAKE_VF0, true, true, true);
    ck_assert_ptr_null(prepare(&c));
    ck_assert_int_eq(err.code, VDEV_E_PERM);
    char want[512];
    snprintf(want, sizeof(want),
             "0000:01:10.0: the record of pid %d, which is no longer running, could not be "
             "restored: 0000:01:10.0 (enp1s0 vf 0): setting MAC 52:54:00:12:34:56 and VLAN 0 "
             "(priority 0): Operation not permitted (hint: this needs CAP_NET_ADMIN: run it as "
             "root)",
             (int)r.owner);
    ck_assert_str_eq(err.msg, want);
    ck_assert(hd_fake_recorded(&f, FAKE_VF0));
    /* a record that is not valid stops it too, and stays */
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s.state", f.state, FAKE_VF1);
    FILE *fp = fopen(p, "w");
    fputs("garbage\n", fp);
    fclose(fp);
    chmod(p, 0600);
    c.bdf = FAKE_VF1;
    ck_assert_ptr_null(prepare(&c));
    ck_assert_int_eq(err.code, VDEV_E_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "0000:01:10.2.state is not valid: line 1 is not "
                                          "'vdevkit-hostdev 1'"));
    ck_assert(hd_fake_recorded(&f, FAKE_VF1));
}
END_TEST

/* Failures before any change: nothing changed, no record left. */
START_TEST(failures_before_changing)
{
    struct vdev_hostdev_cfg c = cfg_of(FAKE_VF0, true, true, true);
    f.get_errno = EIO;
    ck_assert_ptr_null(prepare(&c));
    ck_assert_int_eq(err.code, VDEV_E_IO);
    ck_assert_str_eq(err.msg, "0000:01:10.0 (enp1s0 vf 0): reading its MAC and VLAN: "
                              "Input/output error");
    f.get_errno = 0;
    f.up = false;
    ck_assert_ptr_null(prepare(&c));
    ck_assert_int_eq(err.code, VDEV_E_IO);
    ck_assert_str_eq(err.msg, "0000:01:10.0: its PF enp1s0 is down, so the VF would have no "
                              "link (hint: ip link set enp1s0 up)");
    f.up = true;
    /* the record cannot be written (something stands where its temporary file goes) */
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/.%s.state.tmp", f.state, FAKE_VF0);
    char cmd[2 * PATH_MAX + 256];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s/x' && chmod 700 '%s'", p, f.state);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_ptr_null(prepare(&c));
    ck_assert_int_eq(err.code, VDEV_E_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "0000:01:10.0.state: removing .0000:01:10.0.state.tmp"));
    ck_assert_str_eq(f.writes, "");
    ck_assert_uint_eq(f.nsets, 0);
    ck_assert(!hd_fake_recorded(&f, FAKE_VF0));
    /* the state folder cannot be used */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -m 777 '%s'", f.state, f.state);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_ptr_null(prepare(&c));
    ck_assert_int_eq(err.code, VDEV_E_PERM);
    ck_assert_ptr_nonnull(strstr(err.msg, "hostdev state folder"));
    ck_assert_uint_eq(f.nreqs, 3); /* a GETLINK each, but for the last */
    ck_assert_uint_eq(f.changes_unrecorded, 0);
}
END_TEST

/* Binding fails at each step: what went through is undone, the record goes. */
START_TEST(binding_fails_and_is_undone)
{
    struct vdev_hostdev_cfg c = cfg_of(FAKE_VF0, true, true, true);
    /* the first write (not root): nothing to undo */
    f.write_fail_at = 1;
    f.write_errno = EACCES;
    ck_assert_ptr_null(prepare(&c));
    ck_assert_int_eq(err.code, VDEV_E_PERM);
    ck_assert_ptr_nonnull(strstr(err.msg, "binding it to vfio-pci: writing"));
    ck_assert_str_eq(f.writes, "bus/pci/devices/0000:01:10.0/driver_override=vfio-pci\n");
    ck_assert(!hd_fake_recorded(&f, FAKE_VF0));
    ck_assert_uint_eq(f.nsets, 0);
    /* the unbind: the override is cleared again */
    f.writes[0] = '\0';
    f.nwrites = 0;
    f.write_fail_at = 2;
    f.write_errno = EBUSY;
    ck_assert_ptr_null(prepare(&c));
    ck_assert_str_eq(f.writes, "bus/pci/devices/0000:01:10.0/driver_override=vfio-pci\n"
                               "bus/pci/devices/0000:01:10.0/driver/unbind=0000:01:10.0\n"
                               "bus/pci/devices/0000:01:10.0/driver_override=\\n\n");
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "igbvf");
    ck_assert(!hd_fake_recorded(&f, FAKE_VF0));
    /* vfio-pci not loaded: given back to igbvf */
    f.writes[0] = '\0';
    f.write_fail_at = 0;
    f.vfio_loaded = false;
    ck_assert_ptr_null(prepare(&c));
    ck_assert_str_eq(err.msg, "0000:01:10.0: vfio-pci did not take it (its driver now: none) "
                              "(hint: modprobe vfio-pci)");
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "igbvf");
    ck_assert_str_eq(hd_fake_attr(&f, "bus/pci/devices/" FAKE_VF0 "/driver_override"), "\n");
    ck_assert(!hd_fake_recorded(&f, FAKE_VF0));
    ck_assert_uint_eq(f.nsets, 0);
    ck_assert_mem_eq(f.vf[0].mac, old_mac, 6);
    ck_assert_uint_eq(f.changes_unrecorded, 0);
}
END_TEST

START_TEST(settings_fail_and_are_undone)
{
    struct vdev_hostdev_cfg c = cfg_of(FAKE_VF0, true, true, true);
    /* the MAC: the driver goes back, the MAC was never set */
    f.mac_errno = EPERM;
    ck_assert_ptr_null(prepare(&c));
    ck_assert_int_eq(err.code, VDEV_E_PERM);
    ck_assert_str_eq(err.msg, "0000:01:10.0 (enp1s0 vf 0): setting MAC 00:11:22:33:44:55: "
                              "Operation not permitted (hint: this needs CAP_NET_ADMIN: run it "
                              "as root)");
    ck_assert_uint_eq(f.nreqs, 2); /* GETLINK, the MAC; nothing to set back */
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "igbvf");
    ck_assert(!hd_fake_recorded(&f, FAKE_VF0));
    /* the VLAN: the MAC goes back alone, then the driver */
    f.mac_errno = 0;
    f.vlan_errno = EOPNOTSUPP;
    reset_requests();
    ck_assert_ptr_null(prepare(&c));
    ck_assert_int_eq(err.code, VDEV_E_UNSUPPORTED);
    ck_assert_uint_eq(f.nreqs, 4);
    request(1, 19, true, false);
    request(2, 19, false, true);
    request(3, 19, true, false);
    ck_assert_mem_eq(f.vf[0].mac, old_mac, 6);
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "igbvf");
    ck_assert(!hd_fake_recorded(&f, FAKE_VF0));
    ck_assert_uint_eq(f.changes_unrecorded, 0);
}
END_TEST

/* Undoing fails too: both said, the record stays, and recover finishes the job later. */
START_TEST(undo_fails_and_the_record_stays)
{
    pid_t owner = sleeper();
    struct vdev_hostdev_cfg c = cfg_of(FAKE_VF0, true, true, true);
    c.owner = owner;
    f.vlan_errno = EOPNOTSUPP;
    f.write_fail_at = 4; /* the unbind from vfio-pci on the way back */
    f.write_errno = EBUSY;
    ck_assert_ptr_null(prepare(&c));
    ck_assert_ptr_nonnull(strstr(err.msg, "setting VLAN 100 (priority 3): Operation not "
                                          "supported (hint: the PF's driver does not let its VFs "
                                          "be configured this way); undoing it failed too: "
                                          "0000:01:10.0: unbinding it from vfio-pci: writing "));
    ck_assert_ptr_nonnull(strstr(err.msg, "Device or resource busy (the record stays: vdevkit "
                                          "hostdev-cleanup 0000:01:10.0)"));
    ck_assert(hd_fake_recorded(&f, FAKE_VF0));
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "vfio-pci");
    f.write_fail_at = 0;
    f.vlan_errno = 0;
    /* its owner runs: recover leaves it */
    ck_assert_int_eq(hd_recover(&f.env, &f.hooks, FAKE_VF0, 0, NULL, NULL, &err), 1);
    ck_assert(hd_fake_recorded(&f, FAKE_VF0));
    reap(owner);
    ck_assert_int_eq(hd_recover(&f.env, &f.hooks, FAKE_VF0, 0, NULL, NULL, &err), 0);
    ck_assert(!hd_fake_recorded(&f, FAKE_VF0));
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "igbvf");
    ck_assert_mem_eq(f.vf[0].mac, old_mac, 6);
}
END_TEST

START_TEST(release_failures)
{
    pid_t owner = sleeper();
    struct vdev_hostdev_cfg c = cfg_of(FAKE_VF0, true, false, true);
    c.owner = owner;
    struct vdev_hostdev *h = prepare(&c);
    ck_assert_msg(h != NULL, "%s", err.msg);
    f.set_errno = EPERM;
    ck_assert_int_eq(vdev_hostdev_release(h, 0, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_PERM);
    ck_assert_ptr_nonnull(strstr(err.msg, "Operation not permitted (hint: this needs "
                                          "CAP_NET_ADMIN: run it as root) (the record stays: "
                                          "'vdevkit hostdev-cleanup 0000:01:10.0' retries)"));
    ck_assert(hd_fake_recorded(&f, FAKE_VF0));
    f.set_errno = 0;
    reap(owner);
    ck_assert_int_eq(hd_recover(&f.env, &f.hooks, NULL, 0, NULL, NULL, &err), 0);
    ck_assert_mem_eq(f.vf[0].mac, old_mac, 6);
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "igbvf");

    /* another owner's record now: not ours to set back */
    c.owner = 0;
    h = prepare(&c);
    ck_assert_msg(h != NULL, "%s", err.msg);
    struct hd_record r = crashed(FAKE_VF0, 0, 1);
    plant(&r);
    unsigned reqs = f.nreqs;
    ck_assert_int_eq(vdev_hostdev_release(h, 0, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_BUSY);
    char want[256];
    snprintf(want, sizeof(want),
             "0000:01:10.0: its record now belongs to pid 1, not to pid %d: not set back (the "
             "record stays: 'vdevkit hostdev-cleanup 0000:01:10.0' retries)",
             (int)getpid());
    ck_assert_str_eq(err.msg, want);
    ck_assert_uint_eq(f.nreqs, reqs);

    /* a record removed by hand: set back all the same */
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s.state", f.state, FAKE_VF0);
    unlink(p);
    hd_fake_bind(&f, FAKE_VF0, "igbvf");
    memcpy(f.vf[0].mac, old_mac, 6);
    h = prepare(&c);
    ck_assert_msg(h != NULL, "%s", err.msg);
    unlink(p);
    ck_assert_int_eq(vdev_hostdev_release(h, 0, &err), 0);
    ck_assert_mem_eq(f.vf[0].mac, old_mac, 6);
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "igbvf");

    /* unknown flags: nothing done, the handle freed, the record stays */
    h = prepare(&c);
    ck_assert_msg(h != NULL, "%s", err.msg);
    ck_assert_int_eq(vdev_hostdev_release(h, 2, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    ck_assert_str_eq(err.msg, "vdev_hostdev_release: unknown flags 0x2 (the record stays)");
    ck_assert(hd_fake_recorded(&f, FAKE_VF0));
}
END_TEST

struct seen {
    unsigned n;
    char lines[8][600];
};

static void collect(void *ctx, const struct vdev_hostdev_report *r)
{
    struct seen *s = ctx;
    ck_assert_uint_eq(r->size, sizeof(*r));
    ck_assert_uint_lt(s->n, 8);
    snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s %s %s %lld %d: %.400s", r->bdf,
             vdev_hostdev_outcome_name(r->outcome), r->pf_ifname ? r->pf_ifname : "-",
             (long long)r->vf, r->owner > 0 ? 1 : 0, r->detail);
}

START_TEST(recover_outcomes)
{
    struct seen s = {0};
    ck_assert_int_eq(hd_recover(&f.env, &f.hooks, NULL, 0, collect, &s, &err), 0);
    ck_assert_uint_eq(s.n, 0); /* nothing recorded: nothing said */
    pid_t owner = sleeper();
    unsigned long long start;
    ck_assert_int_eq(hd_proc_start(owner, &start), 0);
    struct hd_record live = crashed(FAKE_VF1, 1, owner);
    live.owner_start = start;
    plant(&live);
    struct hd_record r = crashed(FAKE_VF0, 0, dead_pid());
    plant(&r);
    hd_fake_bind(&f, FAKE_VF0, "vfio-pci");
    struct hd_record gone = crashed("0000:03:00.0", 0, dead_pid());
    plant(&gone);
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/0000:02:00.0.state", f.state);
    FILE *fp = fopen(p, "w");
    fputs("vdevkit-hostdev 1\n", fp);
    fclose(fp);
    chmod(p, 0600);
    ck_assert_int_eq(hd_recover(&f.env, &f.hooks, NULL, 0, collect, &s, &err), 1);
    ck_assert_uint_eq(s.n, 4);
    ck_assert_str_eq(s.lines[0], "0000:01:10.0 restored enp1s0 0 1: enp1s0 vf 0: MAC "
                                 "52:54:00:12:34:56, VLAN 0 priority 0 set back; back with igbvf");
    char want[600];
    snprintf(want, sizeof(want),
             "0000:01:10.2 in-use enp1s0 1 1: in use by pid %d, which is running: left alone (it "
             "restores the VF when it ends)",
             (int)owner);
    ck_assert_str_eq(s.lines[1], want);
    ck_assert_ptr_nonnull(strstr(s.lines[2], "0000:02:00.0 failed - -1 0: record "));
    ck_assert_ptr_nonnull(strstr(s.lines[2], "is not valid: it lacks bdf, pf, vf or owner"));
    ck_assert_str_eq(s.lines[3], "0000:03:00.0 gone enp1s0 0 1: 0000:03:00.0 no longer exists: "
                                 "nothing to set back");
    ck_assert(!hd_fake_recorded(&f, FAKE_VF0));
    ck_assert(hd_fake_recorded(&f, FAKE_VF1));
    ck_assert(hd_fake_recorded(&f, "0000:02:00.0"));
    ck_assert(!hd_fake_recorded(&f, "0000:03:00.0"));
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "igbvf");
    /* by name: in use; nothing recorded; a bad address; flags */
    s.n = 0;
    ck_assert_int_eq(hd_recover(&f.env, &f.hooks, "01:10.2", 0, collect, &s, &err), 1);
    ck_assert_int_eq(hd_recover(&f.env, &f.hooks, "0000:04:00.0", 0, collect, &s, &err), 0);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_ptr_nonnull(strstr(s.lines[0], "0000:01:10.2 in-use"));
    ck_assert_str_eq(s.lines[1], "0000:04:00.0 no-record - -1 0: nothing is recorded for it: "
                                 "nothing to restore");
    ck_assert_int_eq(hd_recover(&f.env, &f.hooks, "04:00", 0, collect, &s, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_INVAL);
    ck_assert_int_eq(hd_recover(&f.env, &f.hooks, NULL, 4, collect, &s, &err), -1);
    ck_assert_str_eq(err.msg, "vdev_hostdev_recover: unknown flags 0x4");
    ck_assert_uint_eq(s.n, 2);
    reap(owner);
    /* a VF whose index changed since (its VFs made again): not set back */
    struct hd_record moved = crashed(FAKE_VF0, 1, dead_pid());
    plant(&moved);
    s.n = 0;
    ck_assert_int_eq(hd_recover(&f.env, &f.hooks, FAKE_VF0, 0, collect, &s, &err), 1);
    ck_assert_str_eq(s.lines[0], "0000:01:10.0 failed enp1s0 1 1: 0000:01:10.0 is VF 0 of enp1s0 "
                                 "now, and its record says VF 1: not set back (hint: were the VFs "
                                 "made again? then nothing is left to set back: remove the "
                                 "record) (the record stays)");
}
END_TEST

/* A VMM killed with SIGKILL after prepare: its record brings the VF back, by recover or by
 * the next prepare. (The fake peer's MACs live in each process: the child's changes to them
 * stay in the child; the record and the driver are on disk.) */
static pid_t vmm_that_dies(const struct vdev_hostdev_cfg *c)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t child = fork();
    if (child == 0) {
        struct vdev_hostdev *h = prepare(c);
        char ok = h ? 'y' : 'n';
        if (write(p[1], &ok, 1) != 1)
            _exit(2);
        pause();
        _exit(0);
    }
    close(p[1]);
    char ok = 0;
    ck_assert_int_eq(read(p[0], &ok, 1), 1);
    close(p[0]);
    ck_assert_int_eq(ok, 'y');
    ck_assert_int_eq(kill(child, SIGKILL), 0);
    ck_assert_int_eq(waitpid(child, NULL, 0), child);
    return child;
}

START_TEST(sigkilled_vmm)
{
    struct vdev_hostdev_cfg c = cfg_of(FAKE_VF0, true, true, true);
    pid_t dead = vmm_that_dies(&c);
    char owner[64];
    snprintf(owner, sizeof(owner), "\nowner %d ", (int)dead);
    ck_assert_ptr_nonnull(strstr(hd_fake_record_text(&f, FAKE_VF0), owner));
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "vfio-pci");
    memcpy(f.vf[0].mac, new_mac, 6); /* as the child left the PF */
    struct seen s = {0};
    ck_assert_int_eq(hd_recover(&f.env, &f.hooks, NULL, 0, collect, &s, &err), 0);
    ck_assert_uint_eq(s.n, 1);
    ck_assert_ptr_nonnull(strstr(s.lines[0], "0000:01:10.0 restored"));
    ck_assert_mem_eq(f.vf[0].mac, old_mac, 6);
    ck_assert_str_eq(hd_fake_driver(&f, FAKE_VF0), "igbvf");
    ck_assert(!hd_fake_recorded(&f, FAKE_VF0));
    /* again, and the next VMM's prepare restores it */
    vmm_that_dies(&c);
    memcpy(f.vf[0].mac, new_mac, 6);
    c.mac[5] = 0x77;
    struct vdev_hostdev *h = prepare(&c);
    ck_assert_msg(h != NULL, "%s", err.msg);
    ck_assert_ptr_nonnull(strstr(hd_fake_record_text(&f, FAKE_VF0), "\nmac 52:54:00:12:34:56\n"));
    ck_assert_int_eq(vdev_hostdev_release(h, 0, &err), 0);
    ck_assert_mem_eq(f.vf[0].mac, old_mac, 6);
}
END_TEST

/* The public calls with the real hooks, on the fake tree: no kernel behind the writes, so
 * vfio-pci never takes the VF; the handle keeps its own copy of the state folder's name. */
START_TEST(public_calls_with_real_hooks)
{
    struct vdev_hostdev_cfg c = cfg_of(FAKE_VF0, false, false, true);
    ck_assert_ptr_null(vdev_hostdev_prepare(&f.env, &c, 0, &err));
    ck_assert_str_eq(err.msg, "0000:01:10.0: vfio-pci did not take it (its driver now: igbvf) "
                              "(hint: modprobe vfio-pci)");
    ck_assert_str_eq(hd_fake_attr(&f, "bus/pci/drivers_probe"), FAKE_VF0);
    ck_assert_str_eq(hd_fake_attr(&f, "bus/pci/devices/" FAKE_VF0 "/driver_override"), "\n");
    ck_assert(!hd_fake_recorded(&f, FAKE_VF0));
    hd_fake_bind(&f, FAKE_VF0, "vfio-pci");
    struct vdev_hostdev_env env = f.env;
    char *dir = strdup(f.state);
    env.state_dir = dir;
    struct vdev_hostdev *h = vdev_hostdev_prepare(&env, &c, 0, &err);
    ck_assert_msg(h != NULL, "%s", err.msg);
    memset(dir, 'x', strlen(dir));
    free(dir);
    ck_assert(hd_fake_recorded(&f, FAKE_VF0));
    ck_assert_int_eq(vdev_hostdev_release(h, 0, &err), 0);
    ck_assert(!hd_fake_recorded(&f, FAKE_VF0));
    struct hd_record gone = crashed("0000:03:00.0", 0, dead_pid());
    plant(&gone);
    ck_assert_int_eq(vdev_hostdev_recover(&f.env, NULL, 0, NULL, NULL, &err), 0);
    ck_assert(!hd_fake_recorded(&f, "0000:03:00.0"));
    ck_assert_str_eq(vdev_hostdev_outcome_name(VDEV_HOSTDEV_FAILED), "failed");
    ck_assert_str_eq(vdev_hostdev_outcome_name(99), "?");
    ck_assert_str_eq(vdev_hostdev_outcome_name(-1), "?");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostdev");
    TCase *tc = tcase_create("hostdev");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, prepare_and_release_managed);
    tcase_add_test(tc, unmanaged_mac_only_and_zero_mac_back);
    tcase_add_test(tc, nothing_to_change);
    tcase_add_test(tc, managed_on_vfio_already);
    tcase_add_test(tc, bad_tables_and_values);
    tcase_add_test(tc, stale_record_restored_first);
    tcase_add_test(tc, live_owner_is_busy);
    tcase_add_test(tc, stale_record_that_cannot_be_restored);
    tcase_add_test(tc, failures_before_changing);
    tcase_add_test(tc, binding_fails_and_is_undone);
    tcase_add_test(tc, settings_fail_and_are_undone);
    tcase_add_test(tc, undo_fails_and_the_record_stays);
    tcase_add_test(tc, release_failures);
    tcase_add_test(tc, recover_outcomes);
    tcase_add_test(tc, sigkilled_vmm);
    tcase_add_test(tc, public_calls_with_real_hooks);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
