/* The memory and I/O maps: non-overlapping regions, lock-free lookup for vCPU exits and
 * device threads.
 *
 * Writers (adding, moving, enabling, removing regions; rare) take the bus mutex and publish
 * a new sorted snapshot of the enabled regions of that space. A snapshot holds copies of
 * what a lookup needs (base, size, kind, host mapping, handlers), so a reader never sees a
 * region half-moved: one lookup, one consistent translation. Readers look up inside an
 * epoch section (epoch.h); old snapshots and removed regions are freed once every section
 * that could see them has ended, and removing or re-pointing host-backed memory waits for
 * that, so its owner may unmap it as soon as the call returns.
 *
 * Guest RAM and ROM never move, turn off or go away while the machine lives: that is what
 * lets vdev_gmem_ptr() hand out pointers that outlive a section (docs/security.md).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "epoch.h"
#include "internal.h"
#include "sized.h"

/* One enabled region as a lookup sees it. Inside a window, base is the offset in it. */
struct map_entry {
    uint64_t base, size;
    enum vdev_region_kind kind;
    void *host;
    const struct vdev_region_ops *ops;
    void *opaque;
    struct vdev_region *r;
};

struct snapshot {
    size_t n;
    struct map_entry e[];
};

struct vdev_bus {
    pthread_mutex_t lock;
    struct vdev_region **all; /* every live region (removed ones leave) */
    size_t nall, capall;
    struct snapshot *_Atomic snap[2]; /* per space: enabled regions sorted by base */
    struct vdev_retire_list retired;  /* snapshots and regions waiting for readers */
    void (*listener)(void *arg, const struct vdev_region *r, bool map);
    void *listener_arg;
};

static const uint64_t space_limit[2] = {UINT64_MAX, 0xffff};

const char *vdev_region_kind_name(enum vdev_region_kind kind)
{
    switch (kind) {
    case VDEV_REGION_RAM:
        return "ram";
    case VDEV_REGION_ROM:
        return "rom";
    case VDEV_REGION_RESERVED:
        return "reserved";
    case VDEV_REGION_DEVICE:
        return "device";
    case VDEV_REGION_DEVMEM:
        return "devmem";
    case VDEV_REGION_WINDOW:
        return "window";
    }
    return "?";
}

/* Guest RAM and ROM: the only memory devices may DMA to (docs/security.md). */
static bool guest_memory(enum vdev_region_kind kind)
{
    return kind == VDEV_REGION_RAM || kind == VDEV_REGION_ROM;
}

static bool host_backed(const struct vdev_region *r)
{
    return guest_memory(r->kind) || r->kind == VDEV_REGION_DEVMEM;
}

struct vdev_bus *vdev_bus_new(void)
{
    struct vdev_bus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return NULL;
    pthread_mutex_init(&bus->lock, NULL);
    for (int s = 0; s < 2; s++)
        atomic_store(&bus->snap[s], calloc(1, sizeof(struct snapshot)));
    return bus;
}

static void region_free(void *p)
{
    struct vdev_region *r = p;
    free(r->owner);
    free(atomic_load(&r->kids));
    free(r);
}

void vdev_bus_free(struct vdev_bus *bus)
{
    if (!bus)
        return;
    vdev_epoch_reclaim(&bus->retired, true);
    for (size_t i = 0; i < bus->nall; i++)
        region_free(bus->all[i]);
    free(bus->all);
    for (int s = 0; s < 2; s++)
        free(atomic_load(&bus->snap[s]));
    pthread_mutex_destroy(&bus->lock);
    free(bus);
}

void vdev_bus_set_listener(struct vdev_bus *bus,
                           void (*fn)(void *arg, const struct vdev_region *r, bool map), void *arg)
{
    bus->listener = fn;
    bus->listener_arg = arg;
}

static uint64_t last_byte(uint64_t base, uint64_t size)
{
    return base + size - 1;
}

/* Finds an enabled region of `space` other than `self` that intersects [base, base+size):
 * among top-level regions, or among the children of `parent` when it is not NULL. */
static struct vdev_region *find_overlap_in(struct vdev_bus *bus, enum vdev_space space,
                                           uint64_t base, uint64_t size,
                                           const struct vdev_region *self,
                                           const struct vdev_region *parent)
{
    uint64_t end = last_byte(base, size);
    for (size_t i = 0; i < bus->nall; i++) {
        struct vdev_region *o = bus->all[i];
        if (o == self || o->removed || !o->enabled || o->space != space || o->parent != parent)
            continue;
        if (base <= last_byte(o->base, o->size) && o->base <= end)
            return o;
    }
    return NULL;
}

static struct vdev_region *find_overlap(struct vdev_bus *bus, enum vdev_space space, uint64_t base,
                                        uint64_t size, const struct vdev_region *self)
{
    return find_overlap_in(bus, space, base, size, self, NULL);
}

static const char *space_name(enum vdev_space space)
{
    return space == VDEV_SPACE_IO ? "io" : "mem";
}

static int check_range(struct vdev_bus *bus, enum vdev_space space, const char *owner,
                       uint64_t base, uint64_t size, const struct vdev_region *self,
                       struct vdev_err *err)
{
    if (size == 0)
        return vdev_err_set(err, "%s: empty window at %s:0x%llx", owner, space_name(space),
                            (unsigned long long)base);
    if (base > space_limit[space] || size - 1 > space_limit[space] - base)
        return vdev_err_setc(err, VDEV_E_RANGE,
                             "%s: window %s:0x%llx size 0x%llx runs past the end of %s space",
                             owner, space_name(space), (unsigned long long)base,
                             (unsigned long long)size, space_name(space));
    struct vdev_region *o = find_overlap(bus, space, base, size, self);
    if (o)
        return vdev_err_setc(err, VDEV_E_BUSY, "%s %s:0x%llx-0x%llx overlaps %s %s:0x%llx-0x%llx",
                             owner, space_name(space), (unsigned long long)base,
                             (unsigned long long)last_byte(base, size), o->owner, space_name(space),
                             (unsigned long long)o->base,
                             (unsigned long long)last_byte(o->base, o->size));
    return 0;
}

static int cmp_base(const void *a, const void *b)
{
    const struct vdev_region *x = *(struct vdev_region *const *)a;
    const struct vdev_region *y = *(struct vdev_region *const *)b;
    return x->base < y->base ? -1 : x->base > y->base;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct map_entry *x = a, *y = b;
    return x->base < y->base ? -1 : x->base > y->base;
}

static void snapshot_free(void *p)
{
    free(p);
}

static int publish_in(struct vdev_bus *bus, enum vdev_space space, struct vdev_region *parent);

/* Rebuilds and publishes the snapshot of `space`. Called with the lock held. */
static int publish(struct vdev_bus *bus, enum vdev_space space)
{
    return publish_in(bus, space, NULL);
}

/* Publishes the snapshot of `parent`'s children (parent NULL: of the top level) and
 * retires the one it replaces. Called with the lock held. */
static int publish_in(struct vdev_bus *bus, enum vdev_space space, struct vdev_region *parent)
{
    size_t n = 0;
    for (size_t i = 0; i < bus->nall; i++) {
        const struct vdev_region *o = bus->all[i];
        if (!o->removed && o->enabled && o->space == space && o->parent == parent)
            n++;
    }
    struct snapshot *s = malloc(sizeof(*s) + n * sizeof(s->e[0]));
    if (!s)
        return -1;
    s->n = 0;
    for (size_t i = 0; i < bus->nall; i++) {
        struct vdev_region *o = bus->all[i];
        if (o->removed || !o->enabled || o->space != space || o->parent != parent)
            continue;
        s->e[s->n++] = (struct map_entry){.base = parent ? o->offset : o->base,
                                          .size = o->size,
                                          .kind = o->kind,
                                          .host = o->host,
                                          .ops = o->ops,
                                          .opaque = o->opaque,
                                          .r = o};
    }
    qsort(s->e, s->n, sizeof(s->e[0]), cmp_entry);
    struct snapshot *_Atomic *slot = parent ? &parent->kids : &bus->snap[space];
    struct snapshot *old = atomic_exchange_explicit(slot, s, memory_order_acq_rel);
    vdev_epoch_retire(&bus->retired, old, snapshot_free);
    return 0;
}

/* A child counts as mapped only while its window is enabled too. */
static bool effectively_enabled(const struct vdev_region *r)
{
    return r->enabled && !r->removed && (!r->parent || (r->parent->enabled && !r->parent->removed));
}

static void notify(struct vdev_bus *bus, const struct vdev_region *r, bool map)
{
    if (bus->listener && host_backed(r) && r->host)
        bus->listener(bus->listener_arg, r, map);
}

/* Tells the listener about every mapped host-backed child of window w. */
static void notify_kids(struct vdev_bus *bus, const struct vdev_region *w, bool map)
{
    if (w->kind != VDEV_REGION_WINDOW)
        return;
    for (size_t i = 0; i < bus->nall; i++) {
        const struct vdev_region *c = bus->all[i];
        if (c->parent == w && c->enabled && !c->removed)
            notify(bus, c, map);
    }
}

static int add_region(struct vdev_bus *bus, const struct vdev_region_desc *desc,
                      struct vdev_region *parent, struct vdev_region **out, struct vdev_err *err);

int vdev_region_ops_check(const struct vdev_region_ops *ops, const char *owner,
                          struct vdev_err *err)
{
    /* Every member of the 0.2 table is read: a smaller one was never built from our headers. */
    size_t min = VDEV_SIZE_THROUGH(struct vdev_region_ops, sizes);
    if (ops && ops->size < min)
        return vdev_err_setc(err, VDEV_E_INVAL,
                             "%s: region ops of %zu bytes, at least %zu (set .size = "
                             "sizeof(struct vdev_region_ops))",
                             owner, ops->size, min);
    if (!ops || !ops->read || !ops->write)
        return vdev_err_setc(err, VDEV_E_INVAL, "%s: a device window needs read and write handlers",
                             owner);
    return 0;
}

int vdev_bus_add(struct vdev_bus *bus, const struct vdev_region_desc *desc,
                 struct vdev_region **out, struct vdev_err *err)
{
    const char *owner = desc->owner ? desc->owner : "?";
    if (desc->space != VDEV_SPACE_MEM && desc->space != VDEV_SPACE_IO)
        return vdev_err_set(err, "%s: bad address space", owner);
    if (desc->kind == VDEV_REGION_DEVICE && vdev_region_ops_check(desc->ops, owner, err))
        return -1;
    return add_region(bus, desc, NULL, out, err);
}

int vdev_region_add_child(struct vdev_region *w, const struct vdev_region_desc *desc,
                          struct vdev_region **out, struct vdev_err *err)
{
    const char *owner = desc->owner ? desc->owner : "?";
    if (!w || w->kind != VDEV_REGION_WINDOW || w->removed)
        return vdev_err_set(err, "%s: not inside a window", owner);
    if (desc->kind != VDEV_REGION_DEVICE && desc->kind != VDEV_REGION_DEVMEM)
        return vdev_err_set(err, "%s: only device windows and device memory go in a window", owner);
    if (desc->kind == VDEV_REGION_DEVICE && vdev_region_ops_check(desc->ops, owner, err))
        return -1;
    if (desc->space != w->space || desc->size == 0 || desc->base > w->size ||
        desc->size > w->size - desc->base)
        return vdev_err_set(err,
                            "%s: 0x%llx bytes at offset 0x%llx do not fit in %s (0x%llx bytes)",
                            owner, (unsigned long long)desc->size, (unsigned long long)desc->base,
                            w->owner, (unsigned long long)w->size);
    return add_region(w->bus, desc, w, out, err);
}

/* Adds a top-level region (parent NULL) or a child of window `parent` (desc->base is then
 * the offset inside it). */
static int add_region(struct vdev_bus *bus, const struct vdev_region_desc *desc,
                      struct vdev_region *parent, struct vdev_region **out, struct vdev_err *err)
{
    const char *owner = desc->owner ? desc->owner : "?";
    pthread_mutex_lock(&bus->lock);
    int rc = 0;
    const uint64_t base = parent ? parent->base + desc->base : desc->base;
    if (parent) {
        struct vdev_region *o = find_overlap_in(bus, desc->space, base, desc->size, NULL, parent);
        if (o)
            rc = vdev_err_setc(err, VDEV_E_BUSY, "%s overlaps %s in %s", owner, o->owner,
                               parent->owner);
    } else {
        rc = check_range(bus, desc->space, owner, desc->base, desc->size, NULL, err);
    }
    struct vdev_region *r = NULL;
    if (rc == 0 && bus->nall == bus->capall) {
        size_t cap = bus->capall ? bus->capall * 2 : 32;
        struct vdev_region **p = realloc(bus->all, cap * sizeof(*p));
        if (p) {
            bus->all = p;
            bus->capall = cap;
        } else {
            rc = vdev_err_set(err, "%s: out of memory", owner);
        }
    }
    if (rc == 0 && !(r = calloc(1, sizeof(*r))))
        rc = vdev_err_set(err, "%s: out of memory", owner);
    if (rc == 0) {
        r->bus = bus;
        r->owner = vdev_strdup(owner);
        r->space = desc->space;
        r->kind = desc->kind;
        r->base = base;
        r->size = desc->size;
        r->parent = parent;
        r->offset = parent ? desc->base : 0;
        r->ops = desc->ops;
        r->opaque = desc->opaque;
        r->host = desc->host;
        r->enabled = true;
        bus->all[bus->nall++] = r;
        if (publish_in(bus, r->space, parent))
            rc = vdev_err_set(err, "%s: out of memory", owner);
    }
    bool mapped = rc == 0 && effectively_enabled(r);
    pthread_mutex_unlock(&bus->lock);
    if (rc)
        return rc;
    if (mapped)
        notify(bus, r, true);
    if (out)
        *out = r;
    return 0;
}

/* Guest RAM and ROM stay put for the machine's life (vdev_gmem_ptr relies on it). */
static int check_movable(const struct vdev_region *r, const char *what, struct vdev_err *err)
{
    if (guest_memory(r->kind))
        return vdev_err_set(err, "%s: guest %s cannot be %s while the machine exists", r->owner,
                            vdev_region_kind_name(r->kind), what);
    return 0;
}

int vdev_region_move(struct vdev_region *r, uint64_t new_base, struct vdev_err *err)
{
    struct vdev_bus *bus = r->bus;
    if (new_base == r->base)
        return 0;
    if (r->parent)
        return vdev_err_set(err, "%s: a region inside a window moves with its window", r->owner);
    if (check_movable(r, "moved", err))
        return -1;
    pthread_mutex_lock(&bus->lock);
    /* A disabled region may sit anywhere in range; overlaps are checked when it is enabled. */
    int rc = 0;
    if (r->enabled)
        rc = check_range(bus, r->space, r->owner, new_base, r->size, r, err);
    else if (new_base > space_limit[r->space] || r->size - 1 > space_limit[r->space] - new_base)
        rc = vdev_err_set(err, "%s: window cannot move to %s:0x%llx", r->owner,
                          space_name(r->space), (unsigned long long)new_base);
    if (rc == 0 && r->enabled) {
        notify(bus, r, false);
        notify_kids(bus, r, false);
    }
    if (rc == 0) {
        /* Readers use the snapshot's copy; base here is for writers, messages and the
         * listener. Children keep their offsets: their snapshot does not change. */
        r->base = new_base;
        for (size_t i = 0; i < bus->nall; i++)
            if (bus->all[i]->parent == r)
                bus->all[i]->base = new_base + bus->all[i]->offset;
        publish(bus, r->space);
        if (r->enabled)
            notify_kids(bus, r, true);
    }
    pthread_mutex_unlock(&bus->lock);
    if (rc == 0 && r->enabled)
        notify(bus, r, true);
    return rc;
}

int vdev_region_set_enabled(struct vdev_region *r, bool enabled, struct vdev_err *err)
{
    struct vdev_bus *bus = r->bus;
    if (r->enabled == enabled)
        return 0;
    if (!enabled && check_movable(r, "turned off", err))
        return -1;
    pthread_mutex_lock(&bus->lock);
    int rc = 0;
    if (enabled && r->parent) {
        struct vdev_region *o = find_overlap_in(bus, r->space, r->base, r->size, r, r->parent);
        if (o)
            rc = vdev_err_setc(err, VDEV_E_BUSY, "%s overlaps %s in %s", r->owner, o->owner,
                               r->parent->owner);
    } else if (enabled) {
        rc = check_range(bus, r->space, r->owner, r->base, r->size, r, err);
    }
    bool was = effectively_enabled(r);
    if (rc == 0) {
        if (!enabled)
            notify_kids(bus, r, false);
        r->enabled = enabled;
        publish_in(bus, r->space, r->parent);
        if (enabled)
            notify_kids(bus, r, true);
    }
    bool now = effectively_enabled(r);
    pthread_mutex_unlock(&bus->lock);
    if (rc == 0 && was != now)
        notify(bus, r, now);
    return rc;
}

/* Takes r out of the list of live regions. Called with the lock held. */
static void unlist(struct vdev_bus *bus, const struct vdev_region *r)
{
    for (size_t i = 0; i < bus->nall; i++)
        if (bus->all[i] == r) {
            bus->all[i] = bus->all[--bus->nall];
            return;
        }
}

void vdev_region_remove(struct vdev_region *r)
{
    if (!r || r->removed || check_movable(r, "removed", NULL))
        return;
    struct vdev_bus *bus = r->bus;
    pthread_mutex_lock(&bus->lock);
    bool was_mapped = effectively_enabled(r);
    if (was_mapped)
        notify_kids(bus, r, false);
    r->removed = true;
    publish_in(bus, r->space, r->parent);
    /* A window's children go with it. */
    for (size_t i = 0; i < bus->nall; i++)
        if (bus->all[i]->parent == r)
            bus->all[i]->removed = true;
    pthread_mutex_unlock(&bus->lock);
    if (was_mapped)
        notify(bus, r, false);
    /* No section may still copy from r's host memory when its owner unmaps it. */
    vdev_epoch_synchronize();
    pthread_mutex_lock(&bus->lock);
    for (size_t i = 0; i < bus->nall;) {
        struct vdev_region *o = bus->all[i];
        if (o == r || o->parent == r) {
            unlist(bus, o);
            vdev_epoch_retire(&bus->retired, o, region_free);
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&bus->lock);
}

void vdev_region_set_host(struct vdev_region *r, void *host)
{
    if (!r || r->host == host)
        return;
    /* RAM and ROM get their backing once: vdev_gmem_ptr's pointers must stay valid. */
    if (guest_memory(r->kind) && r->host)
        return;
    struct vdev_bus *bus = r->bus;
    bool on = effectively_enabled(r);
    if (r->host && on)
        notify(bus, r, false);
    pthread_mutex_lock(&bus->lock);
    void *old = r->host;
    r->host = host;
    publish_in(bus, r->space, r->parent);
    pthread_mutex_unlock(&bus->lock);
    if (old)
        vdev_epoch_synchronize(); /* the old mapping may go once we return */
    if (on)
        notify(bus, r, true);
}

void vdev_region_get_info(const struct vdev_region *r, struct vdev_region_info *out)
{
    if (!r || !out)
        return;
    out->owner = r->owner;
    out->space = r->space;
    out->kind = r->kind;
    out->base = r->base;
    out->size = r->size;
    out->host = r->host;
    out->enabled = effectively_enabled(r);
}

void vdev_bus_foreach(struct vdev_bus *bus, enum vdev_space space,
                      void (*fn)(const struct vdev_region_info *r, void *arg), void *arg)
{
    /* The section keeps the listed regions alive even if fn (or another thread) removes
     * one; fn may change the map. */
    vdev_epoch_enter();
    pthread_mutex_lock(&bus->lock);
    size_t n = 0;
    struct vdev_region **list = malloc((bus->nall + 1) * sizeof(*list));
    for (size_t i = 0; list && i < bus->nall; i++)
        if (!bus->all[i]->removed && bus->all[i]->space == space && !bus->all[i]->parent)
            list[n++] = bus->all[i];
    pthread_mutex_unlock(&bus->lock);
    if (list) {
        qsort(list, n, sizeof(list[0]), cmp_base);
        for (size_t i = 0; i < n; i++) {
            struct vdev_region_info info;
            vdev_region_get_info(list[i], &info);
            fn(&info, arg);
        }
        free(list);
    }
    vdev_epoch_leave();
}

/* The entry of snapshot s containing addr (an offset inside a window for children). */
static const struct map_entry *search(const struct snapshot *s, uint64_t addr)
{
    size_t lo = 0, hi = s->n; /* find the last entry with base <= addr */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->e[mid].base <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const struct map_entry *e = &s->e[lo - 1];
    return addr - e->base < e->size ? e : NULL;
}

/* Copies the enabled region at addr into *out with its absolute base. Inside a section. */
static bool lookup(struct vdev_bus *bus, enum vdev_space space, uint64_t addr,
                   struct map_entry *out)
{
    if (space != VDEV_SPACE_MEM && space != VDEV_SPACE_IO)
        return false;
    const struct map_entry *e =
        search(atomic_load_explicit(&bus->snap[space], memory_order_acquire), addr);
    if (e && e->kind == VDEV_REGION_WINDOW) {
        const uint64_t wbase = e->base;
        const struct snapshot *k = atomic_load_explicit(&e->r->kids, memory_order_acquire);
        e = k ? search(k, addr - wbase) : NULL;
        if (!e)
            return false;
        *out = *e;
        out->base += wbase;
        return true;
    }
    if (!e)
        return false;
    *out = *e;
    return true;
}

struct vdev_region *vdev_bus_find(struct vdev_bus *bus, enum vdev_space space, uint64_t addr)
{
    struct map_entry e;
    vdev_epoch_enter();
    bool found = lookup(bus, space, addr, &e);
    vdev_epoch_leave();
    return found ? e.r : NULL;
}

int vdev_bus_guest_span(struct vdev_bus *bus, uint64_t gpa, struct vdev_gmem_span *out)
{
    struct map_entry e;
    vdev_epoch_enter();
    bool found = lookup(bus, VDEV_SPACE_MEM, gpa, &e);
    vdev_epoch_leave();
    /* Only guest RAM (and ROM, read-only) takes device DMA: it is mapped for as long as the
     * machine exists. Device memory can be unmapped by the guest at any moment. */
    if (!found || !e.host || !guest_memory(e.kind))
        return -1;
    *out = (struct vdev_gmem_span){
        .base = e.base, .size = e.size, .host = e.host, .writable = e.kind == VDEV_REGION_RAM};
    return 0;
}

int vdev_bus_translate(struct vdev_bus *bus, uint64_t gpa, bool writable, void **host,
                       uint64_t *avail)
{
    struct vdev_gmem_span s;
    if (vdev_bus_guest_span(bus, gpa, &s) || (writable && !s.writable))
        return -1;
    *host = s.host + (gpa - s.base);
    *avail = s.size - (gpa - s.base);
    return 0;
}

int vdev_bus_find_free(struct vdev_bus *bus, enum vdev_space space, uint64_t from, uint64_t limit,
                       uint64_t size, uint64_t align, uint64_t *out)
{
    if (!out || size == 0 || align == 0 || (align & (align - 1)))
        return -1;
    uint64_t base = (from + align - 1) & ~(align - 1);
    if (base < from)
        return -1;
    pthread_mutex_lock(&bus->lock);
    int rc = -1;
    /* Each overlap pushes the candidate past the region it hit; regions are finite. */
    for (size_t guard = 0; guard <= bus->nall + 1; guard++) {
        if (base > limit || size - 1 > limit - base)
            break;
        struct vdev_region *o = find_overlap(bus, space, base, size, NULL);
        if (!o) {
            *out = base;
            rc = 0;
            break;
        }
        uint64_t next = last_byte(o->base, o->size) + 1;
        uint64_t aligned = (next + align - 1) & ~(align - 1);
        if (next == 0 || aligned < next)
            break;
        base = aligned;
    }
    pthread_mutex_unlock(&bus->lock);
    return rc;
}

static uint64_t ones(unsigned size)
{
    return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (size * 8)) - 1;
}

/* The part of an access that needs the map, run inside a section: finds the window, copies
 * host-backed memory (removing it waits for the section) or lets a trapped doorbell take the
 * write. *call says a device handler is still to run, with r's ops and opaque. */
static enum vdev_access_result access_map(struct vdev_bus *bus, enum vdev_space space,
                                          uint64_t addr, unsigned size, bool is_write,
                                          uint64_t *value, struct map_entry *r, bool *call)
{
    *call = false;
    if (!lookup(bus, space, addr, r) || r->kind == VDEV_REGION_RESERVED)
        return VDEV_ACCESS_UNMAPPED;
    const uint64_t off = addr - r->base;
    if (size - 1 > r->size - 1 - off)
        return VDEV_ACCESS_BAD_SIZE; /* runs past the end of the window */
    if (r->kind != VDEV_REGION_DEVICE) {
        if (!r->host)
            return VDEV_ACCESS_UNMAPPED;
        if (is_write && r->kind == VDEV_REGION_ROM)
            return VDEV_ACCESS_READ_ONLY;
        if (is_write) {
            memcpy((uint8_t *)r->host + off, value, size); /* little-endian, as the guests */
        } else {
            *value = 0;
            memcpy(value, (uint8_t *)r->host + off, size);
        }
        return VDEV_ACCESS_OK;
    }
    if (!((r->ops->sizes ? r->ops->sizes : 0xf) & size))
        return VDEV_ACCESS_BAD_SIZE;
    *call = !(is_write && atomic_load_explicit(&r->r->doorbells, memory_order_acquire) &&
              vdev_doorbell_trap(r->r, addr, size, *value & ones(size)));
    return VDEV_ACCESS_OK;
}

enum vdev_access_result vdev_bus_access(struct vdev_bus *bus, enum vdev_space space, uint64_t addr,
                                        unsigned size, bool is_write, uint64_t *value)
{
    if (!value)
        return VDEV_ACCESS_INVAL;
    bool size_ok = size == 1 || size == 2 || size == 4 || size == 8;
    if (!is_write)
        *value = ones(size_ok ? size : 8);
    if (!size_ok)
        return VDEV_ACCESS_BAD_SIZE;
    struct map_entry r;
    bool call;
    vdev_epoch_enter();
    enum vdev_access_result res = access_map(bus, space, addr, size, is_write, value, &r, &call);
    vdev_epoch_leave();
    /* Handlers run outside the section: they may change the map, which waits for sections.
     * Their opaque state lives as long as the device that registered them. */
    if (call && is_write)
        r.ops->write(r.opaque, addr - r.base, size, *value & ones(size));
    else if (call)
        *value = r.ops->read(r.opaque, addr - r.base, size) & ones(size);
    return res;
}
