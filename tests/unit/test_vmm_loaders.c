/* The VMM's image loaders (vmm/load_bzimage.c, vmm/load_elf.c) on hostile images: whatever
 * the bytes, a clean refusal or a load inside guest RAM, never a read past the image. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fake_embedder.h"
#include "loaders.h"

static struct fake_embedder fe;

static void setup(void)
{
    struct vdev_err err;
    fake_machine_new(&fe);
    ck_assert_msg(fake_machine_build_string(&fe, "ram 0,0x40000 ram 0x100000,0x80000", &err) == 0,
                  "%s", err.msg);
}

static void teardown(void)
{
    fake_machine_free(&fe);
}

/* `len` bytes of `bytes` placed so that the next byte is an inaccessible page: a loader
 * reading past the image faults, with or without a sanitizer. */
static uint8_t *at_page_end(const void *bytes, size_t len, void **map)
{
    long pg = sysconf(_SC_PAGESIZE);
    uint8_t *p =
        mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    ck_assert_int_eq(mprotect(p + pg, (size_t)pg, PROT_NONE), 0);
    *map = p;
    memcpy(p + pg - len, bytes, len);
    return p + pg - len;
}

/* Found by fuzz_loader_bzimage: the loader read the boot protocol version (0x206), the
 * xloadflags (0x236) and init_size (0x260) of an image shorter than its setup header. */
START_TEST(bzimage_shorter_than_its_header_is_refused)
{
    static const size_t lens[] = {0, 1, 0x1f1, 0x205, 0x210, 0x237, 0x263};
    uint8_t bytes[0x264];
    memset(bytes, 0, sizeof(bytes));
    memcpy(bytes + 0x202, "HdrS", 4);
    bytes[0x206] = 0x0f; /* 2.15 */
    bytes[0x207] = 0x02;
    bytes[0x236] = 1; /* 64-bit entry */
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        void *map;
        const uint8_t *img = at_page_end(bytes, lens[i], &map);
        struct x86_entry e = {0};
        struct vdev_err err = {0};
        ck_assert_int_eq(load_bzimage(fe.m, img, lens[i], NULL, NULL, 0, &e, &err), -1);
        ck_assert_msg(strstr(err.msg, "not a bzImage"), "%zu bytes: %s", lens[i], err.msg);
        munmap(map, 2 * (size_t)sysconf(_SC_PAGESIZE));
    }
}
END_TEST

static Suite *loaders_suite(void)
{
    Suite *s = suite_create("vmm_loaders");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, bzimage_shorter_than_its_header_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(loaders_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
