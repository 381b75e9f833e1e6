/* The memory/I-O map: overlaps, moves, dispatch, access sizes, unmapped accesses. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <vdev/vdev.h>

struct regs {
    uint64_t last_off, last_val;
    unsigned last_size, reads, writes;
};

static uint64_t regs_read(void *opaque, uint64_t off, unsigned size)
{
    struct regs *r = opaque;
    r->reads++;
    r->last_off = off;
    r->last_size = size;
    return 0x1122334455667788ull;
}

static void regs_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct regs *r = opaque;
    r->writes++;
    r->last_off = off;
    r->last_size = size;
    r->last_val = val;
}

static const struct vdev_region_ops all_sizes = {sizeof(struct vdev_region_ops), regs_read,
                                                 regs_write, 0};
static const struct vdev_region_ops bytes_and_dwords = {sizeof(struct vdev_region_ops), regs_read,
                                                        regs_write, 0x1 | 0x4};

static struct vdev_region *add(struct vdev_bus *bus, const char *owner, enum vdev_space space,
                               enum vdev_region_kind kind, uint64_t base, uint64_t size,
                               const struct vdev_region_ops *ops, void *opaque,
                               struct vdev_err *err)
{
    struct vdev_region_desc d = {.owner = owner,
                                 .space = space,
                                 .kind = kind,
                                 .base = base,
                                 .size = size,
                                 .ops = ops,
                                 .opaque = opaque};
    struct vdev_region *r = NULL;
    return vdev_bus_add(bus, &d, &r, err) == 0 ? r : NULL;
}

START_TEST(overlap_names_both_parties)
{
    struct vdev_bus *bus = vdev_bus_new();
    struct vdev_err err;
    struct regs a = {0};
    ck_assert_ptr_nonnull(
        add(bus, "ram", VDEV_SPACE_MEM, VDEV_REGION_RAM, 0, 0x100000, NULL, NULL, &err));
    ck_assert_ptr_null(add(bus, "uart 'x'", VDEV_SPACE_MEM, VDEV_REGION_DEVICE, 0xff000, 0x2000,
                           &all_sizes, &a, &err));
    ck_assert_str_eq(err.msg, "uart 'x' mem:0xff000-0x100fff overlaps ram mem:0x0-0xfffff");
    ck_assert_int_eq(err.code, VDEV_E_BUSY);
    /* adjacent is fine; the same range in the other space too */
    ck_assert_ptr_nonnull(add(bus, "uart", VDEV_SPACE_MEM, VDEV_REGION_DEVICE, 0x100000, 0x1000,
                              &all_sizes, &a, &err));
    ck_assert_ptr_nonnull(
        add(bus, "port", VDEV_SPACE_IO, VDEV_REGION_DEVICE, 0x0, 0x100, &all_sizes, &a, &err));
    vdev_bus_free(bus);
}
END_TEST

START_TEST(bad_ranges_refused)
{
    struct vdev_bus *bus = vdev_bus_new();
    struct vdev_err err;
    struct regs a = {0};
    ck_assert_ptr_null(add(bus, "z", VDEV_SPACE_MEM, VDEV_REGION_RAM, 0x1000, 0, NULL, NULL, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "empty window"));
    ck_assert_ptr_null(add(bus, "wrap", VDEV_SPACE_MEM, VDEV_REGION_RAM, UINT64_MAX - 0xfff, 0x2000,
                           NULL, NULL, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "runs past the end of mem space"));
    ck_assert_int_eq(err.code, VDEV_E_RANGE);
    ck_assert_ptr_null(
        add(bus, "io", VDEV_SPACE_IO, VDEV_REGION_DEVICE, 0xfff8, 0x10, &all_sizes, &a, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "runs past the end of io space"));
    /* the very last byte of the address space is fine */
    ck_assert_ptr_nonnull(add(bus, "top", VDEV_SPACE_MEM, VDEV_REGION_RESERVED, UINT64_MAX - 0xfff,
                              0x1000, NULL, NULL, &err));
    ck_assert_ptr_null(
        add(bus, "noops", VDEV_SPACE_MEM, VDEV_REGION_DEVICE, 0x5000, 0x10, NULL, NULL, &err));
    vdev_bus_free(bus);
}
END_TEST

START_TEST(dispatch_offsets_and_sizes)
{
    struct vdev_bus *bus = vdev_bus_new();
    struct vdev_err err;
    struct regs a = {0}, b = {0};
    add(bus, "a", VDEV_SPACE_MEM, VDEV_REGION_DEVICE, 0xd0000000, 0x1000, &all_sizes, &a, &err);
    add(bus, "b", VDEV_SPACE_MEM, VDEV_REGION_DEVICE, 0xd0001000, 0x10, &bytes_and_dwords, &b,
        &err);
    uint64_t v = 0xabcd;
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0xd0000ff8, 8, true, &v), VDEV_ACCESS_OK);
    ck_assert_uint_eq(a.last_off, 0xff8);
    ck_assert_uint_eq(a.last_size, 8);
    ck_assert_uint_eq(a.last_val, 0xabcd);
    /* reads are truncated to the access size */
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0xd0000004, 2, false, &v),
                     VDEV_ACCESS_OK);
    ck_assert_uint_eq(v, 0x7788);
    /* b takes bytes and dwords only */
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0xd0001004, 2, false, &v),
                     VDEV_ACCESS_BAD_SIZE);
    ck_assert_uint_eq(v, 0xffff);
    ck_assert_uint_eq(b.reads, 0);
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0xd0001004, 4, false, &v),
                     VDEV_ACCESS_OK);
    ck_assert_uint_eq(b.last_off, 4);
    /* an access running past the end of a window is refused, not split */
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0xd000100e, 4, false, &v),
                     VDEV_ACCESS_BAD_SIZE);
    /* sizes other than 1, 2, 4, 8 */
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0xd0000000, 3, false, &v),
                     VDEV_ACCESS_BAD_SIZE);
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0xd0000000, 16, true, &v),
                     VDEV_ACCESS_BAD_SIZE);
    vdev_bus_free(bus);
}
END_TEST

START_TEST(unmapped_reads_all_ones)
{
    struct vdev_bus *bus = vdev_bus_new();
    struct vdev_err err;
    struct regs a = {0};
    add(bus, "a", VDEV_SPACE_IO, VDEV_REGION_DEVICE, 0x3f8, 8, &all_sizes, &a, &err);
    add(bus, "lapic", VDEV_SPACE_MEM, VDEV_REGION_RESERVED, 0xfee00000, 0x1000, NULL, NULL, &err);
    uint64_t v = 0;
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_IO, 0x3f7, 1, false, &v),
                     VDEV_ACCESS_UNMAPPED);
    ck_assert_uint_eq(v, 0xff);
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_IO, 0x400, 4, false, &v),
                     VDEV_ACCESS_UNMAPPED);
    ck_assert_uint_eq(v, 0xffffffff);
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0xfee00020, 4, false, &v),
                     VDEV_ACCESS_UNMAPPED);
    v = 5;
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_IO, 0x2f8, 1, true, &v), VDEV_ACCESS_UNMAPPED);
    ck_assert_uint_eq(a.writes, 0);
    ck_assert_int_eq(vdev_bus_access(bus, 7, 0x0, 1, false, &v), VDEV_ACCESS_UNMAPPED);
    vdev_bus_free(bus);
}
END_TEST

START_TEST(ram_and_rom_through_dispatch)
{
    struct vdev_bus *bus = vdev_bus_new();
    struct vdev_err err;
    uint8_t ram[0x1000] = {0}, rom[0x1000];
    memset(rom, 0x5a, sizeof(rom));
    struct vdev_region *r =
        add(bus, "ram", VDEV_SPACE_MEM, VDEV_REGION_RAM, 0, sizeof(ram), NULL, NULL, &err);
    struct vdev_region *o =
        add(bus, "rom", VDEV_SPACE_MEM, VDEV_REGION_ROM, 0x10000, sizeof(rom), NULL, NULL, &err);
    uint64_t v = 0x1234;
    /* not backed yet: nothing to touch */
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0x10, 2, true, &v), VDEV_ACCESS_UNMAPPED);
    vdev_region_set_host(r, ram);
    vdev_region_set_host(o, rom);
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0x10, 2, true, &v), VDEV_ACCESS_OK);
    ck_assert_uint_eq(ram[0x10], 0x34);
    ck_assert_uint_eq(ram[0x11], 0x12);
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0x10000, 4, true, &v),
                     VDEV_ACCESS_READ_ONLY);
    ck_assert_uint_eq(rom[0], 0x5a);
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0x10ffc, 4, false, &v), VDEV_ACCESS_OK);
    ck_assert_uint_eq(v, 0x5a5a5a5a);
    vdev_bus_free(bus);
}
END_TEST

START_TEST(move_and_disable)
{
    struct vdev_bus *bus = vdev_bus_new();
    struct vdev_err err;
    struct regs a = {0}, b = {0};
    struct vdev_region *ra = add(bus, "bar a", VDEV_SPACE_MEM, VDEV_REGION_DEVICE, 0xe0000000,
                                 0x1000, &all_sizes, &a, &err);
    add(bus, "bar b", VDEV_SPACE_MEM, VDEV_REGION_DEVICE, 0xe0010000, 0x1000, &all_sizes, &b, &err);
    /* moving onto b is refused and a stays put */
    ck_assert_int_eq(vdev_region_move(ra, 0xe0010800, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "overlaps bar b"));
    ck_assert_int_eq(err.code, VDEV_E_BUSY);
    uint64_t v;
    vdev_bus_access(bus, VDEV_SPACE_MEM, 0xe0000010, 4, false, &v);
    ck_assert_uint_eq(a.reads, 1);
    ck_assert_int_eq(vdev_region_move(ra, 0xf0000000, &err), 0);
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0xe0000010, 4, false, &v),
                     VDEV_ACCESS_UNMAPPED);
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0xf0000010, 4, false, &v),
                     VDEV_ACCESS_OK);
    ck_assert_uint_eq(a.reads, 2);
    /* a disabled region answers nothing and may sit on top of another until enabled */
    ck_assert_int_eq(vdev_region_set_enabled(ra, false, &err), 0);
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0xf0000010, 4, false, &v),
                     VDEV_ACCESS_UNMAPPED);
    ck_assert_int_eq(vdev_region_move(ra, 0xe0010000, &err), 0);
    ck_assert_int_eq(vdev_region_set_enabled(ra, true, &err), -1);
    ck_assert_int_eq(vdev_region_move(ra, 0xe0020000, &err), 0);
    ck_assert_int_eq(vdev_region_set_enabled(ra, true, &err), 0);
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0xe0020000, 4, false, &v),
                     VDEV_ACCESS_OK);
    vdev_region_remove(ra);
    ck_assert_ptr_null(vdev_bus_find(bus, VDEV_SPACE_MEM, 0xe0020000));
    vdev_bus_free(bus);
}
END_TEST

START_TEST(many_regions_lookup)
{
    /* 1024 windows: every one is found at its first and last byte, gaps are unmapped. */
    struct vdev_bus *bus = vdev_bus_new();
    struct vdev_err err;
    static struct regs rs[1024];
    for (unsigned i = 0; i < 1024; i++) {
        unsigned k = (i * 2654435761u) % 1024; /* insert out of order */
        ck_assert_ptr_nonnull(add(bus, "r", VDEV_SPACE_MEM, VDEV_REGION_DEVICE,
                                  0x100000 + k * 0x2000ull, 0x1000, &all_sizes, &rs[k], &err));
    }
    for (unsigned k = 0; k < 1024; k++) {
        uint64_t base = 0x100000 + k * 0x2000ull;
        struct vdev_region *r = vdev_bus_find(bus, VDEV_SPACE_MEM, base);
        ck_assert_ptr_nonnull(r);
        ck_assert_ptr_eq(vdev_bus_find(bus, VDEV_SPACE_MEM, base + 0xfff), r);
        ck_assert_ptr_null(vdev_bus_find(bus, VDEV_SPACE_MEM, base + 0x1000));
    }
    uint64_t free_base;
    ck_assert_int_eq(
        vdev_bus_find_free(bus, VDEV_SPACE_MEM, 0x100000, UINT64_MAX, 0x1000, 0x1000, &free_base),
        0);
    ck_assert_uint_eq(free_base, 0x101000);
    ck_assert_int_eq(
        vdev_bus_find_free(bus, VDEV_SPACE_MEM, 0x100000, UINT64_MAX, 0x2000, 0x1000, &free_base),
        0);
    ck_assert_uint_eq(free_base, 0x100000 + 1024 * 0x2000ull - 0x1000);
    vdev_bus_free(bus);
}
END_TEST

/* The core's internal listener hook (core/internal.h), to watch host-backed mappings. */
void vdev_bus_set_listener(struct vdev_bus *bus,
                           void (*fn)(void *arg, const struct vdev_region *r, bool map), void *arg);

struct map_log {
    unsigned maps, unmaps;
    uint64_t last_base;
    bool last_enabled;
};

static void log_map(void *arg, const struct vdev_region *r, bool map)
{
    struct map_log *l = arg;
    struct vdev_region_info info;
    vdev_region_get_info(r, &info);
    if (map) {
        l->maps++;
        l->last_base = info.base;
    } else {
        l->unmaps++;
    }
    l->last_enabled = info.enabled;
}

/* A window holds children that come and go, follow its moves and vanish with it. */
START_TEST(window_children)
{
    struct vdev_bus *bus = vdev_bus_new();
    struct map_log ml = {0};
    vdev_bus_set_listener(bus, log_map, &ml);
    struct vdev_err err;
    struct regs a = {0};
    static uint8_t host[0x2000];
    struct vdev_region *w = add(bus, "shm BAR2", VDEV_SPACE_MEM, VDEV_REGION_WINDOW, 0x100000,
                                0x10000, NULL, NULL, &err);
    ck_assert_ptr_nonnull(w);
    uint64_t v = 0;
    /* an empty window answers nothing, and nothing else may sit on it */
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0x100000, 4, false, &v),
                     VDEV_ACCESS_UNMAPPED);
    ck_assert_ptr_null(
        add(bus, "x", VDEV_SPACE_MEM, VDEV_REGION_DEVICE, 0x10f000, 0x1000, &all_sizes, &a, &err));
    struct vdev_region_desc ctl = {.owner = "ctl",
                                   .space = VDEV_SPACE_MEM,
                                   .kind = VDEV_REGION_DEVICE,
                                   .base = 0x1000,
                                   .size = 0x1000,
                                   .ops = &all_sizes,
                                   .opaque = &a};
    struct vdev_region_desc data = {.owner = "data",
                                    .space = VDEV_SPACE_MEM,
                                    .kind = VDEV_REGION_DEVMEM,
                                    .base = 0x2000,
                                    .size = 0x2000,
                                    .host = host};
    struct vdev_region *c = NULL, *d = NULL;
    ck_assert_int_eq(vdev_region_add_child(w, &ctl, &c, &err), 0);
    ck_assert_int_eq(vdev_region_add_child(w, &data, &d, &err), 0);
    ck_assert_uint_eq(ml.maps, 1);
    ck_assert_uint_eq(ml.last_base, 0x102000);
    /* children do not overlap each other nor leave the window */
    struct vdev_region_desc bad = ctl;
    bad.base = 0x2fff;
    ck_assert_int_ne(vdev_region_add_child(w, &bad, NULL, &err), 0);
    ck_assert_str_eq(err.msg, "ctl overlaps data in shm BAR2");
    ck_assert_int_eq(err.code, VDEV_E_BUSY);
    bad.base = 0xf001;
    ck_assert_int_ne(vdev_region_add_child(w, &bad, NULL, &err), 0);
    bad.base = UINT64_MAX - 0xfff;
    ck_assert_int_ne(vdev_region_add_child(w, &bad, NULL, &err), 0);
    ck_assert_int_ne(vdev_region_move(c, 0x200000, &err), 0);
    /* dispatch: trapped child with its own offsets, memory child from host memory */
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0x101008, 4, false, &v), VDEV_ACCESS_OK);
    ck_assert_uint_eq(a.last_off, 8);
    v = 0xabcd;
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0x103ffe, 2, true, &v), VDEV_ACCESS_OK);
    ck_assert_uint_eq(host[0x1ffe], 0xcd);
    ck_assert_int_eq(vdev_bus_access(bus, VDEV_SPACE_MEM, 0x104000, 4, false, &v),
                     VDEV_ACCESS_UNMAPPED);
    /* the window moves: children follow, memory remapped at the new place */
    ck_assert_int_eq(vdev_region_move(w, 0x300000, &err), 0);
    ck_assert_uint_eq(ml.unmaps, 1);
    ck_assert_uint_eq(ml.maps, 2);
    ck_assert_uint_eq(ml.last_base, 0x302000);
    ck_assert_ptr_eq(vdev_bus_find(bus, VDEV_SPACE_MEM, 0x301000), c);
    ck_assert_ptr_null(vdev_bus_find(bus, VDEV_SPACE_MEM, 0x101000));
    /* off: nothing answers and the memory is unmapped; on: back */
    ck_assert_int_eq(vdev_region_set_enabled(w, false, &err), 0);
    ck_assert_uint_eq(ml.unmaps, 2);
    ck_assert_ptr_null(vdev_bus_find(bus, VDEV_SPACE_MEM, 0x302000));
    ck_assert_int_eq(vdev_region_set_enabled(w, true, &err), 0);
    ck_assert_uint_eq(ml.maps, 3);
    ck_assert_ptr_eq(vdev_bus_find(bus, VDEV_SPACE_MEM, 0x302000), d);
    /* a child goes: unmapped, its place free again */
    vdev_region_remove(d);
    ck_assert_uint_eq(ml.unmaps, 3);
    ck_assert_ptr_null(vdev_bus_find(bus, VDEV_SPACE_MEM, 0x302000));
    ck_assert_int_eq(vdev_region_add_child(w, &data, &d, &err), 0);
    ck_assert_uint_eq(ml.maps, 4);
    /* the window goes: its children with it */
    vdev_region_remove(w);
    ck_assert_uint_eq(ml.unmaps, 4);
    ck_assert_ptr_null(vdev_bus_find(bus, VDEV_SPACE_MEM, 0x301000));
    ck_assert_ptr_null(vdev_bus_find(bus, VDEV_SPACE_MEM, 0x302000));
    vdev_bus_free(bus); /* w and its children were freed by then (ASan: no double free) */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("bus");
    TCase *tc = tcase_create("bus");
    tcase_add_test(tc, overlap_names_both_parties);
    tcase_add_test(tc, bad_ranges_refused);
    tcase_add_test(tc, dispatch_offsets_and_sizes);
    tcase_add_test(tc, unmapped_reads_all_ones);
    tcase_add_test(tc, ram_and_rom_through_dispatch);
    tcase_add_test(tc, move_and_disable);
    tcase_add_test(tc, many_regions_lookup);
    tcase_add_test(tc, window_children);
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
