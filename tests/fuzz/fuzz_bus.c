/* The memory and I/O maps against a model: regions of every kind added, moved, enabled,
 * disabled and removed (window children too) in any order, interleaved with accesses of
 * any size at any address (unaligned, crossing a region's end, at the top of a space),
 * lookups, free-space searches and listings. The model is a list of regions kept by the
 * rules of vdev/bus.h (guest RAM and ROM never move, turn off or go; a window's children go
 * with it); every call's outcome is compared with it.
 *
 * Invariants: add, move and enable succeed exactly when the model says the range is free
 * (and inside the space); a lookup finds the region the model finds; an access gets the
 * model's result: all ones and UNMAPPED where nothing (or a reserved area) answers,
 * BAD_SIZE for sizes other than 1/2/4/8 or an access crossing a region's end, the host
 * bytes of RAM/ROM/device memory, READ_ONLY for a ROM write, the handler called once with
 * the offset, size and (masked) value; a free-space search returns an aligned, free range
 * inside its limits; a listing is in address order with the model's enabled flags.
 */
/* FUZZ_ARGS: -max_len=4096 */
#include "fz_transport.h"

#define MAX_REGIONS 24
#define MAX_OPS     512

struct mreg {
    struct vdev_region *r;
    enum vdev_space space;
    enum vdev_region_kind kind;
    uint64_t base, size;
    int parent; /* index, or -1 */
    uint64_t offset;
    bool enabled, removed;
    uint8_t *host;
    unsigned sizes; /* DEVICE: accepted sizes */
    struct vdev_region_ops ops;
    /* The last handler call. */
    unsigned calls;
    uint64_t off, value;
    unsigned call_size;
    bool wrote;
};

static struct vdev_bus *bus;
static struct mreg regs[MAX_REGIONS];
static unsigned nregs;
static const uint64_t limit[2] = {UINT64_MAX, 0xffff};

static uint64_t ones(unsigned size)
{
    return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
}

static uint64_t h_read(void *opaque, uint64_t off, unsigned size)
{
    struct mreg *m = opaque;
    m->calls++;
    m->off = off;
    m->call_size = size;
    m->wrote = false;
    return 0x0123456789abcdefull ^ off; /* masked to the size by the bus */
}

static void h_write(void *opaque, uint64_t off, unsigned size, uint64_t v)
{
    struct mreg *m = opaque;
    m->calls++;
    m->off = off;
    m->call_size = size;
    m->value = v;
    m->wrote = true;
}

/* Guest RAM and ROM never move, turn off or go (devices keep pointers into them). */
static bool pinned(const struct mreg *m)
{
    return m->kind == VDEV_REGION_RAM || m->kind == VDEV_REGION_ROM;
}

static bool live(const struct mreg *m)
{
    return m->r && !m->removed && m->enabled &&
           (m->parent < 0 || (regs[m->parent].enabled && !regs[m->parent].removed));
}

static bool intersects(uint64_t a, uint64_t asz, uint64_t b, uint64_t bsz)
{
    return a <= b + (bsz - 1) && b <= a + (asz - 1);
}

/* Whether [base, base+size) in `space` among the siblings under `parent` is free of
 * enabled regions other than `self`. */
static bool model_free(enum vdev_space space, int parent, uint64_t base, uint64_t size, int self)
{
    for (unsigned i = 0; i < nregs; i++) {
        const struct mreg *o = &regs[i];
        if ((int)i == self || !o->r || o->removed || !o->enabled || o->space != space ||
            o->parent != parent)
            continue;
        if (intersects(base, size, o->base, o->size))
            return false;
    }
    return true;
}

static bool in_space(enum vdev_space space, uint64_t base, uint64_t size)
{
    return size && base <= limit[space] && size - 1 <= limit[space] - base;
}

/* The region that answers addr, as the model sees it. */
static int model_find(enum vdev_space space, uint64_t addr)
{
    for (unsigned i = 0; i < nregs; i++) {
        const struct mreg *m = &regs[i];
        if (m->parent >= 0 || !live(m) || m->space != space || addr - m->base >= m->size)
            continue;
        if (m->kind != VDEV_REGION_WINDOW)
            return (int)i;
        for (unsigned j = 0; j < nregs; j++) {
            const struct mreg *c = &regs[j];
            if (c->parent == (int)i && live(c) && addr - c->base < c->size)
                return (int)j;
        }
        return -1;
    }
    return -1;
}

static int index_of(const struct vdev_region *r)
{
    for (unsigned i = 0; i < nregs; i++)
        if (regs[i].r == r && r && !regs[i].removed) /* a removed one's memory is reused */
            return (int)i;
    return -1;
}

static uint64_t pick_size(struct fz_in *in)
{
    uint8_t b = fz_u8(in);
    if (b & 0x80)
        return (uint64_t)fz_u16(in) + (b & 1); /* odd sizes too */
    return 1ull << (b % 17);
}

static uint64_t pick_base(struct fz_in *in, enum vdev_space space)
{
    uint8_t b = fz_u8(in);
    switch (b % 5) {
    case 0: /* next to a region */
        if (nregs) {
            const struct mreg *m = &regs[fz_u8(in) % nregs];
            return m->base + m->size - 8 + (fz_u8(in) % 24);
        }
        /* fall through */
    case 1:
        return (uint64_t)fz_u16(in) << 4;
    case 2:
        return limit[space] - fz_u16(in); /* the top of the space */
    case 3:
        return (uint64_t)fz_u8(in) << 12;
    default:
        return fz_u64(in) & (space == VDEV_SPACE_IO ? 0x1ffff : UINT64_MAX);
    }
}

static void op_add(struct fz_in *in, bool child)
{
    if (nregs == MAX_REGIONS)
        return;
    struct mreg *m = &regs[nregs];
    memset(m, 0, sizeof(*m));
    int parent = -1;
    if (child) {
        if (!nregs)
            return;
        parent = fz_u8(in) % nregs;
        if (regs[parent].removed)
            return; /* its pointer is gone with it */
    }
    enum vdev_space space = fz_u8(in) & 1 ? VDEV_SPACE_IO : VDEV_SPACE_MEM;
    static const enum vdev_region_kind kinds[] = {VDEV_REGION_RAM,      VDEV_REGION_ROM,
                                                  VDEV_REGION_RESERVED, VDEV_REGION_DEVICE,
                                                  VDEV_REGION_DEVMEM,   VDEV_REGION_WINDOW};
    enum vdev_region_kind kind = kinds[fz_u8(in) % 6];
    uint64_t size = pick_size(in);
    uint64_t base = child ? fz_u16(in) : pick_base(in, space);
    bool backed = kind == VDEV_REGION_RAM || kind == VDEV_REGION_ROM || kind == VDEV_REGION_DEVMEM;
    if (backed && size <= 0x10000 && fz_u8(in) % 4)
        m->host = calloc(1, size ? size : 1);
    m->sizes = fz_u8(in) & 0xf;
    m->ops = (struct vdev_region_ops){.size = sizeof(struct vdev_region_ops),
                                      .read = h_read,
                                      .write = h_write,
                                      .sizes = m->sizes};
    struct vdev_region_desc d = {.owner = "fuzz",
                                 .space = space,
                                 .kind = kind,
                                 .base = base,
                                 .size = size,
                                 .ops = &m->ops,
                                 .opaque = m,
                                 .host = m->host};
    struct vdev_err e;
    struct vdev_region *r = NULL;
    int rc;
    bool expect;
    if (child) {
        const struct mreg *w = &regs[parent];
        expect = w->kind == VDEV_REGION_WINDOW && !w->removed &&
                 (kind == VDEV_REGION_DEVICE || kind == VDEV_REGION_DEVMEM) && space == w->space &&
                 size && base <= w->size && size <= w->size - base &&
                 model_free(space, parent, w->base + base, size, -1);
        rc = vdev_region_add_child(w->r, &d, &r, &e);
    } else {
        expect = in_space(space, base, size) && model_free(space, -1, base, size, -1);
        rc = vdev_bus_add(bus, &d, &r, &e);
    }
    FZ_ASSERT((rc == 0) == expect);
    if (rc) {
        free(m->host);
        return;
    }
    m->r = r;
    m->space = space;
    m->kind = kind;
    m->parent = parent;
    m->offset = child ? base : 0;
    m->base = child ? regs[parent].base + base : base;
    m->size = size;
    m->enabled = true;
    nregs++;
}

static void op_move(struct fz_in *in)
{
    if (!nregs)
        return;
    unsigned i = fz_u8(in) % nregs;
    struct mreg *m = &regs[i];
    uint64_t nb = pick_base(in, m->space);
    bool expect;
    if (m->removed) {
        return; /* a removed region is gone: its owner no longer has it */
    } else if (nb == m->base) {
        expect = true;
    } else if (m->parent >= 0 || pinned(m)) {
        expect = false;
    } else if (m->enabled) {
        expect = in_space(m->space, nb, m->size) && model_free(m->space, -1, nb, m->size, (int)i);
    } else {
        expect = in_space(m->space, nb, m->size);
    }
    struct vdev_err e = {0};
    int rc = vdev_region_move(m->r, nb, &e);
    if ((rc == 0) != expect)
        fprintf(
            stderr, "move %u (%s kind %d parent %d enabled %d) 0x%llx+0x%llx -> 0x%llx: %d (%s)\n",
            i, m->space ? "io" : "mem", m->kind, m->parent, m->enabled, (unsigned long long)m->base,
            (unsigned long long)m->size, (unsigned long long)nb, rc, e.msg);
    FZ_ASSERT((rc == 0) == expect);
    if (rc || nb == m->base)
        return;
    m->base = nb;
    for (unsigned j = 0; j < nregs; j++)
        if (regs[j].parent == (int)i)
            regs[j].base = nb + regs[j].offset;
}

static void op_enable(struct fz_in *in)
{
    if (!nregs)
        return;
    unsigned i = fz_u8(in) % nregs;
    struct mreg *m = &regs[i];
    bool on = fz_u8(in) & 1;
    if (m->removed)
        return;
    bool expect = true;
    if (!on && m->enabled && pinned(m))
        expect = false;
    if (on && !m->enabled)
        expect = (m->parent >= 0 || in_space(m->space, m->base, m->size)) &&
                 model_free(m->space, m->parent, m->base, m->size, (int)i);
    struct vdev_err e;
    int rc = vdev_region_set_enabled(m->r, on, &e);
    FZ_ASSERT((rc == 0) == expect);
    if (!rc)
        m->enabled = on;
}

static void op_remove(struct fz_in *in)
{
    if (!nregs)
        return;
    unsigned i = fz_u8(in) % nregs;
    struct mreg *m = &regs[i];
    if (m->removed)
        return;
    vdev_region_remove(m->r);
    if (pinned(m))
        return; /* RAM and ROM stay */
    m->removed = true;
    for (unsigned j = 0; j < nregs; j++) /* a window's children go with it */
        if (regs[j].parent == (int)i)
            regs[j].removed = true;
}

static void op_access(struct fz_in *in)
{
    enum vdev_space space = fz_u8(in) & 1 ? VDEV_SPACE_IO : VDEV_SPACE_MEM;
    uint64_t addr = pick_base(in, space);
    static const unsigned sizes[8] = {1, 2, 4, 8, 4, 0, 3, 16};
    unsigned size = sizes[fz_u8(in) % 8];
    bool wr = fz_u8(in) & 1;
    uint64_t value = fz_u64(in), v = value;
    int k = -1;
    unsigned calls_before = 0;
    bool size_ok = size == 1 || size == 2 || size == 4 || size == 8;
    enum vdev_access_result expect;
    uint64_t expect_v = ones(size_ok ? size : 8);
    if (size_ok)
        k = model_find(space, addr);
    struct mreg *m = k >= 0 ? &regs[k] : NULL;
    if (m)
        calls_before = m->calls;
    if (!size_ok) {
        expect = VDEV_ACCESS_BAD_SIZE;
    } else if (!m || m->kind == VDEV_REGION_RESERVED) {
        expect = VDEV_ACCESS_UNMAPPED;
    } else if (size - 1 > m->size - 1 - (addr - m->base)) {
        expect = VDEV_ACCESS_BAD_SIZE;
    } else if (m->kind != VDEV_REGION_DEVICE) {
        if (!m->host)
            expect = VDEV_ACCESS_UNMAPPED;
        else if (wr && m->kind == VDEV_REGION_ROM)
            expect = VDEV_ACCESS_READ_ONLY;
        else
            expect = VDEV_ACCESS_OK;
        if (expect == VDEV_ACCESS_OK && !wr) {
            expect_v = 0;
            memcpy(&expect_v, m->host + (addr - m->base), size);
        }
    } else if (!((m->sizes ? m->sizes : 0xf) & size)) {
        expect = VDEV_ACCESS_BAD_SIZE;
    } else {
        expect = VDEV_ACCESS_OK;
        expect_v = (0x0123456789abcdefull ^ (addr - m->base)) & ones(size);
    }
    enum vdev_access_result r = vdev_bus_access(bus, space, addr, size, wr, &v);
    FZ_ASSERT(r == expect);
    if (!wr)
        FZ_ASSERT(v == expect_v);
    if (m && m->kind == VDEV_REGION_DEVICE) {
        if (expect == VDEV_ACCESS_OK) {
            FZ_ASSERT(m->calls == calls_before + 1 && m->off == addr - m->base &&
                      m->call_size == size && m->wrote == wr);
            if (wr)
                FZ_ASSERT(m->value == (value & ones(size)));
        } else {
            FZ_ASSERT(m->calls == calls_before);
        }
    }
    if (m && expect == VDEV_ACCESS_OK && wr && m->kind != VDEV_REGION_DEVICE) {
        uint64_t back = 0;
        memcpy(&back, m->host + (addr - m->base), size);
        FZ_ASSERT(back == (value & ones(size)));
    }
}

static void op_find(struct fz_in *in)
{
    enum vdev_space space = fz_u8(in) & 1 ? VDEV_SPACE_IO : VDEV_SPACE_MEM;
    uint64_t addr = pick_base(in, space);
    int k = model_find(space, addr);
    struct vdev_region *r = vdev_bus_find(bus, space, addr);
    FZ_ASSERT(index_of(r) == k);
}

static void op_find_free(struct fz_in *in)
{
    enum vdev_space space = fz_u8(in) & 1 ? VDEV_SPACE_IO : VDEV_SPACE_MEM;
    uint64_t from = pick_base(in, space), lim = pick_base(in, space);
    uint64_t size = pick_size(in), align = 1ull << (fz_u8(in) % 20);
    uint64_t out = 0;
    if (vdev_bus_find_free(bus, space, from, lim, size, align, &out) == 0) {
        FZ_ASSERT(out >= from && !(out & (align - 1)) && size && out <= lim &&
                  size - 1 <= lim - out);
        FZ_ASSERT(model_free(space, -1, out, size, -1));
    }
}

struct listing {
    unsigned n;
    uint64_t last;
    bool bad;
};

static void list_one(const struct vdev_region_info *r, void *arg)
{
    struct listing *l = arg;
    int k = -1;
    for (unsigned i = 0; i < nregs; i++)
        if (!regs[i].removed && regs[i].parent < 0 && regs[i].base == r->base &&
            regs[i].size == r->size && regs[i].kind == r->kind && regs[i].space == r->space &&
            live(&regs[i]) == r->enabled)
            k = (int)i;
    if (k < 0 || (l->n && r->base < l->last))
        l->bad = true;
    l->last = r->base;
    l->n++;
}

static void op_list(void)
{
    for (int sp = 0; sp < 2; sp++) {
        enum vdev_space space = sp ? VDEV_SPACE_IO : VDEV_SPACE_MEM;
        struct listing l = {0};
        unsigned want = 0;
        for (unsigned i = 0; i < nregs; i++)
            want += !regs[i].removed && regs[i].parent < 0 && regs[i].space == space;
        vdev_bus_foreach(bus, space, list_one, &l);
        FZ_ASSERT(!l.bad && l.n == want);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bus = vdev_bus_new();
    FZ_ASSERT(bus);
    nregs = 0;
    struct fz_in in = {data, size};
    for (unsigned op = 0; op < MAX_OPS && fz_left(&in); op++) {
        switch (fz_u8(&in) % 12) {
        case 0:
        case 1:
            op_add(&in, false);
            break;
        case 2:
            op_add(&in, true);
            break;
        case 3:
            op_move(&in);
            break;
        case 4:
            op_enable(&in);
            break;
        case 5:
            op_remove(&in);
            break;
        case 6:
        case 7:
        case 8:
            op_access(&in);
            break;
        case 9:
            op_find(&in);
            break;
        case 10:
            op_find_free(&in);
            break;
        default:
            op_list();
            break;
        }
    }
    vdev_bus_free(bus);
    bus = NULL;
    for (unsigned i = 0; i < nregs; i++)
        free(regs[i].host);
    return 0;
}
