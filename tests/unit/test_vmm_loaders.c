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

/* A valid little bzImage: protocol 2.15, 64-bit entry, one setup sector, 512 bytes of kernel. */
static size_t tiny_bzimage(uint8_t *img, uint8_t hdr_len)
{
    memset(img, 0, 3 * 512);
    img[0x1f1] = 1;
    img[0x201] = hdr_len;
    memcpy(img + 0x202, "HdrS", 4);
    img[0x206] = 0x0f;
    img[0x207] = 0x02;
    img[0x236] = 1;
    memcpy(img + 0x238, &(uint32_t){2048}, 4);   /* cmdline_size */
    memcpy(img + 0x260, &(uint32_t){0x2000}, 4); /* init_size */
    memset(img + 0x290, 0xee, 0x400 - 0x290);    /* what follows the header in the image */
    return 3 * 512;
}

/* Found by fuzz_loader_bzimage: a header length (byte 0x201) reaching past the setup header
 * copied the image's bytes over the zero page's EDD signatures and e820 table. */
START_TEST(bzimage_header_longer_than_its_area_is_refused)
{
    uint8_t img[3 * 512];
    struct x86_entry e = {0};
    struct vdev_err err = {0};
    size_t len = tiny_bzimage(img, 0x6a); /* 0x26c: a real kernel's */
    ck_assert_msg(load_bzimage(fe.m, img, len, NULL, "console=ttyS0", 0, &e, &err) == 0, "%s",
                  err.msg);
    len = tiny_bzimage(img, 211); /* 0x2d5: over EDD's area and into e820 */
    ck_assert_int_eq(load_bzimage(fe.m, img, len, NULL, "console=ttyS0", 0, &e, &err), -1);
    ck_assert_str_eq(err.msg, "bzImage setup header is malformed");
    const uint8_t *zp = vdev_gmem_ptr(fe.m, X86_BOOT_ZERO_PAGE, 4096, false);
    for (unsigned i = 0x290; i < 0x2d0; i++)
        ck_assert_uint_ne(zp[i], 0xee);
}
END_TEST

static Suite *loaders_suite(void)
{
    Suite *s = suite_create("vmm_loaders");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, bzimage_shorter_than_its_header_is_refused);
    tcase_add_test(tc, bzimage_header_longer_than_its_area_is_refused);
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
