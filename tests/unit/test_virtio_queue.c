/* Split virtqueues against a synthetic driver: chains, indirect tables, interrupt and kick
 * suppression, and every rule a hostile driver can break. */
#include <poll.h>
#include <sched.h>

#include "virtio_fixture.h"

#define F_INDIRECT  (1ull << VIRTIO_F_INDIRECT_DESC)
#define F_EVENT_IDX (1ull << VIRTIO_F_EVENT_IDX)
#define W           2 /* VRING_DESC_F_WRITE */
#define IND         4 /* VRING_DESC_F_INDIRECT */

static struct vdev_virtq_elem elem;

static void setup(void)
{
    vt_build();
}

static void teardown(void)
{
    vt_free();
}

static struct vdev_virtq *q0(void)
{
    return vdev_virtio_queue(vio, 0);
}

START_TEST(chain_out_then_in)
{
    drv_start(0, 8);
    ck_assert_uint_eq(vt->starts, 1);
    ck_assert_uint_eq(vdev_virtq_size(q0()), 8);
    ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), 0);
    ck_assert(!vdev_virtq_has_avail(q0()));

    struct drv_buf b[] = {{VT_BUF, 10, 0}, {VT_BUF + 0x100, 20, 0}, {VT_BUF + 0x200, 30, W}};
    drv_descs(VT_DESC, 3, b, 3);
    drv_publish(3, 8);
    ck_assert(vdev_virtq_has_avail(q0()));
    ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), 1);
    ck_assert_uint_eq(elem.head, 3);
    ck_assert_uint_eq(elem.nout, 2);
    ck_assert_uint_eq(elem.nin, 1);
    ck_assert_uint_eq(elem.out_len, 30);
    ck_assert_uint_eq(elem.in_len, 30);
    ck_assert_ptr_eq(elem.iov[0].iov_base, gpa(VT_BUF));
    ck_assert_uint_eq(elem.iov[1].iov_len, 20);
    ck_assert_ptr_eq(elem.iov[2].iov_base, gpa(VT_BUF + 0x200));
    ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), 0);

    vdev_virtq_push(q0(), 3, 25);
    ck_assert_uint_eq(used_idx(), 1);
    uint32_t id, len;
    used_elem(0, &id, &len);
    ck_assert_uint_eq(id, 3);
    ck_assert_uint_eq(len, 25);
    vdev_virtq_notify(q0());
    ck_assert_uint_eq(vt->t.notify_queue[0], 1);
    vdev_virtq_notify(q0()); /* nothing new: no second interrupt */
    ck_assert_uint_eq(vt->t.notify_queue[0], 1);
    ck_assert_uint_eq(vdev_virtio_get_status(vio) & VIRTIO_STATUS_NEEDS_RESET, 0);
}
END_TEST

START_TEST(ring_wraps_and_batches)
{
    drv_start(0, 4);
    struct drv_buf b = {VT_BUF, 64, W};
    uint32_t total = 0;
    for (unsigned round = 0; round < 40; round++) {
        for (unsigned i = 0; i < 3; i++) {
            drv_descs(VT_DESC, i, &b, 1);
            drv_publish((uint16_t)i, 4);
        }
        uint16_t heads[3];
        uint32_t lens[3];
        for (unsigned i = 0; i < 3; i++) {
            ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), 1);
            heads[i] = elem.head;
            lens[i] = (uint32_t)elem.in_len;
        }
        vdev_virtq_push_n(q0(), heads, lens, 3);
        total += 3;
        ck_assert_uint_eq(used_idx(), (uint16_t)total);
    }
    ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), 0);
}
END_TEST

START_TEST(zero_length_buffers_are_skipped)
{
    drv_start(0, 8);
    struct drv_buf b[] = {{VT_BUF, 0, 0}, {VT_BUF, 8, 0}, {0xdeadbeef000ull, 0, W}};
    drv_descs(VT_DESC, 0, b, 3);
    drv_publish(0, 8);
    ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), 1);
    ck_assert_uint_eq(elem.nout, 1);
    ck_assert_uint_eq(elem.nin, 0);
    ck_assert_uint_eq(elem.out_len, 8);
}
END_TEST

START_TEST(unpop_gives_the_chain_back)
{
    drv_start(0, 8);
    struct drv_buf b = {VT_BUF, 8, W};
    drv_descs(VT_DESC, 5, &b, 1);
    drv_publish(5, 8);
    ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), 1);
    ck_assert(!vdev_virtq_has_avail(q0()));
    vdev_virtq_unpop(q0(), 1);
    ck_assert(vdev_virtq_has_avail(q0()));
    ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), 1);
    ck_assert_uint_eq(elem.head, 5);
}
END_TEST

START_TEST(indirect_table)
{
    drv_start(F_INDIRECT, 8);
    ck_assert(vdev_virtio_has(vio, VIRTIO_F_INDIRECT_DESC));
    struct drv_buf t[] = {{VT_BUF, 12, 0}, {VT_BUF + 0x100, 100, W}, {VT_BUF + 0x200, 50, W}};
    drv_descs(VT_INDIR, 0, t, 3);
    struct drv_buf head[] = {{VT_BUF + 0x300, 4, 0}, {VT_INDIR, 3 * 16, IND}};
    drv_descs(VT_DESC, 0, head, 2);
    drv_publish(0, 8);
    ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), 1);
    ck_assert_uint_eq(elem.nout, 2);
    ck_assert_uint_eq(elem.nin, 2);
    ck_assert_uint_eq(elem.out_len, 16);
    ck_assert_uint_eq(elem.in_len, 150);
    ck_assert_ptr_eq(elem.iov[3].iov_base, gpa(VT_BUF + 0x200));
}
END_TEST

START_TEST(no_interrupt_flag)
{
    drv_start(0, 8);
    *(uint16_t *)gpa(VT_AVAIL) = 1; /* VRING_AVAIL_F_NO_INTERRUPT */
    struct drv_buf b = {VT_BUF, 8, W};
    drv_descs(VT_DESC, 0, &b, 1);
    drv_publish(0, 8);
    ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), 1);
    vdev_virtq_push(q0(), 0, 8);
    vdev_virtq_notify(q0());
    ck_assert_uint_eq(vt->t.notify_queue[0], 0);
    *(uint16_t *)gpa(VT_AVAIL) = 0;
    drv_publish(0, 8);
    ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), 1);
    vdev_virtq_push(q0(), 0, 8);
    vdev_virtq_notify(q0());
    ck_assert_uint_eq(vt->t.notify_queue[0], 1);
}
END_TEST

/* Pops and pushes one chain, then notifies. */
static void cycle(void)
{
    struct drv_buf b = {VT_BUF, 8, W};
    drv_descs(VT_DESC, 0, &b, 1);
    drv_publish(0, 8);
    ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), 1);
    vdev_virtq_push(q0(), 0, 8);
    vdev_virtq_notify(q0());
}

START_TEST(event_idx_interrupts)
{
    drv_start(F_EVENT_IDX, 8);
    uint16_t *used_event = (uint16_t *)gpa(VT_AVAIL + 4 + 2 * 8);
    *(uint16_t *)gpa(VT_AVAIL) = 1; /* NO_INTERRUPT is ignored with EVENT_IDX */
    *used_event = 0;                /* interrupt when used idx passes 0 */
    cycle();                        /* used idx 1 */
    ck_assert_uint_eq(vt->t.notify_queue[0], 1);
    *used_event = 3; /* not until used idx passes 3 */
    cycle();         /* 2 */
    cycle();         /* 3 */
    ck_assert_uint_eq(vt->t.notify_queue[0], 1);
    cycle(); /* 4: crossed */
    ck_assert_uint_eq(vt->t.notify_queue[0], 2);
    cycle(); /* 5: event 3 already passed */
    ck_assert_uint_eq(vt->t.notify_queue[0], 2);
}
END_TEST

/* notify_ext says whether the driver was interrupted: what a device counts. */
START_TEST(notify_ext_says_what_it_did)
{
    drv_start(F_EVENT_IDX, 8);
    uint16_t *used_event = (uint16_t *)gpa(VT_AVAIL + 4 + 2 * 8);
    ck_assert_int_eq(vdev_virtq_notify_ext(q0(), 1), -1); /* no flags defined */
    ck_assert_int_eq(vdev_virtq_notify_ext(q0(), 0), 0);  /* nothing pushed */
    *used_event = 0;
    struct drv_buf b = {VT_BUF, 8, W};
    for (unsigned i = 0; i < 3; i++) {
        drv_descs(VT_DESC, 0, &b, 1);
        drv_publish(0, 8);
        ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), 1);
        vdev_virtq_push(q0(), 0, 8);
        if (i == 1)
            *used_event = 5; /* the driver waits for more */
        /* 1: interrupted; 2: used_event 5 not crossed; 3: still not */
        ck_assert_int_eq(vdev_virtq_notify_ext(q0(), 0), i == 0);
    }
    ck_assert_int_eq(vdev_virtq_notify_ext(q0(), 0), 0); /* nothing new */
    ck_assert_uint_eq(vt->t.notify_queue[0], 1);
    /* Held pushes notified late still see the crossing: 4, 5, 6 then one notify. */
    for (unsigned i = 0; i < 3; i++) {
        drv_descs(VT_DESC, 0, &b, 1);
        drv_publish(0, 8);
        ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), 1);
        vdev_virtq_push(q0(), 0, 8);
    }
    ck_assert_int_eq(vdev_virtq_notify_ext(q0(), 0), 1);
    ck_assert_uint_eq(vt->t.notify_queue[0], 2);
}
END_TEST

START_TEST(kick_suppression_flags)
{
    drv_start(0, 8);
    uint16_t *used_flags = (uint16_t *)gpa(VT_USED);
    ck_assert(!vdev_virtq_set_kicks(q0(), false));
    ck_assert_uint_eq(*used_flags, 1); /* VRING_USED_F_NO_NOTIFY */
    ck_assert(!vdev_virtq_set_kicks(q0(), true));
    ck_assert_uint_eq(*used_flags, 0);
    /* A chain that arrived while kicks were off is reported when they come back on. */
    vdev_virtq_set_kicks(q0(), false);
    struct drv_buf b = {VT_BUF, 8, W};
    drv_descs(VT_DESC, 0, &b, 1);
    drv_publish(0, 8);
    ck_assert(vdev_virtq_set_kicks(q0(), true));
}
END_TEST

START_TEST(kick_suppression_event_idx)
{
    drv_start(F_EVENT_IDX, 8);
    uint16_t *avail_event = (uint16_t *)gpa(VT_USED + 4 + 8 * 8);
    uint16_t *used_flags = (uint16_t *)gpa(VT_USED);
    cycle();
    cycle(); /* last_avail 2 */
    ck_assert(!vdev_virtq_set_kicks(q0(), true));
    ck_assert_uint_eq(*avail_event, 2); /* kick for the next chain */
    ck_assert(!vdev_virtq_set_kicks(q0(), false));
    ck_assert_uint_eq(*avail_event, 1); /* already passed: no kicks */
    ck_assert_uint_eq(*used_flags, 0);  /* flags are not used with EVENT_IDX */
}
END_TEST

/* Kicks reach queue_kick on the event thread, only while the device runs. */
START_TEST(kicks_reach_the_device)
{
    vdev_virtio_kick(vio, 0); /* before DRIVER_OK: dropped */
    vdev_machine_poll(fe.m, 0);
    ck_assert_uint_eq(vt->kicks[0], 0);
    drv_start(0, 8);
    vdev_virtio_kick(vio, 0);
    vdev_machine_poll(fe.m, 0);
    ck_assert_uint_eq(vt->kicks[0], 1);
    uint64_t one = 1;
    ck_assert_int_eq(write(vt->kick_fd[1], &one, 8), 8); /* the doorbell path */
    vdev_machine_poll(fe.m, 0);
    ck_assert_uint_eq(vt->kicks[1], 1);
    ck_assert_uint_eq(vt->kicks[0], 1);
}
END_TEST

START_TEST(kicks_enabled_at_start)
{
    memset(gpa(VT_USED), 0xff, 0x1000); /* whatever the driver left there */
    drv_start(F_EVENT_IDX, 8);
    ck_assert_uint_eq(*(uint16_t *)gpa(VT_USED), 0);
    ck_assert_uint_eq(*(uint16_t *)gpa(VT_USED + 4 + 8 * 8), 0);
}
END_TEST

/* A device thread sleeping on its kick fd the documented way against a driver thread that
 * kicks only when the device asked for it: no chain is ever left waiting. */
#define KICK_CHAINS 20000

static atomic_uint dev_got;
static atomic_bool dev_stuck;

static void *sleeping_device(void *arg)
{
    (void)arg;
    static struct vdev_virtq_elem e;
    struct vdev_virtq *q = q0();
    int fd = vdev_virtio_kick_fd(vio, 0);
    while (atomic_load(&dev_got) < KICK_CHAINS) {
        int rc;
        while ((rc = vdev_virtq_pop(q, &e)) == 1) {
            vdev_virtq_push(q, e.head, 0);
            atomic_fetch_add(&dev_got, 1);
        }
        vdev_virtq_notify(q);
        if (rc < 0 || atomic_load(&dev_got) == KICK_CHAINS)
            break;
        if (vdev_virtq_set_kicks(q, true))
            continue;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 3000) != 1) {
            atomic_store(&dev_stuck, true); /* a lost wake-up */
            break;
        }
        uint64_t v;
        ck_assert_int_eq(read(fd, &v, 8), 8);
        vdev_virtq_set_kicks(q, false);
    }
    return NULL;
}

static void kick_protocol(bool event_idx)
{
    drv_start(event_idx ? F_EVENT_IDX : 0, 8);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, sleeping_device, NULL), 0);
    uint16_t *avail_event = (uint16_t *)gpa(VT_USED + 4 + 8 * 8);
    uint16_t *used_flags = (uint16_t *)gpa(VT_USED);
    unsigned kicks = 0;
    for (unsigned i = 0; i < KICK_CHAINS && !atomic_load(&dev_stuck); i++) {
        uint16_t old = *avail_idx();
        while ((uint16_t)(old - used_idx()) >= 8 && !atomic_load(&dev_stuck))
            sched_yield();
        struct drv_buf b = {VT_BUF + 64 * (i % 8), 64, W};
        drv_descs(VT_DESC, i % 8, &b, 1);
        drv_publish((uint16_t)(i % 8), 8);
        /* The driver's half (Linux virtqueue_kick_prepare): publish, barrier, look. */
        atomic_thread_fence(memory_order_seq_cst);
        uint16_t now = (uint16_t)(old + 1);
        bool kick = event_idx ? (uint16_t)(now - __atomic_load_n(avail_event, __ATOMIC_RELAXED) -
                                           1) < (uint16_t)(now - old)
                              : !(__atomic_load_n(used_flags, __ATOMIC_RELAXED) & 1);
        if (kick) {
            vdev_virtio_kick(vio, 0);
            kicks++;
        }
    }
    pthread_join(t, NULL);
    ck_assert(!atomic_load(&dev_stuck));
    ck_assert_uint_eq(atomic_load(&dev_got), KICK_CHAINS);
    ck_assert_uint_eq(used_idx(), (uint16_t)KICK_CHAINS);
    ck_assert_uint_gt(kicks, 0);
    ck_assert_uint_eq(vdev_virtio_get_status(vio) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

START_TEST(no_lost_kicks_with_flags)
{
    kick_protocol(false);
}
END_TEST

START_TEST(no_lost_kicks_with_event_idx)
{
    kick_protocol(true);
}
END_TEST

/* ---- violations ---- */

/* The driver broke a rule: pop fails, NEEDS_RESET with one config interrupt and one log
 * line, the device is stopped from the event thread; a reset brings the queue back. */
static void expect_violation(const char *why)
{
    ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), -1);
    ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), -1);
    ck_assert(!vdev_virtq_has_avail(q0()));
    ck_assert_uint_ne(vdev_virtio_get_status(vio) & VIRTIO_STATUS_NEEDS_RESET, 0);
    ck_assert_uint_eq(vt->t.notify_config, 1);
    ck_assert_uint_eq(count_log("needs a reset"), 1);
    ck_assert_msg(strstr(fe.log, why), "log '%s' lacks '%s'", fe.log, why);
    vdev_machine_poll(fe.m, 0);
    ck_assert_uint_eq(vt->stops, 1);
    ck_assert_uint_eq(vdev_virtq_size(q0()), 0);

    vdev_virtio_set_status(vio, 0);
    ck_assert_uint_eq(vt->stops, 1);
    ck_assert_uint_eq(vdev_virtio_get_status(vio), 0);
    drv_start(0, 8);
    ck_assert_uint_eq(vt->starts, 2);
    struct drv_buf b = {VT_BUF, 8, W};
    drv_descs(VT_DESC, 0, &b, 1);
    drv_publish(0, 8);
    ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), 1);
}

static void publish_chain(const struct drv_buf *b, unsigned n)
{
    drv_descs(VT_DESC, 0, b, n);
    drv_publish(0, 8);
}

START_TEST(bad_head)
{
    drv_start(0, 8);
    drv_publish(8, 8);
    expect_violation("chain head 8 out of range");
}
END_TEST

START_TEST(bad_next)
{
    drv_start(0, 8);
    struct drv_buf b = {VT_BUF, 8, 0};
    drv_descs(VT_DESC, 7, &b, 1);
    uint16_t flags = 1, next = 9;
    memcpy(gpa(VT_DESC + 16 * 7 + 12), &flags, 2);
    memcpy(gpa(VT_DESC + 16 * 7 + 14), &next, 2);
    drv_publish(7, 8);
    expect_violation("next descriptor 9 out of range");
}
END_TEST

START_TEST(chain_loop)
{
    drv_start(0, 8);
    struct drv_buf b[] = {{VT_BUF, 8, 0}, {VT_BUF, 8, 0}};
    drv_descs(VT_DESC, 0, b, 2);
    uint16_t flags = 1, next = 0;
    memcpy(gpa(VT_DESC + 16 + 12), &flags, 2);
    memcpy(gpa(VT_DESC + 16 + 14), &next, 2);
    drv_publish(0, 8);
    expect_violation("loops");
}
END_TEST

START_TEST(avail_index_jump)
{
    drv_start(0, 8);
    *avail_idx() = 9;
    expect_violation("available index jumped from 0 to 9");
}
END_TEST

START_TEST(buffer_outside_ram)
{
    drv_start(0, 8);
    struct drv_buf b = {0x100000 - 4, 8, 0}; /* straddles the end of RAM */
    publish_chain(&b, 1);
    expect_violation("buffer at 0xffffc (8 bytes) is not in guest RAM");
}
END_TEST

START_TEST(buffer_address_overflow)
{
    drv_start(0, 8);
    struct drv_buf b = {0xfffffffffffff000ull, 0x2000, W};
    publish_chain(&b, 1);
    expect_violation("is not in guest RAM");
}
END_TEST

START_TEST(readable_after_writable)
{
    drv_start(0, 8);
    struct drv_buf b[] = {{VT_BUF, 8, W}, {VT_BUF, 8, 0}};
    publish_chain(b, 2);
    expect_violation("readable buffer after a writable one");
}
END_TEST

START_TEST(indirect_not_negotiated)
{
    drv_start(0, 8);
    struct drv_buf t = {VT_BUF, 8, 0};
    drv_descs(VT_INDIR, 0, &t, 1);
    struct drv_buf b = {VT_INDIR, 16, IND};
    publish_chain(&b, 1);
    expect_violation("without INDIRECT_DESC");
}
END_TEST

static void indirect_len(uint32_t len)
{
    drv_start(F_INDIRECT, 8);
    struct drv_buf b = {VT_INDIR, len, IND};
    publish_chain(&b, 1);
    char why[64];
    snprintf(why, sizeof(why), "indirect table of %u bytes", len);
    expect_violation(why);
}

START_TEST(indirect_empty)
{
    indirect_len(0);
}
END_TEST

START_TEST(indirect_not_multiple_of_16)
{
    indirect_len(24);
}
END_TEST

START_TEST(indirect_too_long)
{
    indirect_len((VDEV_VIRTQ_MAX_SEGS + 1) * 16);
}
END_TEST

START_TEST(indirect_outside_ram)
{
    drv_start(F_INDIRECT, 8);
    struct drv_buf b = {0x100000 - 16, 32, IND};
    publish_chain(&b, 1);
    expect_violation("indirect table at 0xffff0 (32 bytes) is not in guest RAM");
}
END_TEST

START_TEST(indirect_nested)
{
    drv_start(F_INDIRECT, 8);
    struct drv_buf t[] = {{VT_BUF, 8, 0}, {VT_INDIR, 16, IND}};
    drv_descs(VT_INDIR, 0, t, 2);
    struct drv_buf b = {VT_INDIR, 32, IND};
    publish_chain(&b, 1);
    expect_violation("nested indirect");
}
END_TEST

START_TEST(indirect_with_next)
{
    drv_start(F_INDIRECT, 8);
    struct drv_buf t = {VT_BUF, 8, 0};
    drv_descs(VT_INDIR, 0, &t, 1);
    struct drv_buf b[] = {{VT_INDIR, 16, IND}, {VT_BUF, 8, W}};
    publish_chain(b, 2);
    expect_violation("both INDIRECT and NEXT");
}
END_TEST

START_TEST(indirect_loop)
{
    drv_start(F_INDIRECT, 8);
    struct drv_buf t[] = {{VT_BUF, 8, 0}, {VT_BUF, 8, 0}, {VT_BUF, 8, 0}};
    drv_descs(VT_INDIR, 0, t, 3);
    uint16_t flags = 1, next = 1;
    memcpy(gpa(VT_INDIR + 32 + 12), &flags, 2);
    memcpy(gpa(VT_INDIR + 32 + 14), &next, 2);
    struct drv_buf b = {VT_INDIR, 48, IND};
    publish_chain(&b, 1);
    expect_violation("loops");
}
END_TEST

START_TEST(too_many_segments)
{
    drv_start(F_INDIRECT, 8);
    static struct drv_buf t[VDEV_VIRTQ_MAX_SEGS];
    for (unsigned i = 0; i < VDEV_VIRTQ_MAX_SEGS; i++)
        t[i] = (struct drv_buf){VT_BUF, 1, W};
    drv_descs(VT_INDIR, 0, t, VDEV_VIRTQ_MAX_SEGS);
    struct drv_buf b[] = {{VT_BUF, 8, 0}, {VT_INDIR, VDEV_VIRTQ_MAX_SEGS * 16, IND}};
    publish_chain(b, 2);
    expect_violation("more than 1024 buffers");
}
END_TEST

/* ---- bad queue configuration, found at DRIVER_OK ---- */

static void bad_queue(uint16_t size, uint64_t desc, uint64_t avail, uint64_t used, const char *why)
{
    drv_negotiate(1ull << VIRTIO_F_VERSION_1);
    drv_queue(0, size, desc, avail, used);
    drv_driver_ok();
    ck_assert_uint_ne(vdev_virtio_get_status(vio) & VIRTIO_STATUS_NEEDS_RESET, 0);
    ck_assert_uint_eq(vt->starts, 0);
    ck_assert_uint_eq(vt->t.notify_config, 1);
    ck_assert_uint_eq(count_log("needs a reset"), 1);
    ck_assert_msg(strstr(fe.log, why), "log '%s' lacks '%s'", fe.log, why);
    ck_assert_int_eq(vdev_virtq_pop(q0(), &elem), -1);
    vdev_virtio_set_status(vio, 0);
    drv_start(0, 8);
    ck_assert_uint_eq(vt->starts, 1);
}

START_TEST(size_not_power_of_two)
{
    ck_assert(!vdev_virtio_set_queue_size(vio, 0, 6));
    ck_assert(!vdev_virtio_set_queue_size(vio, 0, 16)); /* above queue_size_max */
    bad_queue(6, VT_DESC, VT_AVAIL, VT_USED, "size 6 is not a power of two");
}
END_TEST

START_TEST(size_too_big)
{
    bad_queue(16, VT_DESC, VT_AVAIL, VT_USED, "size 16 is not a power of two up to 8");
}
END_TEST

START_TEST(desc_misaligned)
{
    bad_queue(8, VT_DESC + 8, VT_AVAIL, VT_USED, "descriptor table at 0x10008 is not 16-byte");
}
END_TEST

START_TEST(avail_misaligned)
{
    bad_queue(8, VT_DESC, VT_AVAIL + 1, VT_USED, "available ring at 0x11001 is not 2-byte");
}
END_TEST

START_TEST(used_misaligned)
{
    bad_queue(8, VT_DESC, VT_AVAIL, VT_USED + 2, "used ring at 0x12002 is not 4-byte");
}
END_TEST

START_TEST(ring_outside_ram)
{
    /* 8 * 8 + 4 bytes of used ring do not fit below 1M */
    bad_queue(8, VT_DESC, VT_AVAIL, 0x100000 - 64, "used ring at 0xfffc0 (0x44 bytes)");
}
END_TEST

START_TEST(event_idx_field_outside_ram)
{
    /* Fits without EVENT_IDX (4 + 2 * 8 bytes), not with used_event. */
    drv_negotiate(1ull << VIRTIO_F_VERSION_1 | F_EVENT_IDX);
    drv_queue(0, 8, VT_DESC, 0x100000 - 20, VT_USED);
    drv_driver_ok();
    ck_assert_uint_ne(vdev_virtio_get_status(vio) & VIRTIO_STATUS_NEEDS_RESET, 0);
    ck_assert(strstr(fe.log, "available ring at 0xfffec (0x16 bytes)"));
}
END_TEST

/* ---- a device failing the driver from its own data thread ---- */

static pthread_t data_thread;
static atomic_bool data_running;
static atomic_int data_result;

static void *data_main(void *arg)
{
    (void)arg;
    static struct vdev_virtq_elem e;
    int rc;
    /* A busy device: polls its queue until the core says the driver broke a rule. */
    while ((rc = vdev_virtq_pop(q0(), &e)) == 0)
        usleep(100);
    atomic_store(&data_result, rc);
    /* Report it from this thread too: the core must neither deadlock nor log twice. */
    vdev_virtio_fail(vio, "the device saw it too");
    return NULL;
}

static void join_data(struct vt_dev *v)
{
    (void)v;
    if (atomic_exchange(&data_running, false))
        pthread_join(data_thread, NULL);
}

START_TEST(fail_from_the_data_thread)
{
    ck_assert_int_eq(vdev_machine_start(fe.m), 0);
    vt->on_stop = join_data;
    drv_start(0, 8);
    atomic_store(&data_running, true);
    ck_assert_int_eq(pthread_create(&data_thread, NULL, data_main, NULL), 0);
    drv_publish(8, 8); /* bad head */
    for (int i = 0; i < 5000 && atomic_load(&vt->stops) == 0; i++)
        usleep(1000);
    ck_assert_uint_eq(vt->stops, 1); /* the event thread stopped it, joining the thread */
    ck_assert_int_eq(data_result, -1);
    ck_assert_uint_eq(count_log("needs a reset"), 1);
    ck_assert_uint_eq(vt->t.notify_config, 1);
    vdev_virtio_set_status(vio, 0);
    ck_assert_uint_eq(vt->stops, 1);
}
END_TEST

/* ---- a hostile driver: random rings, rewritten while the device reads them ---- */

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

#define HOSTILE_DESCS 64 /* descriptors written at VT_DESC and VT_INDIR */

/* A descriptor that is often almost right: the interesting mistakes are small ones. */
static void random_desc(uint64_t table, unsigned i)
{
    static const uint64_t addrs[] = {VT_BUF, VT_INDIR, 0x100000 - 8, 0xfffffffffffffff0ull, 0};
    struct drv_buf b;
    b.addr = rnd() % 4 ? addrs[rnd() % 5] + (rnd() % 4) * 16 : rnd();
    static const uint32_t lens[] = {0, 1, 16, 48, 4096, 0x10000, 0xffffffff};
    b.len = rnd() % 4 ? lens[rnd() % 7] : (uint32_t)rnd();
    b.flags = (uint16_t)(rnd() % 8);
    uint16_t next = (uint16_t)(rnd() % 12);
    uint8_t *d = gpa(table + 16 * i);
    memcpy(d, &b.addr, 8);
    memcpy(d + 8, &b.len, 4);
    memcpy(d + 12, &b.flags, 2);
    memcpy(d + 14, &next, 2);
}

static atomic_bool mutating;
/* The mutator writes only in odd rounds: how often it hits depends on the speed of each
 * thread (ASan, load), and the even rounds keep both outcomes frequent whatever it does. */
static atomic_bool mutate_now;

static void *mutator(void *arg)
{
    (void)arg;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    while (atomic_load(&mutating)) {
        if (!atomic_load(&mutate_now)) {
            sched_yield();
            continue;
        }
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t table = x & 1 ? VT_DESC : VT_INDIR;
        unsigned i = (unsigned)(x >> 8) % (table == VT_DESC ? 8 : HOSTILE_DESCS);
        /* one byte at a time: the device may see any mix of old and new */
        __atomic_store_n((uint8_t *)gpa(table + 16 * i + (x >> 20) % 16), (uint8_t)(x >> 32),
                         __ATOMIC_RELAXED);
    }
    return NULL;
}

static void check_elem(const struct vdev_virtq_elem *e)
{
    const uint8_t *lo = fe.ram[0], *hi = lo + 0x100000;
    size_t out = 0, in = 0;
    ck_assert_uint_le(e->nout + e->nin, VDEV_VIRTQ_MAX_SEGS);
    ck_assert_uint_lt(e->head, 8);
    for (unsigned i = 0; i < e->nout + e->nin; i++) {
        const uint8_t *p = e->iov[i].iov_base;
        size_t len = e->iov[i].iov_len;
        ck_assert(len > 0 && p >= lo && p < hi && len <= (size_t)(hi - p));
        *(i < e->nout ? &out : &in) += len;
    }
    ck_assert_uint_eq(out, e->out_len);
    ck_assert_uint_eq(in, e->in_len);
}

START_TEST(hostile_driver)
{
    pthread_t t;
    atomic_store(&mutating, true);
    ck_assert_int_eq(pthread_create(&t, NULL, mutator, NULL), 0);
    unsigned popped = 0, violations = 0;
    for (unsigned round = 0; round < 3000; round++) {
        atomic_store(&mutate_now, round & 1);
        vdev_virtio_set_status(vio, 0);
        drv_start(rnd() & (F_INDIRECT | F_EVENT_IDX), 8);
        for (unsigned i = 0; i < 8; i++)
            random_desc(VT_DESC, i);
        for (unsigned i = 0; i < HOSTILE_DESCS; i++)
            random_desc(VT_INDIR, i);
        uint16_t *ring = (uint16_t *)gpa(VT_AVAIL + 4);
        for (unsigned i = 0; i < 8; i++)
            ring[i] = (uint16_t)(rnd() % 10);
        __atomic_store_n(avail_idx(), (uint16_t)(rnd() % 4 ? rnd() % 4 : rnd()), __ATOMIC_RELEASE);
        for (unsigned i = 0; i < 10; i++) {
            int rc = vdev_virtq_pop(q0(), &elem);
            if (rc == 1) {
                check_elem(&elem);
                vdev_virtq_push(q0(), elem.head, 0);
                vdev_virtq_notify(q0());
                popped++;
                continue;
            }
            if (rc < 0) {
                ck_assert_uint_ne(vdev_virtio_get_status(vio) & VIRTIO_STATUS_NEEDS_RESET, 0);
                violations++;
            }
            break;
        }
    }
    atomic_store(&mutating, false);
    pthread_join(t, NULL);
    /* Both outcomes happen: the generator is neither always right nor always wrong. */
    ck_assert_uint_gt(popped, 100);
    ck_assert_uint_gt(violations, 100);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("virtio_queue");
    TCase *tc = tcase_create("queue");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, chain_out_then_in);
    tcase_add_test(tc, ring_wraps_and_batches);
    tcase_add_test(tc, zero_length_buffers_are_skipped);
    tcase_add_test(tc, unpop_gives_the_chain_back);
    tcase_add_test(tc, indirect_table);
    tcase_add_test(tc, no_interrupt_flag);
    tcase_add_test(tc, event_idx_interrupts);
    tcase_add_test(tc, notify_ext_says_what_it_did);
    tcase_add_test(tc, kick_suppression_flags);
    tcase_add_test(tc, kick_suppression_event_idx);
    tcase_add_test(tc, kicks_reach_the_device);
    tcase_add_test(tc, kicks_enabled_at_start);
    tcase_add_test(tc, no_lost_kicks_with_flags);
    tcase_add_test(tc, no_lost_kicks_with_event_idx);
    suite_add_tcase(s, tc);

    TCase *bad = tcase_create("violations");
    tcase_add_checked_fixture(bad, setup, teardown);
    tcase_add_test(bad, bad_head);
    tcase_add_test(bad, bad_next);
    tcase_add_test(bad, chain_loop);
    tcase_add_test(bad, avail_index_jump);
    tcase_add_test(bad, buffer_outside_ram);
    tcase_add_test(bad, buffer_address_overflow);
    tcase_add_test(bad, readable_after_writable);
    tcase_add_test(bad, indirect_not_negotiated);
    tcase_add_test(bad, indirect_empty);
    tcase_add_test(bad, indirect_not_multiple_of_16);
    tcase_add_test(bad, indirect_too_long);
    tcase_add_test(bad, indirect_outside_ram);
    tcase_add_test(bad, indirect_nested);
    tcase_add_test(bad, indirect_with_next);
    tcase_add_test(bad, indirect_loop);
    tcase_add_test(bad, too_many_segments);
    tcase_add_test(bad, size_not_power_of_two);
    tcase_add_test(bad, size_too_big);
    tcase_add_test(bad, desc_misaligned);
    tcase_add_test(bad, avail_misaligned);
    tcase_add_test(bad, used_misaligned);
    tcase_add_test(bad, ring_outside_ram);
    tcase_add_test(bad, event_idx_field_outside_ram);
    tcase_add_test(bad, fail_from_the_data_thread);
    tcase_add_test(bad, hostile_driver);
    suite_add_tcase(s, bad);
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
