/* The shmem device's guest interface (vdevs/shmem): the factory page and the control pages
 * of two guests in one process, one on PCI (with MSI-X and BAR moves) and one on MMIO,
 * sharing regions through the host objects. The input is a sequence of guest accesses:
 * names (from a dictionary that makes the guests collide, or raw bytes), create, find,
 * factory reads and raw writes of any offset and size, control-page status/idx/notify/detach
 * and raw accesses, data-page writes and reads, MSI-X on/off, memory decoding, BAR 2 moves,
 * resets. Asserted:
 *   - the factory page: the signature, a status code of the interface, `shmem` inside the
 *     window and page aligned, and each create/find's status as the documentation says
 *     (ILLEGAL_NAME for a bad name, NO_PERMISSION for a denied one, DOES_NOT_EXIST for a
 *     find of a region nobody holds, success with the creator's size for one that exists);
 *   - a new attachment's control page: an idx of its own (no two live connections to one
 *     region share it) that the attach bitmap shows;
 *   - its data pages are the region's: a word written through one attachment reads back
 *     through every other attachment of the same region, in either guest;
 *   - a detached attachment's pages stop answering; a reset detaches everything and the
 *     interrupt line drops.
 * Host objects get a per-process, per-run prefix (`subst`), so nothing outside this run is
 * touched; what a run leaves behind (it should be nothing) is removed at exit. */
/* FUZZ_ARGS: -max_len=2048 */
#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "shmem_dev.h"
#include <vdev/pci.h>

extern const struct vdev_type vdev_module_shmem;

#define MMIO_LOC  0xd1000000ull
#define MMIO_GSI  11
#define MMIO64    0x100000000ull
#define PAGE      4096u
#define MAX_ATT   64 /* attachments remembered per run */
#define WIN_A     (256u << 10)
#define WIN_B     (1u << 20)
#define MAX_NAMES 16

struct guest {
    struct vdev_embedder_ops ops;
    struct vdev_machine *m;
    bool pci;
    unsigned bdf;
    uint64_t factory, win, winsize;
    uint32_t gsi;
    atomic_bool line[32];
    void *ram;
};

/* One successful create/find: where its control page is (an offset in the window). */
struct att {
    struct guest *g;
    uint64_t off;
    unsigned name; /* index into names[] */
    uint32_t idx;
    uint64_t pages;
    bool live;
};

static struct guest ga, gb;
static struct att atts[MAX_ATT];
static unsigned natt;
/* Regions of this run: their guest names, sizes and how many hold them. */
static struct {
    char name[SHMEM_NAME_FIELD];
    uint64_t pages;
    unsigned holders;
} names[MAX_NAMES];
static unsigned nnames;
static char prefix[48], glob_prefix[64];
static unsigned long run;

static int set_line(void *ctx, uint32_t gsi, bool level)
{
    struct guest *g = ctx;
    if (gsi < 32)
        atomic_store(&g->line[gsi], level); /* watcher threads call this too */
    return 0;
}

static int signal_msi(void *ctx, const struct vdev_msi *msi)
{
    return 0;
}

static void quiet(void *ctx, enum vdev_log_level level, const char *who, const char *msg)
{
}

static void fail(const char *what, unsigned long a, unsigned long b)
{
    fprintf(stderr, "fuzz_shmem_pages: %s (0x%lx, 0x%lx)\n", what, a, b);
    abort();
}

static enum vdev_access_result access_(struct guest *g, enum vdev_space sp, uint64_t addr,
                                       unsigned size, bool wr, uint64_t *v)
{
    return vdev_machine_access(g->m, sp, addr, size, wr, v);
}

static uint64_t rd(struct guest *g, uint64_t addr, unsigned size)
{
    uint64_t v = 0;
    if (access_(g, VDEV_SPACE_MEM, addr, size, false, &v) != VDEV_ACCESS_OK)
        fail("read refused", addr, size);
    return v;
}

static void wr(struct guest *g, uint64_t addr, unsigned size, uint64_t v)
{
    if (access_(g, VDEV_SPACE_MEM, addr, size, true, &v) != VDEV_ACCESS_OK)
        fail("write refused", addr, size);
}

static uint64_t cfg_rd(struct guest *g, unsigned reg, unsigned size)
{
    uint64_t v = 0x80000000u | g->bdf << 8 | (reg & 0xfc);
    access_(g, VDEV_SPACE_IO, 0xcf8, 4, true, &v);
    v = 0;
    access_(g, VDEV_SPACE_IO, 0xcfc + (reg & 3), size, false, &v);
    return v;
}

static void cfg_wr(struct guest *g, unsigned reg, unsigned size, uint64_t val)
{
    uint64_t v = 0x80000000u | g->bdf << 8 | (reg & 0xfc);
    access_(g, VDEV_SPACE_IO, 0xcf8, 4, true, &v);
    access_(g, VDEV_SPACE_IO, 0xcfc + (reg & 3), size, true, &val);
}

static uint64_t bar2(struct guest *g)
{
    return (cfg_rd(g, 0x18, 4) & ~0xfull) | cfg_rd(g, 0x1c, 4) << 32;
}

static unsigned msix_cap(struct guest *g)
{
    for (unsigned c = (unsigned)cfg_rd(g, 0x34, 1), n = 0; c && n < 16;
         c = (unsigned)cfg_rd(g, c + 1, 1), n++)
        if (cfg_rd(g, c, 1) == 0x11)
            return c;
    fail("no MSI-X capability", 0, 0);
    return 0;
}

static void boot(struct guest *g, bool pci)
{
    memset(g, 0, sizeof(*g));
    g->ops = (struct vdev_embedder_ops){.size = sizeof(struct vdev_embedder_ops),
                                        .set_irq_line = set_line,
                                        .signal_msi = signal_msi,
                                        .log = quiet};
    g->pci = pci;
    struct vdev_err err = {0};
    struct vdev_pci_host_desc h = {.ecam_base = 0xe0000000,
                                   .buses = 1,
                                   .cf8_ports = true,
                                   .mmio32_base = 0xc0000000,
                                   .mmio32_size = 0x10000000,
                                   .mmio64_base = MMIO64,
                                   .mmio64_size = 0x100000000ull,
                                   .io_base = 0xc000,
                                   .io_size = 0x1000,
                                   .intx_pic = "ioapic",
                                   .intx_lines = {16, 17, 18, 19}};
    char conf[512];
    /* A: deny no* then allow everything; B: allow-only with a region made at start. */
    if (pci)
        snprintf(conf, sizeof(conf),
                 "ram 0,64K vdev shmem subst ,%s deny no* allow * window %u umask 077", prefix,
                 WIN_A);
    else
        snprintf(conf, sizeof(conf),
                 "ram 0,64K vdev shmem loc 0x%llx intr ioapic:%d subst ,%s allow [a-z]* "
                 "create c0,12K window %u",
                 MMIO_LOC, MMIO_GSI, prefix, WIN_B);
    g->m = vdev_machine_new(&g->ops, g);
    if (!g->m || vdev_machine_add_pic(g->m, "ioapic", 24, 0, &err) ||
        vdev_machine_reserve(g->m, VDEV_SPACE_MEM, 0xfec00000, 0x1000, "ioapic", &err) ||
        vdev_machine_add_pci(g->m, &h, &err) ||
        vdev_machine_parse_string(g->m, "fuzz.conf", conf, &err) ||
        vdev_machine_build(g->m, &err)) {
        fprintf(stderr, "fuzz_shmem_pages: %s\n", err.msg);
        abort();
    }
    g->ram = calloc(1, 64 << 10);
    vdev_region_set_host(vdev_bus_find(vdev_machine_bus(g->m), VDEV_SPACE_MEM, 0), g->ram);
    if (!pci) {
        g->factory = MMIO_LOC;
        g->gsi = MMIO_GSI;
        g->winsize = WIN_B;
        struct vdev *d = vdev_machine_device(g->m, 0);
        struct shmem *s = vdev_state(d);
        g->win = shmem_window_base(s);
        return;
    }
    bool found = false;
    for (unsigned d = 0; d < 32 && !found; d++) {
        g->bdf = d << 3;
        found = cfg_rd(g, 0, 4) == 0x00011c05;
    }
    if (!found)
        fail("no shmem function", 0, 0);
    g->gsi = (uint32_t)cfg_rd(g, 0x3c, 1);
    g->factory = cfg_rd(g, 0x10, 4) & ~0xfull;
    g->win = bar2(g);
    g->winsize = WIN_A;
    cfg_wr(g, 0x04, 2, cfg_rd(g, 0x04, 2) | 0x2);
}

static void shutdown_guest(struct guest *g)
{
    vdev_machine_free(g->m);
    free(g->ram);
    g->m = NULL;
}

/* Whatever a run left under its prefix (nothing, if the device cleans up) goes at exit. */
static void sweep_leftovers(void)
{
    DIR *d = opendir("/dev/shm");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, glob_prefix, strlen(glob_prefix))) {
            char p[300];
            snprintf(p, sizeof(p), "/%s", e->d_name);
            shm_unlink(p);
        }
    closedir(d);
}

/* ---- the model of names ---- */

static bool plain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 31 || !strcmp(s, ".") || strstr(s, "..") || strchr(s, '/'))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static bool permitted(const struct guest *g, const char *s)
{
    if (g->pci)
        return strncmp(s, "no", 2) != 0;
    return s[0] >= 'a' && s[0] <= 'z';
}

static int name_index(const char *s)
{
    for (unsigned i = 0; i < nnames; i++)
        if (!strcmp(names[i].name, s))
            return (int)i;
    if (nnames == MAX_NAMES)
        return -1;
    snprintf(names[nnames].name, sizeof(names[nnames].name), "%s", s);
    names[nnames].pages = 0;
    names[nnames].holders = 0;
    return (int)nnames++;
}

static void read_name(struct guest *g, uint8_t field[SHMEM_NAME_FIELD])
{
    for (unsigned i = 0; i < SHMEM_NAME_FIELD; i++)
        field[i] = (uint8_t)rd(g, g->factory + SHMEM_F_NAME + i, 1);
}

static void check_factory(struct guest *g)
{
    if (rd(g, g->factory, 8) != SHMEM_SIGNATURE)
        fail("signature", rd(g, g->factory, 8), 0);
    uint32_t st = (uint32_t)rd(g, g->factory + SHMEM_F_STATUS, 4);
    if (st > SHM_DOES_NOT_EXIST)
        fail("status code", st, 0);
    uint64_t sh = rd(g, g->factory + SHMEM_F_SHMEM, 8);
    uint64_t win = g->pci ? bar2(g) : g->win;
    if (sh && (sh % PAGE || sh < win || sh - win >= g->winsize))
        fail("shmem outside the window", sh, win);
    if (rd(g, g->factory + SHMEM_F_FIND, 4) != 0 || rd(g, g->factory + 0x40, 8) != 0)
        fail("find or past the registers reads non-zero", 0, 0);
}

static uint64_t win_base(struct guest *g)
{
    return g->pci ? bar2(g) : g->win;
}

/* create (size) or find, checked against the model. */
static void attach_op(struct guest *g, bool create, uint32_t pages)
{
    uint8_t field[SHMEM_NAME_FIELD];
    read_name(g, field);
    uint64_t before = rd(g, g->factory + SHMEM_F_SHMEM, 8);
    wr(g, g->factory + (create ? SHMEM_F_SIZE : SHMEM_F_FIND), 4, create ? pages : 1);
    uint32_t st = (uint32_t)rd(g, g->factory + SHMEM_F_STATUS, 4);
    static int debug = -1; /* FUZZ_DEBUG=1: what each create/find got (seeds) */
    if (debug < 0)
        debug = getenv("FUZZ_DEBUG") != NULL;
    if (debug)
        fprintf(stderr, "%s %s '%.32s' %u: status %u\n", g->pci ? "A" : "B",
                create ? "create" : "find", (const char *)field, pages, st);
    const uint8_t *nul = memchr(field, 0, sizeof(field));
    if (!nul || !plain((const char *)field)) {
        if (st != SHM_ILLEGAL_NAME)
            fail("a bad name is not ILLEGAL_NAME", st, 0);
        return;
    }
    const char *s = (const char *)field;
    if (!permitted(g, s)) {
        if (st != SHM_NO_PERMISSION)
            fail("a denied name is not NO_PERMISSION", st, 0);
        return;
    }
    int ni = name_index(s);
    bool exists = ni >= 0 && names[ni].holders > 0;
    uint64_t room = g->winsize / PAGE - 1;
    if (!exists && (!create || pages == 0) && st != SHM_DOES_NOT_EXIST)
        fail("a region nobody holds was found", st, (unsigned long)create);
    if (!exists && create && pages > room && st != SHM_NO_MEMORY)
        fail("a region larger than the window was made", st, pages);
    if (exists && (st == SHM_DOES_NOT_EXIST || st == SHM_ILLEGAL_NAME || st == SHM_NO_PERMISSION))
        fail("an existing region was not attached", st, 0);
    if (st != SHM_OK) {
        if (exists && st != SHM_NO_MEMORY && st != SHM_CLIENT_MAX && st != SHM_UNKNOWN)
            fail("unexpected status", st, 0);
        if (!exists && st != SHM_NO_MEMORY && st != SHM_UNKNOWN && st != SHM_DOES_NOT_EXIST)
            fail("unexpected status for a new region", st, 0);
        return;
    }
    if (ni < 0)
        fail("attached an unknown region", 0, 0);
    uint64_t sh = rd(g, g->factory + SHMEM_F_SHMEM, 8);
    uint32_t size = (uint32_t)rd(g, g->factory + SHMEM_F_SIZE, 4);
    /* Its pages + 1 lie in the window, apart from every live attachment of this guest. */
    uint64_t off = sh - win_base(g), len = ((uint64_t)size + 1) * PAGE;
    if (off + len > g->winsize)
        fail("an attachment past the window", off, len);
    for (unsigned i = 0; i < natt; i++)
        if (atts[i].live && atts[i].g == g && off < atts[i].off + (atts[i].pages + 1) * PAGE &&
            atts[i].off < off + len)
            fail("two live attachments overlap", off, atts[i].off);
    (void)before;
    if (exists ? size != names[ni].pages : size != pages)
        fail("region size", size, exists ? names[ni].pages : pages);
    uint32_t idx = (uint32_t)rd(g, sh + SHMEM_C_IDX, 4);
    uint32_t status = (uint32_t)rd(g, sh + SHMEM_C_STATUS, 2); /* 2 bytes: does not clear */
    if (idx >= 16)
        fail("idx", idx, 0);
    (void)status;
    uint32_t att = (uint32_t)(rd(g, sh + SHMEM_C_STATUS + 2, 2));
    if (!(att & (1u << idx)))
        fail("my own idx is not attached", att, idx);
    for (unsigned i = 0; i < natt; i++)
        if (atts[i].live && atts[i].name == (unsigned)ni && atts[i].idx == idx)
            fail("two live connections share an idx", idx, i);
    names[ni].pages = size;
    names[ni].holders++;
    /* Every live attachment is remembered (at most 2 x 32 live): a dead record is reused once
     * the table is full. Dropping one left its holder counted after a reset had detached it,
     * and the model then expected a region the device had rightly removed. */
    struct att rec = {g, sh - win_base(g), (unsigned)ni, idx, size, true};
    if (natt < MAX_ATT) {
        atts[natt++] = rec;
    } else {
        unsigned i = 0;
        while (i < MAX_ATT && atts[i].live)
            i++;
        if (i == MAX_ATT)
            fail("more live attachments than two factories hold", natt, 0);
        atts[i] = rec;
    }
}

static void detached(struct att *a)
{
    if (!a->live)
        return;
    a->live = false;
    names[a->name].holders--;
    uint64_t v = 0, base = win_base(a->g) + a->off;
    if (access_(a->g, VDEV_SPACE_MEM, base, 4, false, &v) != VDEV_ACCESS_UNMAPPED ||
        access_(a->g, VDEV_SPACE_MEM, base + PAGE, 4, false, &v) != VDEV_ACCESS_UNMAPPED)
        fail("a detached attachment still answers", base, 0);
}

static void reset_guest(struct guest *g)
{
    vdev_machine_reset(g->m);
    for (unsigned i = 0; i < natt; i++)
        if (atts[i].g == g && atts[i].live) {
            atts[i].live = false;
            names[atts[i].name].holders--;
        }
    if (atomic_load(&g->line[g->gsi]))
        fail("the line stays up after a reset", g->gsi, 0);
    if (g->pci) { /* the function is reset too: find it and enable decoding again */
        g->factory = cfg_rd(g, 0x10, 4) & ~0xfull;
        cfg_wr(g, 0x04, 2, cfg_rd(g, 0x04, 2) | 0x2);
    }
    if (rd(g, g->factory + SHMEM_F_SHMEM, 8) || rd(g, g->factory + SHMEM_F_NAME, 8))
        fail("factory registers survive a reset", 0, 0);
}

static const char *const dict[] = {"a",
                                   "b",
                                   "c0",
                                   "shared",
                                   "no1",
                                   "Up",
                                   "x\x01y",
                                   "..",
                                   "",
                                   "a/b",
                                   "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
                                   "q.",
                                   "."};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool registered;
    struct vdev_err err;
    if (!registered) {
        if (vdev_register_type(&vdev_module_shmem, &err))
            abort();
        registered = true;
        snprintf(glob_prefix, sizeof(glob_prefix), "%sfz%d_", SHM_OBJ_PREFIX, (int)getpid());
        atexit(sweep_leftovers);
    }
    /* A prefix of this process and run: no other run's objects can be reached. It ends in
     * '_', not '.': a guest name starting with '.' would make ".." (ILLEGAL_NAME). */
    snprintf(prefix, sizeof(prefix), "fz%d_%lu_", (int)getpid(), run++);
    natt = nnames = 0;
    boot(&ga, true);
    boot(&gb, false);
    names[name_index("c0")].pages = 3; /* B's `create c0,12K` */
    names[name_index("c0")].holders = 1;

    struct fz_in in = {data, size};
    while (fz_left(&in)) {
        uint8_t op = fz_u8(&in);
        struct guest *g = op & 0x80 ? &gb : &ga;
        struct att *a = natt ? &atts[fz_u8(&in) % natt] : NULL;
        switch (op & 0x0f) {
        case 0: { /* a name from the dictionary, byte by byte or in words */
            const char *n = dict[fz_u8(&in) % (sizeof(dict) / sizeof(dict[0]))];
            uint8_t field[SHMEM_NAME_FIELD] = {0};
            memcpy(field, n, strlen(n));
            if (op & 0x40)
                for (unsigned i = 0; i < SHMEM_NAME_FIELD; i += 4)
                    wr(g, g->factory + SHMEM_F_NAME + i, 4,
                       field[i] | field[i + 1] << 8 | field[i + 2] << 16 |
                           (uint32_t)field[i + 3] << 24);
            else
                for (unsigned i = 0; i < SHMEM_NAME_FIELD; i++)
                    wr(g, g->factory + SHMEM_F_NAME + i, 1, field[i]);
            break;
        }
        case 1: { /* raw factory write: any offset, size, value */
            unsigned off = fz_u8(&in) % 0x48, sz = 1u << (fz_u8(&in) & 3);
            uint64_t v = fz_u64(&in);
            if (sz == 4 && (off == SHMEM_F_SIZE || off == SHMEM_F_FIND))
                attach_op(g, off == SHMEM_F_SIZE, (uint32_t)v); /* the model follows */
            else
                wr(g, g->factory + off, sz, v);
            break;
        }
        case 2:
            attach_op(g, true, fz_u8(&in) % 80); /* create: small sizes fill the window */
            break;
        case 3:
            attach_op(g, false, 0);
            break;
        case 4: { /* factory read, any offset and size */
            unsigned off = fz_u8(&in) % 0x1000, sz = 1u << (fz_u8(&in) & 3);
            if (off + sz <= 0x1000)
                rd(g, g->factory + off, sz);
            check_factory(g);
            break;
        }
        case 5: /* status read (clears), or a wide one */
            if (a && a->live)
                rd(a->g, win_base(a->g) + a->off, op & 0x40 ? 8 : 4);
            break;
        case 6: /* notify */
            if (a && a->live) {
                uint32_t mask = fz_u8(&in) & 1 ? ~0u : fz_u16(&in);
                wr(a->g, win_base(a->g) + a->off + SHMEM_C_NOTIFY, 4, mask);
            }
            break;
        case 7: /* detach through the register, or a raw control write that covers it */
            if (a && a->live) {
                unsigned off = op & 0x40 ? fz_u8(&in) % 16 : SHMEM_C_DETACH,
                         sz = op & 0x40 ? 1u << (fz_u8(&in) & 3) : 4;
                if (off + sz > PAGE)
                    break;
                wr(a->g, win_base(a->g) + a->off + off, sz, fz_u64(&in));
                if (off < SHMEM_C_DETACH + 4 && off + sz > SHMEM_C_DETACH)
                    detached(a);
            }
            break;
        case 8: /* raw control read */
            if (a && a->live) {
                unsigned off = fz_u16(&in) % PAGE, sz = 1u << (fz_u8(&in) & 3);
                if (off + sz <= PAGE)
                    rd(a->g, win_base(a->g) + a->off + off, sz);
            }
            break;
        case 9: /* data: a word through one attachment, read through every other */
            if (a && a->live && a->pages) {
                uint64_t off = PAGE + (fz_u16(&in) % a->pages) * PAGE + (fz_u16(&in) % PAGE & ~3u);
                uint32_t v = fz_u32(&in);
                wr(a->g, win_base(a->g) + a->off + off, 4, v);
                for (unsigned i = 0; i < natt; i++)
                    if (atts[i].live && atts[i].name == a->name &&
                        rd(atts[i].g, win_base(atts[i].g) + atts[i].off + off, 4) != v)
                        fail("the region's pages differ between attachments", i, off);
            }
            break;
        case 10: /* MSI-X on/off (PCI) */
            if (g->pci) {
                uint64_t b4 = cfg_rd(g, 0x20, 4) & ~0xfull;
                wr(g, b4, 4, 0xfee00000u);
                wr(g, b4 + 8, 4, 0x41);
                wr(g, b4 + 12, 4, fz_u8(&in) & 1); /* masked or not */
                cfg_wr(g, msix_cap(g) + 2, 2, op & 0x40 ? 0x8000 : 0);
            }
            break;
        case 11: /* move BAR 2 (PCI): the attachments follow it */
            if (g->pci) {
                uint64_t to = MMIO64 + (uint64_t)(fz_u8(&in) % 64) * WIN_A;
                cfg_wr(g, 0x18, 4, (uint32_t)to | 0xc);
                cfg_wr(g, 0x1c, 4, to >> 32);
                if (bar2(g) != to)
                    fail("BAR 2 did not move", bar2(g), to);
            }
            break;
        case 12: /* memory decoding off and on again */
            if (g->pci) {
                uint64_t cmd = cfg_rd(g, 0x04, 2);
                cfg_wr(g, 0x04, 2, cmd & ~2u);
                uint64_t v;
                if (access_(g, VDEV_SPACE_MEM, g->factory, 4, false, &v) != VDEV_ACCESS_UNMAPPED)
                    fail("the factory answers with decoding off", 0, 0);
                cfg_wr(g, 0x04, 2, cmd | 2);
            }
            break;
        case 13:
            if (fz_u8(&in) < 16)
                reset_guest(g);
            break;
        default:
            check_factory(g);
            break;
        }
    }
    check_factory(&ga);
    check_factory(&gb);
    shutdown_guest(&ga);
    shutdown_guest(&gb);
    return 0;
}
