/* Doorbells and irqfds, trapped and exitless, and fd watches on the event loop. */
#include <check.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake_embedder.h"

#define BELL_BASE 0xd0000000ull

struct bell {
    struct vdev_doorbell *db;
    unsigned fired, writes;
    uint64_t last_write;
};

static void bell_fire(void *opaque)
{
    struct bell *b = opaque;
    b->fired++;
}

static uint64_t bell_read(struct vdev *d, uint64_t off, unsigned size)
{
    return 0;
}

static void bell_write(struct vdev *d, uint64_t off, unsigned size, uint64_t v)
{
    struct bell *b = vdev_state(d);
    b->writes++;
    b->last_write = v;
}

static int bell_assign(struct vdev *d)
{
    struct bell *b = vdev_state(d);
    struct vdev_doorbell_desc desc = {.space = VDEV_SPACE_MEM,
                                      .addr = vdev_loc(d)->addr + 0x10,
                                      .len = 2,
                                      .match = true,
                                      .data = 3,
                                      .fire = bell_fire,
                                      .opaque = b};
    struct vdev_err err;
    if (vdev_doorbell_add(d, &desc, &b->db, &err))
        return vdev_error(d, vdev_pos(d), NULL, "%s", err.msg);
    return 0;
}

static const struct vdev_type bell_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "bell",
    .state_size = sizeof(struct bell),
    .places = VDEV_PLACE_MEM,
    .window_size = 0x100,
    .has_intr = true,
    .window = {.read = bell_read, .write = bell_write, .sizes = 0xf},
    .assign = bell_assign,
};

static struct fake_embedder fe;
static struct bell *b;
static struct vdev *dev;

static void build(bool exitless)
{
    struct vdev_err err;
    ck_assert_int_eq(vdev_register_type(&bell_type, &err), 0);
    fake_machine_new(&fe);
    fe.exitless = exitless;
    if (fake_machine_build_string(&fe, "ram 1M vdev bell loc 0xd0000000 intr ioapic:5", &err))
        ck_abort_msg("%s", err.msg);
    dev = vdev_machine_device(fe.m, 0);
    b = vdev_state(dev);
}

static void guest_write(uint64_t addr, unsigned size, uint64_t v)
{
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_MEM, addr, size, true, &v),
                     VDEV_ACCESS_OK);
}

START_TEST(trapped_doorbell)
{
    build(false);
    ck_assert(!vdev_doorbell_exitless(b->db));
    guest_write(BELL_BASE + 0x10, 2, 3);
    ck_assert_uint_eq(b->writes, 0); /* consumed by the doorbell */
    ck_assert_int_eq(vdev_machine_poll(fe.m, 1000), 0);
    ck_assert_uint_eq(b->fired, 1);
    /* other data, another size or another offset are ordinary register writes */
    guest_write(BELL_BASE + 0x10, 2, 4);
    guest_write(BELL_BASE + 0x10, 4, 3);
    guest_write(BELL_BASE + 0x12, 2, 3);
    ck_assert_uint_eq(b->writes, 3);
    ck_assert_int_eq(vdev_machine_poll(fe.m, 0), 0);
    ck_assert_uint_eq(b->fired, 1);
    /* several rings before the device runs coalesce into one wake-up, none lost */
    guest_write(BELL_BASE + 0x10, 2, 3);
    guest_write(BELL_BASE + 0x10, 2, 3);
    ck_assert_int_eq(vdev_machine_poll(fe.m, 1000), 0);
    ck_assert_uint_eq(b->fired, 2);
    vdev_doorbell_remove(b->db);
    guest_write(BELL_BASE + 0x10, 2, 3);
    ck_assert_uint_eq(b->writes, 4);
    fake_machine_free(&fe);
}
END_TEST

START_TEST(exitless_doorbell)
{
    build(true);
    ck_assert(vdev_doorbell_exitless(b->db));
    ck_assert_uint_eq(fe.ioeventfds_bound, 1);
    /* the kernel signals the fd; the same callback runs */
    uint64_t one = 1;
    ck_assert_int_eq(write(vdev_doorbell_fd(b->db), &one, sizeof(one)), sizeof(one));
    ck_assert_int_eq(vdev_machine_poll(fe.m, 1000), 0);
    ck_assert_uint_eq(b->fired, 1);
    /* moving rebinds */
    ck_assert_int_eq(vdev_doorbell_move(b->db, BELL_BASE + 0x20, NULL), 0);
    ck_assert_uint_eq(fe.ioeventfds_bound, 1);
    vdev_doorbell_remove(b->db);
    ck_assert_uint_eq(fe.ioeventfds_bound, 0);
    fake_machine_free(&fe);
}
END_TEST

START_TEST(doorbell_outside_window_refused)
{
    build(false);
    struct vdev_doorbell *db;
    struct vdev_err err;
    struct vdev_doorbell_desc desc = {.space = VDEV_SPACE_MEM, .addr = BELL_BASE + 0xff, .len = 2};
    ck_assert_int_eq(vdev_doorbell_add(dev, &desc, &db, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "is not inside one of its windows"));
    desc.addr = 0x1000; /* RAM */
    ck_assert_int_eq(vdev_doorbell_add(dev, &desc, &db, &err), -1);
    desc.addr = BELL_BASE;
    desc.len = 3;
    ck_assert_int_eq(vdev_doorbell_add(dev, &desc, &db, &err), -1);
    fake_machine_free(&fe);
}
END_TEST

START_TEST(irqfd_fallbacks)
{
    build(false);
    struct vdev_err err;
    struct vdev_msi msi = {.addr = 0xfee00000, .data = 0x41};
    struct vdev_irqfd *f = vdev_irqfd_msi(dev, &msi, &err);
    ck_assert_ptr_nonnull(f);
    ck_assert(!vdev_irqfd_exitless(f));
    vdev_irqfd_trigger(f);
    ck_assert_int_eq(vdev_machine_poll(fe.m, 1000), 0);
    ck_assert_uint_eq(fe.nmsi, 1);
    ck_assert_uint_eq(fe.msis[0].data, 0x41);
    msi.data = 0x42;
    ck_assert_int_eq(vdev_irqfd_set_msi(f, &msi), 0);
    vdev_irqfd_trigger(f);
    ck_assert_int_eq(vdev_machine_poll(fe.m, 1000), 0);
    ck_assert_uint_eq(fe.nmsi, 2);
    ck_assert_uint_eq(fe.msis[1].data, 0x42);
    vdev_irqfd_free(f);

    struct vdev_irqfd *l = vdev_irqfd_line(dev, true, &err);
    ck_assert_ptr_nonnull(l);
    ck_assert_int_ge(vdev_irqfd_resample_fd(l), 0);
    vdev_irqfd_trigger(l);
    ck_assert_int_eq(vdev_machine_poll(fe.m, 1000), 0);
    ck_assert_uint_eq(fe.gsi_raises[5], 1);
    ck_assert(!fe.gsi_level[5]); /* a pulse without a kernel resampler */
    vdev_irqfd_free(l);
    fake_machine_free(&fe);
}
END_TEST

struct watched {
    char got[16];
    int n;
};

static void on_readable(void *opaque, int fd)
{
    struct watched *w = opaque;
    w->n = (int)read(fd, w->got, sizeof(w->got) - 1);
}

START_TEST(event_thread_runs_callbacks)
{
    build(false);
    struct vdev_err err;
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    struct watched w = {{0}, 0};
    struct vdev_watch *wt = vdev_watch_fd(dev, p[0], on_readable, &w, &err);
    ck_assert_ptr_nonnull(wt);
    ck_assert_int_eq(vdev_machine_start(fe.m), 0);
    ck_assert_int_eq(vdev_machine_poll(fe.m, 0), -1); /* the thread owns the loop now */
    ck_assert_int_eq(write(p[1], "hi", 2), 2);
    struct vdev_msi msi = {.addr = 0xfee00000, .data = 0x30};
    struct vdev_irqfd *f = vdev_irqfd_msi(dev, &msi, &err);
    vdev_irqfd_trigger(f);
    for (int i = 0; i < 200 && (w.n != 2 || __atomic_load_n(&fe.nmsi, __ATOMIC_ACQUIRE) != 1); i++)
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    ck_assert_int_eq(w.n, 2);
    ck_assert_str_eq(w.got, "hi");
    ck_assert_uint_eq(fe.nmsi, 1);
    vdev_unwatch_fd(wt);
    vdev_irqfd_free(f);
    fake_machine_free(&fe);
    close(p[0]);
    close(p[1]);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("events");
    TCase *tc = tcase_create("events");
    tcase_add_test(tc, trapped_doorbell);
    tcase_add_test(tc, exitless_doorbell);
    tcase_add_test(tc, doorbell_outside_window_refused);
    tcase_add_test(tc, irqfd_fallbacks);
    tcase_add_test(tc, event_thread_runs_callbacks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
