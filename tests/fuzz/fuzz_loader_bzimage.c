/* A hostile Linux bzImage (and initrd, and command line) through the VMM's loader
 * (vmm/load_bzimage.c) into guest RAM: it must load exactly when a model of the boot protocol
 * rules says so, and then the kernel, the zero page, the command line, the initrd and the
 * e820 map hold what they must; refused or not, no byte of RAM outside the zero page, the
 * command line, the kernel and the initrd changes.
 *
 * Input: u8 flags (bits 0-1: no command line / a short one / one of (flags >> 2) * 64 bytes;
 * bit 7: an initrd), u16 initrd length, the initrd bytes, then the image (all the rest). */
/* FUZZ_ARGS: -max_len=16384 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "loaders.h"

#define LO_BASE     0x0ull
#define LO_SIZE     0x40000ull
#define HI_BASE     0x100000ull
#define HI_SIZE     0x80000ull
#define PATTERN     0x5a
#define KERNEL_LOAD 0x100000ull
#define ZERO_PAGE   X86_BOOT_ZERO_PAGE

static struct fz_machine fm;
static uint8_t *lo, *hi;

static void setup(void)
{
    char conf[128];
    snprintf(conf, sizeof(conf), "ram 0x%llx,0x%llx ram 0x%llx,0x%llx", LO_BASE, LO_SIZE, HI_BASE,
             HI_SIZE);
    fz_machine_build(&fm, conf);
    for (unsigned i = 0; i < fm.nram; i++) {
        if (fm.ram[i].base == LO_BASE)
            lo = fm.ram[i].host;
        if (fm.ram[i].base == HI_BASE)
            hi = fm.ram[i].host;
    }
    if (!lo || !hi)
        abort();
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint16_t rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* Host pointer of [gpa, gpa+len) inside one RAM region, or NULL. */
static uint8_t *ram_at(uint64_t gpa, uint64_t len)
{
    if (len == 0)
        return NULL;
    if (gpa < LO_BASE + LO_SIZE && len <= LO_BASE + LO_SIZE - gpa)
        return lo + (gpa - LO_BASE);
    if (gpa >= HI_BASE && gpa < HI_BASE + HI_SIZE && len <= HI_BASE + HI_SIZE - gpa)
        return hi + (gpa - HI_BASE);
    return NULL;
}

/* Ranges the loader may write: [gpa, gpa+len). */
struct range {
    uint64_t gpa, len;
};

/* Every byte outside the allowed ranges still holds the pattern: the allowed ranges (their
 * contents checked already) are wiped, then RAM is compared a page at a time (memcmp: not
 * instrumented byte by byte, which made this the target's hot spot). */
static void check_untouched(const struct range *w, unsigned n)
{
    const struct {
        uint8_t *host;
        uint64_t base, size;
    } rs[2] = {{lo, LO_BASE, LO_SIZE}, {hi, HI_BASE, HI_SIZE}};
    for (unsigned i = 0; i < n; i++)
        for (unsigned r = 0; r < 2; r++) {
            uint64_t a = w[i].gpa > rs[r].base ? w[i].gpa : rs[r].base;
            uint64_t e = w[i].gpa + w[i].len < rs[r].base + rs[r].size ? w[i].gpa + w[i].len
                                                                       : rs[r].base + rs[r].size;
            if (a < e)
                memset(rs[r].host + (a - rs[r].base), PATTERN, e - a);
        }
    static uint8_t pat[4096];
    if (!pat[0])
        memset(pat, PATTERN, sizeof(pat));
    for (unsigned r = 0; r < 2; r++)
        for (uint64_t pg = 0; pg < rs[r].size; pg += sizeof(pat))
            if (memcmp(rs[r].host + pg, pat, sizeof(pat))) {
                fprintf(stderr, "RAM page 0x%llx written outside the loader's ranges\n",
                        (unsigned long long)(rs[r].base + pg));
                abort();
            }
}

/* The model's placement of an initrd: the highest page-aligned address below limit with
 * room in one RAM region, above floor (0 = none). */
static uint64_t place_initrd(uint64_t size, uint64_t floor, uint64_t limit)
{
    const uint64_t base[2] = {LO_BASE, HI_BASE}, rsize[2] = {LO_SIZE, HI_SIZE};
    uint64_t best = 0;
    for (unsigned r = 0; r < 2; r++) {
        uint64_t end = base[r] + rsize[r];
        if (end > limit)
            end = limit;
        if (end < size)
            continue;
        uint64_t at = (end - size) & ~0xfffull;
        if (at >= base[r] && at >= floor && at > best)
            best = at;
    }
    return best;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fm.m)
        setup();
    struct fz_in in = {data, size};
    uint8_t flags = fz_u8(&in);
    size_t ilen = 0;
    uint8_t *initrd = NULL;
    if (flags & 0x80) {
        ilen = fz_u16(&in);
        initrd = malloc(ilen ? ilen : 1);
        if (!initrd)
            return 0;
        ilen = fz_take(&in, initrd, ilen);
    } else {
        fz_u16(&in);
    }
    size_t len = fz_left(&in);
    uint8_t *img = malloc(len ? len : 1); /* exactly len bytes: ASan sees reads past it */
    if (!img) {
        free(initrd);
        return 0;
    }
    fz_take(&in, img, len);

    char cmdbuf[64 * 32 + 1];
    const char *cmdline = NULL;
    switch (flags & 3) {
    case 1:
        cmdline = "console=ttyS0";
        break;
    case 2:
    case 3: {
        size_t n = ((flags >> 2) & 0x1f) * 64u;
        memset(cmdbuf, 'x', n);
        cmdbuf[n] = 0;
        cmdline = cmdbuf;
        break;
    }
    }
    /* The initrd is a file to the loader: a memfd named by its /proc path. */
    char ipath[64] = "";
    int mfd = -1;
    if (initrd) {
        mfd = memfd_create("fuzz-initrd", MFD_CLOEXEC);
        if (mfd < 0 || write(mfd, initrd, ilen) != (ssize_t)ilen)
            abort();
        snprintf(ipath, sizeof(ipath), "/proc/self/fd/%d", mfd);
    }

    memset(lo, PATTERN, LO_SIZE);
    memset(hi, PATTERN, HI_SIZE);
    struct x86_entry entry = {0};
    struct vdev_err err = {0};
    int rc = load_bzimage(fm.m, img, len, initrd ? ipath : NULL, cmdline, 0xe0000, &entry, &err);

    /* The model. */
    size_t clen = cmdline ? strlen(cmdline) : 0;
    bool ok = len >= 0x264 && !memcmp(img + 0x202, "HdrS", 4);
    size_t setup_size = 0, kernel_size = 0;
    uint64_t need = 0;
    if (ok) {
        uint16_t version = rd16(img + 0x206);
        ok = version >= 0x20c && (rd16(img + 0x236) & 1);
        setup_size = ((img[0x1f1] ? img[0x1f1] : 4) + 1) * 512ull;
        ok = ok && setup_size < len;
    }
    if (ok) {
        kernel_size = len - setup_size;
        uint64_t init_size = rd32(img + 0x260);
        need = init_size > kernel_size ? init_size : kernel_size;
        ok = ram_at(KERNEL_LOAD, need) && 0x202u + img[0x201] <= setup_size &&
             0x202u + img[0x201] <= 0x290 && clen <= rd32(img + 0x238) &&
             clen < X86_BOOT_CMDLINE_MAX;
    }
    uint64_t at = 0;
    if (ok && initrd) {
        at = ilen ? place_initrd(ilen, KERNEL_LOAD + need, (uint64_t)rd32(img + 0x22c) + 1) : 0;
        ok = at != 0;
    }
    if ((rc == 0) != ok) {
        fprintf(stderr, "load_bzimage returned %d (%s), the model says %s\n", rc, err.msg,
                ok ? "loads" : "refuses");
        abort();
    }
    if (rc && !err.msg[0])
        abort();

    struct range w[4] = {{ZERO_PAGE, 4096}, {X86_BOOT_CMDLINE, clen + 1}, {KERNEL_LOAD, 0}, {0, 0}};
    if (setup_size && setup_size < len)
        w[2].len = len - setup_size; /* copied before the later checks */
    if (rc == 0) {
        const uint8_t *zp = ram_at(ZERO_PAGE, 4096);
        if (entry.rip != KERNEL_LOAD + 0x200 || entry.rsi != ZERO_PAGE || zp[0x210] != 0xff ||
            (zp[0x211] & 0x81) != 0x81 || rd32(zp + 0x228) != X86_BOOT_CMDLINE ||
            memcmp(ram_at(KERNEL_LOAD, kernel_size), img + setup_size, kernel_size) ||
            memcmp(ram_at(X86_BOOT_CMDLINE, clen + 1), cmdline ? cmdline : "", clen + 1))
            abort();
        /* The setup header is the image's, but for the fields the loader fills in. */
        for (size_t i = 0x1f1; i < 0x202u + img[0x201]; i++) {
            bool filled =
                i == 0x210 || i == 0x211 || (i >= 0x218 && i < 0x220) || (i >= 0x224 && i < 0x22c);
            if (!filled && zp[i] != img[i])
                abort();
        }
        /* e820: at most 128 entries; the RAM ones inside RAM. */
        unsigned n = zp[0x1e8];
        if (n > 128)
            abort();
        for (unsigned i = 0; i < n; i++) {
            const uint8_t *e = zp + 0x2d0 + i * 20;
            uint64_t a, sz;
            memcpy(&a, e, 8);
            memcpy(&sz, e + 8, 8);
            if (rd32(e + 16) == 1 && !ram_at(a, sz))
                abort();
        }
        if (initrd) {
            uint32_t ia = rd32(zp + 0x218), is = rd32(zp + 0x21c);
            const uint8_t *ip = ram_at(ia, is);
            if (ia != at || is != ilen || !ip || memcmp(ip, initrd, ilen) ||
                ia < KERNEL_LOAD + need || ia + (uint64_t)is - 1 > rd32(img + 0x22c))
                abort();
            w[3] = (struct range){ia, is};
        }
    }
    check_untouched(w, 4);
    if (mfd >= 0)
        close(mfd);
    free(img);
    free(initrd);
    return 0;
}
