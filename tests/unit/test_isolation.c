/* Isolation of the memory map (issue 13, docs/security.md): devices DMA only to guest RAM,
 * lookups see one consistent translation while regions move, host-backed memory is not
 * read after its region is removed, map changes free what they retire, guest RAM stays
 * put, and a guest cannot flood the host's log. Each test failed on the map as it was
 * (rings in device memory accepted, base rewritten in place, snapshots kept until the VM
 * ended, one log line per event). */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "virtio_fixture.h"

#include "heap_usage.h"

#define DEVMEM_BASE 0xc0000000ull
#define DEVMEM_SIZE 0x4000ull

static void setup(void)
{
    vt_build();
}

static void teardown(void)
{
    vt_free();
}

/* A device-memory window (as a DEVMEM BAR or shmem data pages are), backed by `host`. */
static struct vdev_region *add_devmem(uint64_t base, void *host, uint64_t size)
{
    struct vdev_err err;
    struct vdev_region *r = NULL;
    struct vdev_region_desc d = {.owner = "devmem",
                                 .space = VDEV_SPACE_MEM,
                                 .kind = VDEV_REGION_DEVMEM,
                                 .base = base,
                                 .size = size,
                                 .host = host};
    if (vdev_bus_add(vdev_machine_bus(fe.m), &d, &r, &err))
        ck_abort_msg("%s", err.msg);
    return r;
}

START_TEST(gmem_refuses_device_memory)
{
    static uint8_t page[DEVMEM_SIZE];
    add_devmem(DEVMEM_BASE, page, sizeof(page));
    uint8_t b[8] = {0};
    ck_assert_ptr_null(vdev_gmem_ptr(fe.m, DEVMEM_BASE, 8, false));
    ck_assert_ptr_null(vdev_gmem_ptr(fe.m, DEVMEM_BASE, 8, true));
    ck_assert_int_eq(vdev_gmem_read(fe.m, DEVMEM_BASE, b, sizeof(b)), -1);
    ck_assert_int_eq(vdev_gmem_write(fe.m, DEVMEM_BASE, b, sizeof(b)), -1);
    /* The guest's own accesses to it still work: that is what device memory is for. */
    uint64_t v = 0x1122334455667788ull;
    ck_assert_int_eq(
        vdev_bus_access(vdev_machine_bus(fe.m), VDEV_SPACE_MEM, DEVMEM_BASE + 8, 8, true, &v),
        VDEV_ACCESS_OK);
    ck_assert_uint_eq(page[8], 0x88);
}
END_TEST

START_TEST(rings_in_device_memory_need_reset)
{
    static uint8_t pages[DEVMEM_SIZE];
    add_devmem(DEVMEM_BASE, pages, sizeof(pages));
    drv_negotiate(1ull << VIRTIO_F_VERSION_1);
    drv_queue(0, 8, DEVMEM_BASE, DEVMEM_BASE + 0x1000, DEVMEM_BASE + 0x2000);
    drv_driver_ok();
    ck_assert_uint_ne(vdev_virtio_get_status(vio) & VIRTIO_STATUS_NEEDS_RESET, 0);
    ck_assert_uint_eq(vt->starts, 0);
    /* Only the used ring there is refused too. */
    vdev_virtio_set_status(vio, 0);
    drv_negotiate(1ull << VIRTIO_F_VERSION_1);
    drv_queue(0, 8, VT_DESC, VT_AVAIL, DEVMEM_BASE + 0x2000);
    drv_driver_ok();
    ck_assert_uint_ne(vdev_virtio_get_status(vio) & VIRTIO_STATUS_NEEDS_RESET, 0);
}
END_TEST

START_TEST(buffers_in_device_memory_refused)
{
    static uint8_t pages[DEVMEM_SIZE];
    add_devmem(DEVMEM_BASE, pages, sizeof(pages));
    drv_start(0, 8);
    struct drv_buf b = {DEVMEM_BASE, 64, 0};
    drv_descs(VT_DESC, 0, &b, 1);
    drv_publish(0, 8);
    struct vdev_virtq_elem e;
    ck_assert_int_lt(vdev_virtq_pop(vdev_virtio_queue(vio, 0), &e), 0);
    ck_assert_uint_ne(vdev_virtio_get_status(vio) & VIRTIO_STATUS_NEEDS_RESET, 0);
}
END_TEST

/* ---- consistent translations while a region moves ---- */

struct mover {
    struct vdev_region *r;
    atomic_bool stop;
    atomic_ulong moves;
};

static void *move_back_and_forth(void *arg)
{
    struct mover *mv = arg;
    struct vdev_err err;
    while (!atomic_load(&mv->stop)) {
        /* 4 GiB apart, as a guest rewriting a 64-bit BAR's high dword moves it */
        vdev_region_move(mv->r, DEVMEM_BASE + 0x100000000ull, &err);
        vdev_region_move(mv->r, DEVMEM_BASE, &err);
        atomic_fetch_add(&mv->moves, 1);
    }
    return NULL;
}

START_TEST(translation_is_consistent_while_moving)
{
    /* Exactly sized heap memory: a translation with a torn base lands outside it (ASan). */
    uint8_t *host = malloc(DEVMEM_SIZE);
    memset(host, 0xa5, DEVMEM_SIZE);
    struct mover mv = {.r = add_devmem(DEVMEM_BASE, host, DEVMEM_SIZE)};
    pthread_t t;
    pthread_create(&t, NULL, move_back_and_forth, &mv);
    struct vdev_bus *bus = vdev_machine_bus(fe.m);
    unsigned long hits = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned long i = 0;; i++) {
        uint64_t v = 0;
        uint64_t at = (i & 1 ? DEVMEM_BASE + 0x100000000ull : DEVMEM_BASE) + DEVMEM_SIZE - 8;
        enum vdev_access_result rc = vdev_bus_access(bus, VDEV_SPACE_MEM, at, 8, false, &v);
        if (rc == VDEV_ACCESS_OK) {
            ck_assert_uint_eq(v, 0xa5a5a5a5a5a5a5a5ull);
            hits++;
        } else {
            ck_assert_int_eq(rc, VDEV_ACCESS_UNMAPPED);
            ck_assert_uint_eq(v, UINT64_MAX);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= 1) /* a torn lookup showed within 0.1 s before */
            break;
    }
    atomic_store(&mv.stop, true);
    pthread_join(t, NULL);
    ck_assert_uint_gt(hits, 0);
    ck_assert_uint_gt(atomic_load(&mv.moves), 0);
    vdev_region_remove(mv.r);
    free(host);
}
END_TEST

/* ---- host memory not read after its region is removed ---- */

struct reader {
    struct vdev_bus *bus;
    atomic_bool stop;
    atomic_ulong reads, hits;
};

static void *read_devmem(void *arg)
{
    struct reader *rd = arg;
    while (!atomic_load(&rd->stop)) {
        uint64_t v;
        if (vdev_bus_access(rd->bus, VDEV_SPACE_MEM, DEVMEM_BASE + 0x100, 4, false, &v) ==
            VDEV_ACCESS_OK)
            atomic_fetch_add(&rd->hits, 1);
        atomic_fetch_add(&rd->reads, 1);
    }
    return NULL;
}

START_TEST(removed_memory_is_not_read_after_unmap)
{
    struct reader rd = {.bus = vdev_machine_bus(fe.m)};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, read_devmem, &rd);
    for (unsigned i = 0; i < 3000; i++) {
        void *p =
            mmap(NULL, DEVMEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ck_assert_ptr_ne(p, MAP_FAILED);
        struct vdev_region *r = add_devmem(DEVMEM_BASE, p, DEVMEM_SIZE);
        for (unsigned spin = 0; spin < 200 && atomic_load(&rd.reads) % 7; spin++)
            ;
        vdev_region_remove(r);
        munmap(p, DEVMEM_SIZE); /* a reader still copying from p would fault */
    }
    atomic_store(&rd.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    ck_assert_uint_gt(atomic_load(&rd.reads), 0);
}
END_TEST

/* ---- bounded memory ---- */

START_TEST(map_changes_do_not_grow_the_heap)
{
    static uint8_t page[DEVMEM_SIZE];
    struct vdev_region *r = add_devmem(DEVMEM_BASE, page, sizeof(page));
    for (unsigned i = 0; i < 1000; i++) { /* warm up: lists reach their working size */
        vdev_region_set_enabled(r, false, NULL);
        vdev_region_set_enabled(r, true, NULL);
    }
    size_t before = heap_in_use();
    for (unsigned i = 0; i < 200000; i++) {
        vdev_region_set_enabled(r, false, NULL);
        vdev_region_set_enabled(r, true, NULL);
    }
    size_t after = heap_in_use();
    /* Kept until the VM ended, this was 400,000 snapshots (about 80 MB here). */
    ck_assert_uint_lt(after > before ? after - before : 0, 256 * 1024);
}
END_TEST

START_TEST(removed_regions_are_freed)
{
    static uint8_t page[DEVMEM_SIZE];
    size_t before = 0;
    for (unsigned i = 0; i < 100000; i++) {
        if (i == 1000)
            before = heap_in_use();
        vdev_region_remove(add_devmem(DEVMEM_BASE, page, sizeof(page)));
    }
    size_t after = heap_in_use();
    ck_assert_uint_lt(after > before ? after - before : 0, 256 * 1024);
}
END_TEST

START_TEST(guest_ram_stays_put)
{
    struct vdev_bus *bus = vdev_machine_bus(fe.m);
    struct vdev_region *ram = vdev_bus_find(bus, VDEV_SPACE_MEM, 0);
    ck_assert_ptr_nonnull(ram);
    void *p = vdev_gmem_ptr(fe.m, 0x1000, 8, true);
    struct vdev_err err = {0};
    ck_assert_int_ne(vdev_region_move(ram, 0x40000000, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "ram"));
    ck_assert_int_ne(vdev_region_set_enabled(ram, false, &err), 0);
    vdev_region_remove(ram);
    int other;
    vdev_region_set_host(ram, &other);
    ck_assert_ptr_eq(vdev_bus_find(bus, VDEV_SPACE_MEM, 0), ram);
    ck_assert_ptr_eq(vdev_gmem_ptr(fe.m, 0x1000, 8, true), p);
}
END_TEST

/* ---- the host log ---- */

START_TEST(guest_provoked_log_lines_are_rate_limited)
{
    fe.log_len = 0;
    fe.log[0] = '\0';
    for (unsigned i = 0; i < 100000; i++)
        vdev_log(dev, VDEV_LOG_WARNING, "flood %u", i);
    unsigned lines = count_log("flood ");
    ck_assert_uint_ge(lines, 10);
    ck_assert_uint_le(lines, 120); /* a burst, then about ten a second */
    /* Fatal lines always go out. */
    vdev_log(dev, VDEV_LOG_FATAL, "the end");
    ck_assert_uint_eq(count_log("the end"), 1);
}
END_TEST

START_TEST(dropped_lines_are_counted)
{
    for (unsigned i = 0; i < 1000; i++)
        vdev_log(dev, VDEV_LOG_ERROR, "burst %u", i);
    usleep(250 * 1000); /* earns two lines back */
    fe.log_len = 0;
    fe.log[0] = '\0';
    vdev_log(dev, VDEV_LOG_ERROR, "after");
    ck_assert_uint_eq(count_log("after"), 1);
    ck_assert_uint_eq(count_log("lines dropped"), 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("isolation");
    TCase *tc = tcase_create("map");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, gmem_refuses_device_memory);
    tcase_add_test(tc, rings_in_device_memory_need_reset);
    tcase_add_test(tc, buffers_in_device_memory_refused);
    tcase_add_test(tc, translation_is_consistent_while_moving);
    tcase_add_test(tc, removed_memory_is_not_read_after_unmap);
    tcase_add_test(tc, map_changes_do_not_grow_the_heap);
    tcase_add_test(tc, removed_regions_are_freed);
    tcase_add_test(tc, guest_ram_stays_put);
    tcase_add_test(tc, guest_provoked_log_lines_are_rate_limited);
    tcase_add_test(tc, dropped_lines_are_counted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
