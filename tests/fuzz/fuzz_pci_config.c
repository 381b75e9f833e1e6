/* The PCI host bridge as a hostile guest drives it, with three functions of different
 * shapes: configuration cycles through ports 0xCF8-0xCFF and ECAM of any size, slot and
 * register; BAR sizing and moves (onto RAM, the ECAM, the IOAPIC, one another, past the
 * end of the space); command register toggles; MSI-X table, PBA and message control;
 * accesses to the BARs where the guest put them (slots 1 and 5 share an INTx line); the devices
 * raising MSI-X vectors and INTx, shared-memory children of a window BAR appearing and going, and
 * machine resets.
 *
 *   slot 1: 64-bit prefetchable BAR0 (16 KiB, MSI-X: 4 vectors, table 0x2000, PBA 0x3000),
 *           32-bit BAR2 (4 KiB), I/O BAR4 (32 ports)
 *   slot 5: 32-bit device-memory BAR0 (4 KiB of host memory), I/O BAR1 (4 ports), 64-bit
 *           window BAR2 (16 KiB: a trapped child at 0x1000, a device-memory child at 0x2000)
 *   slot 2: 32-bit BAR1 (4 KiB, MSI-X: 8 vectors, table 0, PBA 0x800)
 *
 * Invariants: absent functions read all ones; IDs and header type never change; BAR sizing
 * reads back the size mask with the type bits; a BAR that answers is where its register
 * says, with its decode bit on, and what bar_changed last said; no two enabled regions of a
 * space overlap, and RAM always answers at its place; BAR handlers only see accesses
 * inside the BAR; each INTx line is the OR of its functions' INTA# unless INTx is disabled;
 * a notify of a live vector delivers its message (after the event loop ran), of a masked
 * one sets its pending bit, and a vector that can fire has no pending bit.
 */
/* FUZZ_ARGS: -max_len=4096 */
#include "fz_transport.h"

#define MAX_OPS  384
#define NFUNC    3
#define RAM_HIGH 0x180000000ull /* a second RAM region inside the 64-bit BAR window */

struct shape {
    unsigned nvec, msix_bar;
    uint64_t table, pba;
};

static const struct shape shapes[NFUNC] = {
    {4, 0, 0x2000, 0x3000},
    {0, 0, 0, 0},
    {8, 1, 0, 0x800},
};

struct fp {
    struct vdev_pci_func *f;
    unsigned index; /* 0..NFUNC-1: which shape */
    uint64_t bar_size[6];
    bool intx;
    /* What bar_changed said last. */
    uint64_t said_base[6];
    bool said_on[6];
    unsigned changes;
    void *devmem, *childmem;
    struct vdev_region *child[2];
};

struct bar_ctx {
    struct fp *p;
    unsigned bar;
    uint64_t size;
};

static struct fzt t;
static struct fp *funcs[NFUNC];
static unsigned nfuncs;
static struct bar_ctx ctxs[NFUNC][7]; /* [6]: the window's trapped child */

static uint64_t b_read(void *opaque, uint64_t off, unsigned size)
{
    struct bar_ctx *c = opaque;
    FZ_ASSERT(size && off < c->size && size <= c->size - off);
    return 0xab000000u | off;
}

static void b_write(void *opaque, uint64_t off, unsigned size, uint64_t v)
{
    struct bar_ctx *c = opaque;
    (void)v;
    FZ_ASSERT(size && off < c->size && size <= c->size - off);
}

static const struct vdev_region_ops b_ops = {
    .size = sizeof(struct vdev_region_ops), .read = b_read, .write = b_write};

static void fp_bar_changed(void *opaque, unsigned bar, uint64_t base, bool enabled)
{
    struct fp *p = opaque;
    FZ_ASSERT(bar < 6 && p->bar_size[bar]);
    p->said_base[bar] = base;
    p->said_on[bar] = enabled;
    p->changes++;
}

static const struct vdev_pci_func_ops fp_ops = {.size = sizeof(struct vdev_pci_func_ops),
                                                .bar_changed = fp_bar_changed};

static int bar(struct fp *p, unsigned i, uint64_t size, unsigned flags, enum vdev_region_kind kind,
               void *host, struct vdev_err *e)
{
    struct bar_ctx *c = &ctxs[p->index][i];
    *c = (struct bar_ctx){p, i, size};
    struct vdev_pci_bar b = {.size = size, .flags = flags, .kind = kind, .host = host};
    if (kind == VDEV_REGION_DEVICE) {
        b.ops = &b_ops;
        b.opaque = c;
    }
    p->bar_size[i] = size;
    return vdev_pci_set_bar(p->f, i, &b, e);
}

static int fp_assign(struct vdev *d)
{
    struct fp *p = vdev_state(d);
    struct vdev_err e;
    FZ_ASSERT(nfuncs < NFUNC);
    p->index = nfuncs;
    const struct vdev_pci_ident id = {.vendor = 0x1234,
                                      .device = (uint16_t)(0x7e50 + p->index),
                                      .class_code = 0xff0000,
                                      .revision = 1};
    if (!(p->f = vdev_pci_func_new(d, &id, &fp_ops, p, &e)))
        return vdev_error(d, vdev_pos(d), NULL, "%s", e.msg);
    int rc = 0;
    switch (p->index) {
    case 0:
        rc = bar(p, 0, 0x4000, VDEV_PCI_BAR_MEM64 | VDEV_PCI_BAR_PREFETCH, VDEV_REGION_DEVICE, NULL,
                 &e) ||
             bar(p, 2, 0x1000, 0, VDEV_REGION_DEVICE, NULL, &e) ||
             bar(p, 4, 0x20, VDEV_PCI_BAR_IO, VDEV_REGION_DEVICE, NULL, &e);
        break;
    case 1:
        p->devmem = calloc(1, 0x1000);
        p->childmem = calloc(1, 0x1000);
        rc = bar(p, 0, 0x1000, 0, VDEV_REGION_DEVMEM, p->devmem, &e) ||
             bar(p, 1, 4, VDEV_PCI_BAR_IO, VDEV_REGION_DEVICE, NULL, &e) ||
             bar(p, 2, 0x4000, VDEV_PCI_BAR_MEM64, VDEV_REGION_WINDOW, NULL, &e);
        break;
    default:
        rc = bar(p, 1, 0x1000, 0, VDEV_REGION_DEVICE, NULL, &e);
        break;
    }
    const struct shape *s = &shapes[p->index];
    if (!rc && s->nvec)
        rc = vdev_pci_msix_init(p->f, s->nvec, s->msix_bar, s->table, s->pba, &e);
    if (rc)
        return vdev_error(d, vdev_pos(d), NULL, "%s", e.msg);
    funcs[nfuncs++] = p;
    return 0;
}

static void fp_terminate(struct vdev *d)
{
    struct fp *p = vdev_state(d);
    free(p->devmem);
    free(p->childmem);
}

static const struct vdev_type fp_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "fzpci",
    .state_size = sizeof(struct fp),
    .places = VDEV_PLACE_PCI,
    .assign = fp_assign,
    .terminate = fp_terminate,
};

/* The window BAR's children, as shmem maps and unmaps regions at run time. */
static void child_toggle(struct fp *p, unsigned which)
{
    struct vdev_region *w = vdev_pci_bar_region(p->f, 2);
    if (p->child[which]) {
        vdev_region_remove(p->child[which]);
        p->child[which] = NULL;
        return;
    }
    struct bar_ctx *c = &ctxs[p->index][6];
    *c = (struct bar_ctx){p, 6, 0x1000};
    struct vdev_region_desc rd = {.owner = "fuzz child",
                                  .space = VDEV_SPACE_MEM,
                                  .kind = which ? VDEV_REGION_DEVMEM : VDEV_REGION_DEVICE,
                                  .base = which ? 0x2000 : 0x1000,
                                  .size = 0x1000,
                                  .ops = which ? NULL : &b_ops,
                                  .opaque = which ? NULL : c,
                                  .host = which ? p->childmem : NULL};
    struct vdev_err e;
    FZ_ASSERT(vdev_region_add_child(w, &rd, &p->child[which], &e) == 0);
}

/* Slots 1 and 5 share INTB (slot S pin A raises line (S + 0) % 4). */
static const unsigned slots[NFUNC] = {1, 5, 2};

static unsigned slot_of(unsigned i)
{
    return slots[i];
}

static bool present(unsigned slot)
{
    return slot == 0 || slot == 1 || slot == 5 || slot == 2;
}

static uint64_t mask_of(unsigned size)
{
    return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
}

static unsigned pick_size(struct fz_in *in)
{
    static const unsigned sizes[8] = {4, 4, 2, 1, 4, 8, 3, 2};
    return sizes[fz_u8(in) % 8];
}

static uint64_t ecam_rd(unsigned slot, unsigned reg, unsigned size)
{
    return fzt_io(&t, VDEV_SPACE_MEM, FZT_ECAM + (slot << 15) + reg, size, false, 0, NULL);
}

static void ecam_wr(unsigned slot, unsigned reg, unsigned size, uint64_t v)
{
    fzt_io(&t, VDEV_SPACE_MEM, FZT_ECAM + (slot << 15) + reg, size, true, v, NULL);
}

/* BAR i of function k as its registers say (I/O, 32- or 64-bit memory). */
static uint64_t programmed(unsigned k, unsigned i, bool *io)
{
    uint32_t lo = (uint32_t)ecam_rd(slot_of(k), 0x10 + 4 * i, 4);
    *io = lo & 1;
    if (*io)
        return lo & ~3u;
    uint64_t a = lo & ~0xfu;
    if ((lo & 6) == 4)
        a |= ecam_rd(slot_of(k), 0x14 + 4 * i, 4) << 32;
    return a;
}

static uint8_t msix_cap(unsigned k)
{
    uint8_t p = (uint8_t)ecam_rd(slot_of(k), 0x34, 1);
    for (unsigned n = 0; p && n < 48; n++) {
        if (ecam_rd(slot_of(k), p, 1) == 0x11)
            return p;
        p = (uint8_t)ecam_rd(slot_of(k), p + 1u, 1);
    }
    return 0;
}

/* An address for a BAR: where it was assigned, RAM, another BAR, platform areas, sizing
 * patterns, anything. */
static uint64_t pick_addr(struct fz_in *in, bool io)
{
    uint8_t how = fz_u8(in);
    if (io) {
        switch (how % 4) {
        case 0:
            return FZT_IOWIN + (fz_u8(in) & 0xfc);
        case 1:
            return 0xcf8; /* the configuration ports */
        case 2:
            return 0xfffc; /* the last ports */
        default:
            return fz_u32(in);
        }
    }
    switch (how % 9) {
    case 0:
        return FZT_MMIO32 + ((uint64_t)fz_u8(in) << 12);
    case 1:
        return FZT_MMIO64 + ((uint64_t)fz_u8(in) << 12);
    case 2:
        return (uint64_t)(fz_u8(in) & 0xf) << 16; /* RAM */
    case 3:
        return RAM_HIGH + ((uint64_t)(fz_u8(in) & 0xf) << 12); /* RAM inside the window */
    case 4:
        return FZT_ECAM + ((uint64_t)fz_u8(in) << 12);
    case 5:
        return 0xfec00000ull;
    case 6: {
        bool io2;
        unsigned k = fz_u8(in) % nfuncs;
        return programmed(k, fz_u8(in) % 6, &io2); /* on top of another BAR */
    }
    case 7:
        return UINT64_MAX - (fz_u8(in) & 0xff); /* sizing, the top of the space */
    default:
        return fz_u64(in);
    }
}

static void write_bar(unsigned k, unsigned i, uint64_t a)
{
    ecam_wr(slot_of(k), 0x10 + 4 * i, 4, (uint32_t)a);
    if (i < 5)
        ecam_wr(slot_of(k), 0x14 + 4 * i, 4, (uint32_t)(a >> 32));
}

/* An access to BAR i of function k at the address the guest programmed. */
static void bar_access(unsigned k, unsigned i, uint64_t off, unsigned size, bool wr, uint64_t v)
{
    bool io;
    uint64_t a = programmed(k, i, &io) + off;
    enum vdev_access_result r;
    fzt_io(&t, io ? VDEV_SPACE_IO : VDEV_SPACE_MEM, a, size, wr, v, &r);
}

/* Function k's pending bit of vector v, read through its PBA (when its BAR answers). */
static int pending(unsigned k, unsigned v)
{
    const struct shape *s = &shapes[k];
    struct fp *p = funcs[k];
    unsigned b = s->msix_bar;
    bool io;
    if (!vdev_pci_bar_enabled(p->f, b) || vdev_pci_bar_base(p->f, b) != programmed(k, b, &io))
        return -1;
    uint64_t word = fzt_io(&t, VDEV_SPACE_MEM, vdev_pci_bar_base(p->f, b) + s->pba + v / 64 * 8, 8,
                           false, 0, NULL);
    return (int)(word >> (v % 64) & 1);
}

static uint32_t table_dword(unsigned k, unsigned v, unsigned which)
{
    const struct shape *s = &shapes[k];
    struct fp *p = funcs[k];
    return (uint32_t)fzt_io(&t, VDEV_SPACE_MEM,
                            vdev_pci_bar_base(p->f, s->msix_bar) + s->table + 16 * v + 4 * which, 4,
                            false, 0, NULL);
}

struct overlap_ctx {
    struct vdev_region_info r[64];
    unsigned n;
};

static void collect(const struct vdev_region_info *r, void *arg)
{
    struct overlap_ctx *c = arg;
    if (r->enabled && c->n < 64)
        c->r[c->n++] = *r;
}

static void check(void)
{
    struct vdev_bus *bus = vdev_machine_bus(t.fm.m);
    /* Enabled regions never overlap (foreach lists them in address order). */
    for (int sp = 0; sp < 2; sp++) {
        struct overlap_ctx c = {.n = 0};
        vdev_bus_foreach(bus, sp ? VDEV_SPACE_IO : VDEV_SPACE_MEM, collect, &c);
        for (unsigned i = 1; i < c.n; i++)
            FZ_ASSERT(c.r[i].base > c.r[i - 1].base &&
                      c.r[i].base - c.r[i - 1].base >= c.r[i - 1].size);
    }
    for (unsigned i = 0; i < t.fm.nram; i++) {
        struct vdev_region_info info;
        struct vdev_region *r = vdev_bus_find(bus, VDEV_SPACE_MEM, t.fm.ram[i].base);
        FZ_ASSERT(r);
        vdev_region_get_info(r, &info);
        FZ_ASSERT(info.kind == VDEV_REGION_RAM && info.base == t.fm.ram[i].base);
    }
    bool line[4] = {false};
    for (unsigned k = 0; k < nfuncs; k++) {
        struct fp *p = funcs[k];
        unsigned slot = slot_of(k);
        FZ_ASSERT(ecam_rd(slot, 0, 4) == ((0x7e50u + k) << 16 | 0x1234));
        FZ_ASSERT(ecam_rd(slot, 0x0e, 1) == 0);
        uint16_t cmd = (uint16_t)ecam_rd(slot, 4, 2), st = (uint16_t)ecam_rd(slot, 6, 2);
        FZ_ASSERT(!!(st & 8) == p->intx);
        if (p->intx && !(cmd & 0x400))
            line[slot % 4] = true;
        for (unsigned i = 0; i < 6; i++) {
            if (!p->bar_size[i])
                continue;
            bool io;
            uint64_t a = programmed(k, i, &io);
            bool on = vdev_pci_bar_enabled(p->f, i);
            uint64_t base = vdev_pci_bar_base(p->f, i);
            FZ_ASSERT(p->said_on[i] == on && p->said_base[i] == base);
            if (!on)
                continue;
            FZ_ASSERT(base == a && (cmd & (io ? 1 : 2)));
            struct vdev_region *r = vdev_bus_find(bus, io ? VDEV_SPACE_IO : VDEV_SPACE_MEM, a);
            if (vdev_pci_bar_region(p->f, i) && r != vdev_pci_bar_region(p->f, i)) {
                /* Only a window BAR answers through its children. */
                struct vdev_region_info info;
                vdev_region_get_info(vdev_pci_bar_region(p->f, i), &info);
                FZ_ASSERT(info.kind == VDEV_REGION_WINDOW);
            }
        }
    }
    for (unsigned l = 0; l < 4; l++)
        FZ_ASSERT(t.level[FZT_INTX_GSI0 + l] == line[l]);
    /* A vector that can fire has nothing pending. */
    for (unsigned k = 0; k < nfuncs; k++) {
        const struct shape *s = &shapes[k];
        uint8_t cap = s->nvec ? msix_cap(k) : 0;
        if (!cap)
            continue;
        uint16_t ctrl = (uint16_t)ecam_rd(slot_of(k), cap + 2u, 2);
        FZ_ASSERT((ctrl & 0x7ff) == s->nvec - 1);
        FZ_ASSERT(vdev_pci_msix_enabled(funcs[k]->f) == !!(ctrl & 0x8000));
        if (!(ctrl & 0x8000) || (ctrl & 0x4000))
            continue;
        for (unsigned v = 0; v < s->nvec; v++)
            if (pending(k, v) == 1)
                FZ_ASSERT(table_dword(k, v, 3) & 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool registered;
    struct vdev_err err;
    if (!registered && vdev_register_type(&fp_type, &err)) {
        fprintf(stderr, "fzpci: %s\n", err.msg);
        abort();
    }
    registered = true;
    nfuncs = 0;
    fzt_exitless = size & 1; /* odd inputs: doorbells and irqfds bound as with KVM */
    fzt_build(&t,
              "ram 0,1M ram 0x180000000,64K vdev fzpci loc pci:0:1 vdev fzpci loc pci:0:5 "
              "vdev fzpci loc pci:0:2",
              true);
    FZ_ASSERT(nfuncs == NFUNC);
    for (unsigned k = 0; k < NFUNC; k++)
        for (unsigned i = 0; i < 6; i++) {
            funcs[k]->said_base[i] = vdev_pci_bar_base(funcs[k]->f, i);
            funcs[k]->said_on[i] = false;
        }
    struct fz_in in = {data, size};
    for (unsigned op = 0; op < MAX_OPS && fz_left(&in); op++) {
        uint8_t code = fz_u8(&in);
        unsigned k = fz_u8(&in) % NFUNC;
        struct fp *p = funcs[k];
        switch (code % 18) {
        case 0:
        case 1: { /* mechanism #1 */
            uint32_t addr = fz_u32(&in);
            if (addr & 1) /* mostly a well-formed address of slot 0-7 */
                addr = 0x80000000u | (addr >> 8) % 8 << 11 | (addr >> 16 & 0xfc);
            unsigned port = 0xcf8 + fz_u8(&in) % 8, sz = pick_size(&in);
            if (fz_u8(&in) & 1)
                fzt_io(&t, VDEV_SPACE_IO, 0xcf8, 4, true, addr, NULL);
            fzt_io(&t, VDEV_SPACE_IO, port, sz, code % 18 == 1, fz_u32(&in), NULL);
            break;
        }
        case 2:
        case 3: { /* ECAM: any slot and function, any register */
            uint32_t off = fz_u8(&in) & 1 ? (uint32_t)(slot_of(k) << 15 | (fz_u16(&in) & 0x1ff))
                                          : fz_u32(&in) & 0xfffff;
            unsigned sz = pick_size(&in);
            uint64_t v =
                fzt_io(&t, VDEV_SPACE_MEM, FZT_ECAM + off, sz, code % 18 == 3, fz_u32(&in), NULL);
            unsigned slot = off >> 15, fn = off >> 12 & 7;
            if (code % 18 == 2 && (!present(slot) || fn) && sz <= 4 && sz != 3 && !(off & (sz - 1)))
                FZ_ASSERT(v == mask_of(sz)); /* absent: master abort */
            break;
        }
        case 4: /* the command register */
        {
            uint16_t v = fz_u16(&in); /* mostly I/O, memory, master and INTx disable */
            ecam_wr(slot_of(k), 4, 2, v & 1 ? (v >> 1 & 7) | (v & 0x400) : v);
        } break;
        case 5: { /* move a BAR */
            unsigned i = fz_u8(&in) % 6;
            bool io;
            programmed(k, i, &io);
            write_bar(k, i, pick_addr(&in, io));
            break;
        }
        case 6: { /* size a BAR as firmware does */
            unsigned i = fz_u8(&in) % 6;
            if (!p->bar_size[i])
                break;
            uint32_t lo = (uint32_t)ecam_rd(slot_of(k), 0x10 + 4 * i, 4);
            ecam_wr(slot_of(k), 0x10 + 4 * i, 4, 0xffffffffu);
            uint32_t got = (uint32_t)ecam_rd(slot_of(k), 0x10 + 4 * i, 4);
            uint32_t type = lo & (lo & 1 ? 3u : 0xfu);
            FZ_ASSERT(got == (((uint32_t) ~(p->bar_size[i] - 1) & (lo & 1 ? ~3u : ~0xfu)) | type));
            ecam_wr(slot_of(k), 0x10 + 4 * i, 4, lo);
            break;
        }
        case 7: { /* a BAR access */
            unsigned i = fz_u8(&in) % 6;
            uint64_t sz = p->bar_size[i] ? p->bar_size[i] : 0x10;
            bar_access(k, i, fz_u16(&in) % (sz + 8), pick_size(&in), fz_u8(&in) & 1, fz_u64(&in));
            break;
        }
        case 8: { /* MSI-X: an entry, or the PBA */
            const struct shape *s = &shapes[k];
            if (!s->nvec)
                break;
            unsigned which = fz_u8(&in);
            uint64_t off =
                which & 1 ? s->pba + fz_u8(&in) % 16 : s->table + fz_u8(&in) % (16 * s->nvec + 8);
            uint64_t v = which & 2 ? fz_u64(&in) : which & 4 ? 0xfee00000u : fz_u8(&in) & 1;
            bar_access(k, s->msix_bar, off, pick_size(&in), !(which & 8), v);
            break;
        }
        case 9: { /* MSI-X message control: enable and function mask */
            uint8_t cap = msix_cap(k);
            if (cap)
                ecam_wr(slot_of(k), cap + 2u, 2, (uint32_t)(fz_u8(&in) & 0xc0) << 8);
            break;
        }
        case 10: { /* the device raises a vector */
            const struct shape *s = &shapes[k];
            unsigned v = fz_u8(&in) % (s->nvec + 2);
            /* Deliver what earlier operations fired first (the fall-back irqfds wait for the
             * event loop), so what arrives below is this vector's. */
            vdev_machine_poll(t.fm.m, 0);
            fzt_kernel(&t);
            unsigned long before = t.fm.msis;
            int rc = vdev_pci_msix_notify(p->f, v);
            FZ_ASSERT((rc == 0) == (s->nvec && v < s->nvec && vdev_pci_msix_enabled(p->f)));
            vdev_machine_poll(t.fm.m, 0); /* the irqfd fall-back sends the message */
            fzt_kernel(&t);               /* or the kernel, for a bound irqfd */
            if (rc || !s->nvec)
                break;
            uint8_t cap = msix_cap(k);
            uint16_t ctrl = (uint16_t)ecam_rd(slot_of(k), cap + 2u, 2);
            int pend = pending(k, v);
            if (pend < 0)
                break;
            bool masked = (ctrl & 0x4000) || (table_dword(k, v, 3) & 1);
            if (masked) {
                FZ_ASSERT(pend == 1 && t.fm.msis == before);
            } else {
                FZ_ASSERT(pend == 0 && t.fm.msis > before);
                FZ_ASSERT(t.last_msi.addr ==
                          ((uint64_t)table_dword(k, v, 1) << 32 | (table_dword(k, v, 0) & ~3u)));
                FZ_ASSERT(t.last_msi.data == table_dword(k, v, 2));
            }
            break;
        }
        case 11: /* the device drives INTA# */
            p->intx = fz_u8(&in) & 1;
            vdev_pci_set_intx(p->f, p->intx);
            break;
        case 12:
            if (k == 1)
                child_toggle(p, fz_u8(&in) & 1);
            break;
        case 13:
            vdev_machine_poll(t.fm.m, 0);
            break;
        case 14: { /* the writable header bytes, any value */
            static const uint8_t regs[] = {0x0c, 0x0d, 0x3c, 0x3d, 0x34, 0x06, 0x08, 0x30};
            ecam_wr(slot_of(k), regs[fz_u8(&in) % 8], 1, fz_u8(&in));
            break;
        }
        case 15: { /* a whole BAR programming pass: decode off, addresses, decode on */
            ecam_wr(slot_of(k), 4, 2, 0);
            for (unsigned i = 0; i < 6; i++) {
                bool io;
                if (p->bar_size[i] && fz_u8(&in) & 1) {
                    programmed(k, i, &io);
                    write_bar(k, i, pick_addr(&in, io));
                }
            }
            ecam_wr(slot_of(k), 4, 2, 7);
            break;
        }
        case 16: { /* every vector aimed and unmasked, MSI-X on */
            const struct shape *s = &shapes[k];
            uint8_t cap = msix_cap(k);
            if (!cap)
                break;
            ecam_wr(slot_of(k), 4, 2, 6);
            for (unsigned v = 0; v < s->nvec; v++) {
                bar_access(k, s->msix_bar, s->table + 16 * v, 4, true, 0xfee00000u + 0x1000 * v);
                bar_access(k, s->msix_bar, s->table + 16 * v + 8, 4, true, 0x30 + v);
                bar_access(k, s->msix_bar, s->table + 16 * v + 12, 4, true, 0);
            }
            ecam_wr(slot_of(k), cap + 2u, 2, 0x8000);
            break;
        }
        default:
            vdev_machine_reset(t.fm.m);
            for (unsigned j = 0; j < NFUNC; j++) {
                funcs[j]->intx = false;
                for (unsigned i = 0; i < 6; i++)
                    FZ_ASSERT(!vdev_pci_bar_enabled(funcs[j]->f, i));
            }
            break;
        }
        fzt_kernel(&t);
        check();
    }
    fzv_report(&t, NULL);
    fzt_free(&t);
    return 0;
}
