/* The virtio device core: ops validation, transport choice, feature negotiation, the
 * status state machine, reset, queue configuration, configuration space. */
#include "virtio_fixture.h"

#define ACK    VIRTIO_STATUS_ACKNOWLEDGE
#define DRIVER VIRTIO_STATUS_DRIVER
#define FEAT   VIRTIO_STATUS_FEATURES_OK
#define DOK    VIRTIO_STATUS_DRIVER_OK
#define V1     (1ull << VIRTIO_F_VERSION_1)

static void setup(void)
{
    vt_build();
}

static void teardown(void)
{
    vt_free();
}

/* vdev_virtio_new with ops that differ from vt_ops in one way. */
static void expect_bad_ops(const struct vdev_virtio_ops *ops, const char *why)
{
    struct vdev_err err = {0};
    ck_assert_ptr_null(vdev_virtio_new(dev, ops, vt, &err));
    ck_assert_msg(strstr(err.msg, why), "'%s' lacks '%s'", err.msg, why);
}

START_TEST(ops_are_checked)
{
    struct vdev_virtio_ops o = vt_ops;
    o.num_queues = 0;
    expect_bad_ops(&o, "0 queues");
    o.num_queues = 65;
    expect_bad_ops(&o, "65 queues");
    o = vt_ops;
    o.queue_size_max = 12;
    expect_bad_ops(&o, "queue size 12 is not a power of two");
    o.queue_size_max = 2048;
    expect_bad_ops(&o, "queue size 2048");
    o.queue_size_max = 0;
    expect_bad_ops(&o, "queue size 0");
    o = vt_ops;
    o.config_read = NULL;
    expect_bad_ops(&o, "config_read");
    o.config_size = 0; /* no configuration space, no hook needed */
    struct vdev_err err;
    ck_assert_ptr_nonnull(vdev_virtio_new(dev, &o, vt, &err));
    o = vt_ops;
    o.features |= 1ull << 34; /* RING_PACKED: not implemented */
    expect_bad_ops(&o, "0x400000000");
    o = vt_ops;
    o.device_id = 0;
    expect_bad_ops(&o, "device ID 0");
    expect_bad_ops(NULL, "no device operations");
}
END_TEST

START_TEST(attach_picks_the_transport)
{
    struct vdev_err err = {0};
    /* The device sits at a memory address: MMIO, which needs an interrupt line this
     * device (built without 'intr') lacks. */
    ck_assert_ptr_null(vdev_virtio_attach(dev, &vt_ops, vt, &err));
    ck_assert_msg(strstr(err.msg, "virtio-mmio device needs 'intr'"), "%s", err.msg);
}
END_TEST

static int vtio_assign(struct vdev *d)
{
    struct vdev_err err;
    if (!vdev_virtio_attach(d, &vt_ops, vdev_state(d), &err))
        return vdev_error(d, vdev_pos(d), NULL, "%s", err.msg);
    return 0;
}

START_TEST(attach_refuses_io_space)
{
    static const struct vdev_type vtio = {
        .abi_version = VDEV_ABI_VERSION,
        .type_size = sizeof(struct vdev_type),
        .name = "vtest-io",
        .state_size = sizeof(struct vt_dev),
        .places = VDEV_PLACE_IO,
        .assign = vtio_assign,
    };
    struct vdev_err err;
    ck_assert_int_eq(vdev_register_type(&vtio, &err), 0);
    vt_free();
    fake_machine_new(&fe);
    ck_assert_int_eq(fake_machine_build_string(&fe, "ram 1M vdev vtest-io loc io:0x300", &err), -1);
    ck_assert_msg(strstr(err.msg, "not in I/O space"), "%s", err.msg);
}
END_TEST

START_TEST(identity)
{
    ck_assert_str_eq(vdev_virtio_where(vio), "fake 1");
    ck_assert_ptr_eq(vdev_virtio_vdev(vio), dev);
    ck_assert_ptr_eq(vdev_virtio_device_ops(vio), &vt_ops);
    ck_assert_uint_eq(vdev_virtio_num_queues(vio), VT_QUEUES);
    ck_assert_uint_eq(vdev_virtio_queue_size_max(vio), VT_QMAX);
    ck_assert_ptr_nonnull(vdev_virtio_queue(vio, 1));
    ck_assert_ptr_null(vdev_virtio_queue(vio, 2));
    ck_assert_int_eq(vdev_virtio_kick_fd(vio, 2), -1);
}
END_TEST

static bool fd_ready(int fd)
{
    uint64_t v;
    return read(fd, &v, sizeof(v)) == sizeof(v);
}

/* A device may take its kick fd before the transport binds doorbells (the guest enables
 * the BAR later): the number it holds then carries the doorbell's kicks. */
START_TEST(kick_fd_is_stable)
{
    struct vdev_err err;
    struct vdev_virtio *v2 = vdev_virtio_new(dev, &vt_ops, vt, &err);
    ck_assert_ptr_nonnull(v2);
    int held = vdev_virtio_kick_fd(v2, 1);
    ck_assert_int_ge(held, 0);
    vdev_virtio_kick(v2, 1); /* a trapped kick before any doorbell */
    ck_assert(fd_ready(held));
    ck_assert(!fd_ready(held));

    vdev_virtio_kick(v2, 1); /* pending across the binding */
    int bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vdev_virtio_set_kick_fd(v2, 1, bell);
    ck_assert_int_eq(vdev_virtio_kick_fd(v2, 1), held);
    ck_assert(fd_ready(held));
    uint64_t one = 1;
    ck_assert_int_eq(write(bell, &one, 8), 8); /* the doorbell rings */
    ck_assert(fd_ready(held));
    vdev_virtio_kick(v2, 1);
    ck_assert(fd_ready(bell));
    close(bell); /* the transport's; ours stays usable */
    vdev_virtio_kick(v2, 1);
    ck_assert(fd_ready(held));

    /* The transport takes its doorbell away: the number gets an eventfd of its own. */
    bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vdev_virtio_set_kick_fd(v2, 1, bell);
    vdev_virtio_set_kick_fd(v2, 1, -1);
    ck_assert_int_eq(vdev_virtio_kick_fd(v2, 1), held);
    ck_assert_int_eq(write(bell, &one, 8), 8);
    ck_assert(!fd_ready(held));
    vdev_virtio_kick(v2, 1);
    ck_assert(fd_ready(held));
    ck_assert(fd_ready(bell)); /* only the write above */
    ck_assert(!fd_ready(bell));
    close(bell);
}
END_TEST

START_TEST(offered_features)
{
    uint64_t want =
        VT_DEVICE_FEATURES | V1 | 1ull << VIRTIO_F_EVENT_IDX | 1ull << VIRTIO_F_INDIRECT_DESC;
    ck_assert_uint_eq(vdev_virtio_device_features(vio, 0), (uint32_t)want);
    ck_assert_uint_eq(vdev_virtio_device_features(vio, 1), (uint32_t)(want >> 32));
    ck_assert_uint_eq(vdev_virtio_device_features(vio, 2), 0);
}
END_TEST

START_TEST(driver_features_masked_to_offered)
{
    vdev_virtio_set_driver_features(vio, 0, 0xffffffff);
    vdev_virtio_set_driver_features(vio, 1, 0xffffffff);
    vdev_virtio_set_driver_features(vio, 7, 0xffffffff); /* ignored */
    ck_assert_uint_eq(vdev_virtio_driver_features(vio, 0), vdev_virtio_device_features(vio, 0));
    ck_assert_uint_eq(vdev_virtio_driver_features(vio, 1), vdev_virtio_device_features(vio, 1));
    ck_assert_uint_eq(vdev_virtio_driver_features(vio, 2), 0);
}
END_TEST

START_TEST(version_1_required)
{
    uint8_t s = drv_negotiate(1ull << 5);
    ck_assert_uint_eq(s, ACK | DRIVER); /* FEATURES_OK did not stick */
    ck_assert(strstr(fe.log, "did not accept VERSION_1"));
    /* The driver may try again with other features. */
    s = drv_negotiate(V1 | 1ull << 5);
    ck_assert_uint_eq(s, ACK | DRIVER | FEAT);
    ck_assert_uint_eq(vt->features_seen, V1 | 1ull << 5);
    ck_assert(vdev_virtio_has(vio, 5));
    ck_assert(vdev_virtio_has(vio, VIRTIO_F_VERSION_1));
    ck_assert(!vdev_virtio_has(vio, VIRTIO_F_EVENT_IDX));
}
END_TEST

START_TEST(device_may_refuse_features)
{
    vt->refuse_features = true;
    ck_assert_uint_eq(drv_negotiate(V1 | 1ull << 23), ACK | DRIVER);
    ck_assert_uint_eq(vt->features_seen, V1 | 1ull << 23);
    vt->refuse_features = false;
    ck_assert_uint_eq(drv_negotiate(V1), ACK | DRIVER | FEAT);
}
END_TEST

START_TEST(features_frozen_after_features_ok)
{
    ck_assert_uint_eq(drv_negotiate(V1 | 1ull << 63), ACK | DRIVER | FEAT);
    vdev_virtio_set_driver_features(vio, 0, 1u << 5);
    vdev_virtio_set_driver_features(vio, 1, 0);
    ck_assert_uint_eq(vdev_virtio_features(vio), V1 | 1ull << 63);
}
END_TEST

START_TEST(features_ok_needs_driver)
{
    vdev_virtio_set_driver_features(vio, 1, 1);
    vdev_virtio_set_status(vio, ACK | FEAT);
    ck_assert_uint_eq(vdev_virtio_get_status(vio), ACK);
}
END_TEST

START_TEST(driver_ok_needs_features_ok)
{
    vdev_virtio_set_status(vio, ACK | DRIVER | DOK);
    ck_assert_uint_eq(vdev_virtio_get_status(vio), ACK | DRIVER | VIRTIO_STATUS_NEEDS_RESET);
    ck_assert_uint_eq(vt->starts, 0);
    ck_assert(strstr(fe.log, "DRIVER_OK without FEATURES_OK"));
    /* Only a reset (or FAILED) is heard from now on. */
    drv_negotiate(V1);
    ck_assert_uint_eq(vdev_virtio_get_status(vio) & FEAT, 0);
    vdev_virtio_set_status(vio, 0);
    ck_assert_uint_eq(drv_negotiate(V1), ACK | DRIVER | FEAT);
}
END_TEST

START_TEST(start_and_reset)
{
    drv_start(1ull << VIRTIO_F_EVENT_IDX, 4);
    ck_assert_uint_eq(vdev_virtio_get_status(vio), ACK | DRIVER | FEAT | DOK);
    ck_assert_uint_eq(vt->starts, 1);
    ck_assert_uint_eq(vdev_virtq_size(vdev_virtio_queue(vio, 0)), 4);
    ck_assert_uint_eq(vdev_virtq_size(vdev_virtio_queue(vio, 1)), 0); /* not enabled */
    /* Clearing bits other than by writing 0 is ignored. */
    vdev_virtio_set_status(vio, ACK);
    ck_assert_uint_eq(vdev_virtio_get_status(vio), ACK | DRIVER | FEAT | DOK);
    vdev_virtio_config_changed(vio);
    uint32_t gen = vdev_virtio_config_generation(vio);

    vdev_virtio_set_status(vio, 0);
    ck_assert_uint_eq(vt->stops, 1);
    ck_assert_uint_eq(vt->t.resets, 1);
    ck_assert_uint_eq(vdev_virtio_get_status(vio), 0);
    ck_assert_uint_eq(vdev_virtio_features(vio), 0);
    ck_assert_uint_eq(vdev_virtq_size(vdev_virtio_queue(vio, 0)), 0);
    struct vdev_virtq_config *c = vdev_virtio_queue_config(vio, 0);
    ck_assert_uint_eq(c->size, VT_QMAX);
    ck_assert_uint_eq(c->desc, 0);
    ck_assert(!c->enabled);
    ck_assert_uint_eq(vdev_virtio_config_generation(vio), gen); /* kept */
    /* A second reset does not stop a stopped device again. */
    vdev_virtio_set_status(vio, 0);
    ck_assert_uint_eq(vt->stops, 1);
    ck_assert_uint_eq(vt->t.resets, 2);
}
END_TEST

START_TEST(machine_reset_resets_virtio)
{
    drv_start(0, 8);
    vdev_machine_reset(fe.m);
    ck_assert_uint_eq(vt->stops, 1);
    ck_assert_uint_eq(vdev_virtio_get_status(vio), 0);
}
END_TEST

START_TEST(failed_stops_the_device)
{
    drv_start(0, 8);
    vdev_virtio_set_status(vio, vdev_virtio_get_status(vio) | VIRTIO_STATUS_FAILED);
    ck_assert_uint_eq(vt->stops, 1);
    ck_assert_uint_ne(vdev_virtio_get_status(vio) & VIRTIO_STATUS_FAILED, 0);
    vdev_virtio_set_status(vio, 0);
    ck_assert_uint_eq(vt->stops, 1);
}
END_TEST

/* Found by fuzz_virtio_core: FAILED, then the rest of the handshake restarted the device
 * (queues mapped again from index 0) without a reset. */
START_TEST(failed_until_reset)
{
    vdev_virtio_set_status(vio, ACK | VIRTIO_STATUS_FAILED);
    ck_assert_uint_eq(drv_negotiate(V1), ACK | VIRTIO_STATUS_FAILED);
    drv_queue(0, 8, VT_DESC, VT_AVAIL, VT_USED);
    drv_driver_ok();
    ck_assert_uint_eq(vt->starts, 0);
    ck_assert_uint_eq(vdev_virtio_get_status(vio), ACK | VIRTIO_STATUS_FAILED);
    /* Given up in the middle of a run: stopped, and DRIVER_OK again does not restart it. */
    vdev_virtio_set_status(vio, 0);
    drv_start(0, 8);
    ck_assert_uint_eq(vt->starts, 1);
    vdev_virtio_set_status(vio, vdev_virtio_get_status(vio) | VIRTIO_STATUS_FAILED);
    ck_assert_uint_eq(vt->stops, 1);
    vdev_virtio_set_status(vio, ACK | DRIVER | FEAT | DOK);
    ck_assert_uint_eq(vt->starts, 1);
    ck_assert_uint_eq(vdev_virtq_size(vdev_virtio_queue(vio, 0)), 0);
    /* A reset lets it start again. */
    vdev_virtio_set_status(vio, 0);
    drv_start(0, 8);
    ck_assert_uint_eq(vt->starts, 2);
}
END_TEST

START_TEST(driver_cannot_set_needs_reset)
{
    vdev_virtio_set_status(vio, ACK | VIRTIO_STATUS_NEEDS_RESET);
    ck_assert_uint_eq(vdev_virtio_get_status(vio), ACK);
}
END_TEST

START_TEST(device_fail)
{
    vdev_virtio_fail(vio, "bad header %d", 7); /* before DRIVER_OK: no interrupt */
    ck_assert_uint_ne(vdev_virtio_get_status(vio) & VIRTIO_STATUS_NEEDS_RESET, 0);
    ck_assert_uint_eq(vt->t.notify_config, 0);
    ck_assert(strstr(fe.log, "vtest: virtio: bad header 7; the device needs a reset"));
    vdev_virtio_set_status(vio, 0);
    drv_start(0, 8);
    vdev_virtio_fail(vio, "bad header %d", 8);
    vdev_virtio_fail(vio, "bad header %d", 9);
    ck_assert_uint_eq(vt->t.notify_config, 1);
    ck_assert_uint_eq(count_log("needs a reset"), 2);
    ck_assert(!strstr(fe.log, "bad header 9"));
    ck_assert_uint_eq(vt->stops, 0);
    vdev_machine_poll(fe.m, 0); /* the event thread stops the device */
    ck_assert_uint_eq(vt->stops, 1);
}
END_TEST

START_TEST(queue_config_frozen_at_driver_ok)
{
    ck_assert(vdev_virtio_set_queue_size(vio, 1, 2));
    ck_assert(!vdev_virtio_set_queue_size(vio, 2, 2)); /* no queue 2 */
    ck_assert(!vdev_virtio_set_queue_size(vio, 1, 0));
    ck_assert_uint_eq(vdev_virtio_queue_config(vio, 1)->size, 2);
    struct vdev_virtq_config *none = vdev_virtio_queue_config(vio, 9);
    ck_assert_uint_eq(none->size, 0);
    none->enabled = true; /* harmless */
    drv_start(0, 8);
    struct vdev_virtq_config *c = vdev_virtio_queue_config(vio, 0);
    ck_assert_uint_eq(c->desc, VT_DESC); /* reads still work */
    c->desc = 0x5000;
    c->size = 2;
    ck_assert(!vdev_virtio_set_queue_size(vio, 0, 4));
    ck_assert_uint_eq(vdev_virtio_queue_config(vio, 0)->desc, VT_DESC);
    ck_assert_uint_eq(vdev_virtq_size(vdev_virtio_queue(vio, 0)), 8);
}
END_TEST

START_TEST(config_space_bounds)
{
    for (unsigned i = 0; i < VT_CFG_SIZE; i++)
        vt->config[i] = (uint8_t)(0x10 + i);
    ck_assert_uint_eq(vdev_virtio_config_read(vio, 0, 1), 0x10);
    ck_assert_uint_eq(vdev_virtio_config_read(vio, 2, 2), 0x1312);
    ck_assert_uint_eq(vdev_virtio_config_read(vio, 8, 4), 0x1b1a1918);
    ck_assert_uint_eq(vdev_virtio_config_read(vio, 4, 8), 0x1b1a191817161514ull);
    ck_assert_uint_eq(vdev_virtio_config_read(vio, 9, 4), 0);  /* crosses the end */
    ck_assert_uint_eq(vdev_virtio_config_read(vio, 12, 1), 0); /* just past it */
    ck_assert_uint_eq(vdev_virtio_config_read(vio, 0xffffffff, 2), 0);
    ck_assert_uint_eq(vdev_virtio_config_read(vio, 0, 3), 0); /* no such access size */
    vdev_virtio_config_write(vio, 10, 4, 0xffffffff);
    vdev_virtio_config_write(vio, 0xfffffffe, 4, 0xffffffff);
    ck_assert_uint_eq(vt->config_writes, 0);
    vdev_virtio_config_write(vio, 10, 2, 0xbeef);
    ck_assert_uint_eq(vt->config_writes, 1);
    ck_assert_uint_eq(vdev_virtio_config_read(vio, 10, 2), 0xbeef);
}
END_TEST

START_TEST(config_generation)
{
    uint32_t g = vdev_virtio_config_generation(vio);
    vdev_virtio_config_changed(vio); /* before DRIVER_OK: no interrupt */
    ck_assert_uint_eq(vdev_virtio_config_generation(vio), g + 1);
    ck_assert_uint_eq(vt->t.notify_config, 0);
    drv_start(0, 8);
    vdev_virtio_config_changed(vio);
    ck_assert_uint_eq(vdev_virtio_config_generation(vio), g + 2);
    ck_assert_uint_eq(vt->t.notify_config, 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("virtio_device");
    TCase *tc = tcase_create("device");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, ops_are_checked);
    tcase_add_test(tc, attach_picks_the_transport);
    tcase_add_test(tc, attach_refuses_io_space);
    tcase_add_test(tc, identity);
    tcase_add_test(tc, kick_fd_is_stable);
    tcase_add_test(tc, offered_features);
    tcase_add_test(tc, driver_features_masked_to_offered);
    tcase_add_test(tc, version_1_required);
    tcase_add_test(tc, device_may_refuse_features);
    tcase_add_test(tc, features_frozen_after_features_ok);
    tcase_add_test(tc, features_ok_needs_driver);
    tcase_add_test(tc, driver_ok_needs_features_ok);
    tcase_add_test(tc, start_and_reset);
    tcase_add_test(tc, machine_reset_resets_virtio);
    tcase_add_test(tc, failed_stops_the_device);
    tcase_add_test(tc, failed_until_reset);
    tcase_add_test(tc, driver_cannot_set_needs_reset);
    tcase_add_test(tc, device_fail);
    tcase_add_test(tc, queue_config_frozen_at_driver_ok);
    tcase_add_test(tc, config_space_bounds);
    tcase_add_test(tc, config_generation);
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
