/* The core's event thread (epoll), doorbells, irqfds and fd watches.
 *
 * Everything exitless has a trapped fall-back that ends in the same eventfd, so a device
 * cannot tell (and need not care) whether the embedder bound it in the kernel.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

struct vdev_watch {
    struct vdev_event_loop *loop;
    int fd;
    void (*fn)(void *opaque, int fd);
    void *opaque;
    struct vdev_watch *next;
    bool removed;
};

struct vdev_event_loop {
    struct vdev_machine *m;
    int epfd;
    int stopfd;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;
    struct vdev_watch *watches; /* freed with the loop: a callback in flight stays valid */
};

struct vdev_doorbell {
    struct vdev *d;
    struct vdev_doorbell_desc desc;
    int fd;
    bool exitless;
    bool removed;
    struct vdev_region *region; /* where it is trapped, when not exitless */
    struct vdev_doorbell *trap_next;
    struct vdev_doorbell *all_next;
    struct vdev_watch *watch;
};

struct vdev_irqfd {
    struct vdev *d;
    int fd;
    int resample_fd;
    bool is_msi;
    bool exitless; /* the embedder bound it (when not paused) */
    bool paused;   /* vdev_irqfd_set_bound(false): writes only add to the count */
    uint32_t line; /* the GSI of a line irqfd */
    _Atomic uint64_t msi_addr;
    _Atomic uint32_t msi_data;
    _Atomic uint32_t msi_source; /* flags << 16 | requester_id */
    struct vdev_watch *watch;
};

/* ---- the loop ---- */

struct vdev_event_loop *vdev_event_loop_new(struct vdev_machine *m)
{
    struct vdev_event_loop *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->m = m;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&l->lock, NULL);
    if (l->epfd < 0 || l->stopfd < 0) {
        vdev_event_loop_free(l);
        return NULL;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->stopfd, &ev);
    return l;
}

/* Runs ready callbacks; returns 1 when asked to stop, 0 otherwise, -1 on error. */
static int loop_once(struct vdev_event_loop *l, int timeout_ms)
{
    struct epoll_event evs[16];
    int n = epoll_wait(l->epfd, evs, 16, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        struct vdev_watch *w = evs[i].data.ptr;
        if (!w)
            return 1;
        if (!w->removed)
            w->fn(w->opaque, w->fd);
    }
    return 0;
}

static void *loop_thread(void *arg)
{
    struct vdev_event_loop *l = arg;
    while (loop_once(l, -1) == 0)
        ;
    return NULL;
}

int vdev_event_loop_start(struct vdev_event_loop *l)
{
    if (l->running)
        return 0;
    if (pthread_create(&l->thread, NULL, loop_thread, l))
        return -1;
    pthread_setname_np(l->thread, "vdev-events");
    l->running = true;
    return 0;
}

void vdev_event_loop_stop(struct vdev_event_loop *l)
{
    if (!l->running)
        return;
    uint64_t one = 1;
    if (write(l->stopfd, &one, sizeof(one)) == sizeof(one))
        pthread_join(l->thread, NULL);
    l->running = false;
}

void vdev_event_loop_free(struct vdev_event_loop *l)
{
    if (!l)
        return;
    vdev_event_loop_stop(l);
    while (l->watches) {
        struct vdev_watch *w = l->watches;
        l->watches = w->next;
        free(w);
    }
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->stopfd >= 0)
        close(l->stopfd);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

int vdev_machine_poll(struct vdev_machine *m, int timeout_ms)
{
    if (!m->loop || m->loop->running)
        return -1;
    return loop_once(m->loop, timeout_ms) < 0 ? -1 : 0;
}

int vdev_machine_start(struct vdev_machine *m)
{
    return m->loop ? vdev_event_loop_start(m->loop) : -1;
}

static struct vdev_watch *watch_add(struct vdev_event_loop *l, int fd,
                                    void (*fn)(void *opaque, int fd), void *opaque,
                                    struct vdev_err *err)
{
    struct vdev_watch *w = calloc(1, sizeof(*w));
    if (!w) {
        vdev_err_set(err, "out of memory");
        return NULL;
    }
    w->loop = l;
    w->fd = fd;
    w->fn = fn;
    w->opaque = opaque;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev)) {
        vdev_err_set(err, "cannot watch fd %d: %s", fd, strerror(errno));
        free(w);
        return NULL;
    }
    pthread_mutex_lock(&l->lock);
    w->next = l->watches;
    l->watches = w;
    pthread_mutex_unlock(&l->lock);
    return w;
}

static void watch_remove(struct vdev_watch *w)
{
    if (!w || w->removed)
        return;
    w->removed = true;
    epoll_ctl(w->loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

struct vdev_watch *vdev_watch_fd(struct vdev *d, int fd, void (*fn)(void *opaque, int fd),
                                 void *opaque, struct vdev_err *err)
{
    if (!d->m->loop) {
        vdev_err_set(err, "no event loop");
        return NULL;
    }
    return watch_add(d->m->loop, fd, fn, opaque, err);
}

struct vdev_watch *vdev_machine_watch_fd(struct vdev_machine *m, int fd,
                                         void (*fn)(void *opaque, int fd), void *opaque,
                                         struct vdev_err *err)
{
    if (!m->loop) {
        vdev_err_set(err, "no event loop");
        return NULL;
    }
    return watch_add(m->loop, fd, fn, opaque, err);
}

void vdev_watch_set_enabled(struct vdev_watch *w, bool enabled)
{
    if (!w || w->removed)
        return;
    struct epoll_event ev = {.events = enabled ? EPOLLIN : 0, .data.ptr = w};
    epoll_ctl(w->loop->epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

void vdev_unwatch_fd(struct vdev_watch *w)
{
    watch_remove(w);
}

static void drain(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof(v)) == sizeof(v))
        ;
}

/* ---- doorbells ---- */

static void doorbell_ready(void *opaque, int fd)
{
    struct vdev_doorbell *db = opaque;
    drain(fd);
    if (!db->removed)
        db->desc.fire(db->desc.opaque);
}

static bool doorbell_hits(const struct vdev_doorbell *db, uint64_t addr, unsigned size,
                          uint64_t value)
{
    return !db->removed && db->desc.addr == addr && db->desc.len == size &&
           (!db->desc.match || db->desc.data == value);
}

bool vdev_doorbell_trap(struct vdev_region *r, uint64_t addr, unsigned size, uint64_t value)
{
    for (struct vdev_doorbell *db = atomic_load_explicit(&r->doorbells, memory_order_acquire); db;
         db = db->trap_next) {
        if (doorbell_hits(db, addr, size, value)) {
            uint64_t one = 1;
            if (write(db->fd, &one, sizeof(one)) < 0) {
                /* EAGAIN: the counter is saturated, the device will see the ring anyway */
            }
            return true;
        }
    }
    return false;
}

/* Binds db at its address: in the kernel when the embedder can, else trapped in the window
 * that holds it. A trapped doorbell stays on the region's list (lists only grow; removal is
 * a flag) until the machine is freed. */
static int doorbell_bind(struct vdev_doorbell *db, struct vdev_err *err)
{
    struct vdev_machine *m = db->d->m;
    const struct vdev_doorbell_desc *ds = &db->desc;
    db->exitless =
        EMB_HOOK(m, ioeventfd) && EMB_HOOK(m, ioeventfd)(m->ctx, db->fd, ds->space, ds->addr,
                                                         ds->len, ds->match, ds->data, true) == 0;
    if (db->exitless)
        return 0;
    struct vdev_region *r = vdev_bus_find(m->bus, ds->space, ds->addr);
    if (!r || r->kind != VDEV_REGION_DEVICE || ds->addr - r->base > r->size - ds->len)
        return vdev_err_set(err, "%s: doorbell at 0x%llx is not inside one of its windows",
                            db->d->label, (unsigned long long)ds->addr);
    if (db->region != r) {
        /* The doorbell joins this region's list once; a doorbell that moves to a new region
         * gets a fresh node so lock-free readers of the old list stay valid. */
        if (db->region)
            return vdev_err_set(err, "%s: doorbell cannot change windows", db->d->label);
        db->region = r;
        db->trap_next = atomic_load(&r->doorbells);
        atomic_store_explicit(&r->doorbells, db, memory_order_release);
    }
    return 0;
}

static void doorbell_unbind(struct vdev_doorbell *db)
{
    struct vdev_machine *m = db->d->m;
    int (*ioeventfd)(void *, int, enum vdev_space, uint64_t, unsigned, bool, uint64_t, bool) =
        EMB_HOOK(m, ioeventfd);
    if (db->exitless)
        ioeventfd(m->ctx, db->fd, db->desc.space, db->desc.addr, db->desc.len, db->desc.match,
                  db->desc.data, false);
    db->exitless = false;
}

int vdev_doorbell_add(struct vdev *d, const struct vdev_doorbell_desc *desc,
                      struct vdev_doorbell **out, struct vdev_err *err)
{
    if (!desc || !out)
        return vdev_err_setc(err, VDEV_E_INVAL, "%s: vdev_doorbell_add: %s is NULL", d->label,
                             desc ? "out" : "desc");
    if (desc->len != 1 && desc->len != 2 && desc->len != 4 && desc->len != 8)
        return vdev_err_set(err, "%s: doorbell size %u", d->label, desc->len);
    struct vdev_doorbell *db = calloc(1, sizeof(*db));
    if (!db)
        return vdev_err_set(err, "out of memory");
    db->d = d;
    db->desc = *desc;
    db->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (db->fd < 0) {
        free(db);
        return vdev_err_set(err, "%s: eventfd: %s", d->label, strerror(errno));
    }
    if (doorbell_bind(db, err)) {
        close(db->fd);
        free(db);
        return -1;
    }
    if (desc->fire && !(db->watch = watch_add(d->m->loop, db->fd, doorbell_ready, db, err))) {
        doorbell_unbind(db);
        db->removed = true; /* may already be on a region list: keep the memory */
    }
    db->all_next = d->m->doorbells;
    d->m->doorbells = db;
    if (db->removed)
        return -1;
    *out = db;
    return 0;
}

int vdev_doorbell_fd(const struct vdev_doorbell *db)
{
    return db->fd;
}

bool vdev_doorbell_exitless(const struct vdev_doorbell *db)
{
    return db->exitless;
}

int vdev_doorbell_move(struct vdev_doorbell *db, uint64_t new_addr, struct vdev_err *err)
{
    doorbell_unbind(db);
    db->desc.addr = new_addr;
    return doorbell_bind(db, err);
}

void vdev_doorbell_remove(struct vdev_doorbell *db)
{
    if (!db || db->removed)
        return;
    doorbell_unbind(db);
    watch_remove(db->watch);
    db->removed = true;
}

/* Called by vdev_machine_free after the loop has stopped. */
void vdev_events_free_all(struct vdev_machine *m)
{
    while (m->doorbells) {
        struct vdev_doorbell *db = m->doorbells;
        m->doorbells = db->all_next;
        if (!db->removed)
            doorbell_unbind(db);
        close(db->fd);
        free(db);
    }
}

/* ---- irqfds ---- */

/* The message an MSI irqfd carries (each member atomic: the owner reprograms it while the
 * event thread may deliver it). */
static struct vdev_msi irqfd_msi_of(struct vdev_irqfd *f)
{
    uint32_t source = atomic_load(&f->msi_source);
    return (struct vdev_msi){.addr = atomic_load(&f->msi_addr),
                             .data = atomic_load(&f->msi_data),
                             .requester_id = (uint16_t)source,
                             .flags = (uint16_t)(source >> 16)};
}

static void irqfd_store_msi(struct vdev_irqfd *f, const struct vdev_msi *msi)
{
    atomic_store(&f->msi_addr, msi->addr);
    atomic_store(&f->msi_data, msi->data);
    atomic_store(&f->msi_source, (uint32_t)msi->flags << 16 | msi->requester_id);
}

static void irqfd_ready(void *opaque, int fd)
{
    struct vdev_irqfd *f = opaque;
    drain(fd);
    if (f->is_msi) {
        struct vdev_msi msi = irqfd_msi_of(f);
        vdev_machine_send_msi(f->d->m, &msi);
    } else {
        /* Without a kernel resampler a level line becomes a pulse: the device re-triggers
         * while its condition holds. */
        vdev_irq_pulse(f->d);
    }
}

static struct vdev_irqfd *irqfd_new(struct vdev *d, bool is_msi, struct vdev_err *err)
{
    struct vdev_irqfd *f = calloc(1, sizeof(*f));
    if (!f) {
        vdev_err_set(err, "out of memory");
        return NULL;
    }
    f->d = d;
    f->is_msi = is_msi;
    f->resample_fd = -1;
    f->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (f->fd < 0) {
        vdev_err_set(err, "%s: eventfd: %s", d->label, strerror(errno));
        free(f);
        return NULL;
    }
    return f;
}

static struct vdev_irqfd *irqfd_finish(struct vdev_irqfd *f, struct vdev_err *err)
{
    if (!f->exitless && !(f->watch = watch_add(f->d->m->loop, f->fd, irqfd_ready, f, err))) {
        vdev_irqfd_free(f);
        return NULL;
    }
    return f;
}

struct vdev_irqfd *vdev_irqfd_line(struct vdev *d, bool level, struct vdev_err *err)
{
    if (!d->has_gsi) {
        vdev_err_set(err, "%s has no interrupt line", d->label);
        return NULL;
    }
    struct vdev_irqfd *f = irqfd_new(d, false, err);
    if (!f)
        return NULL;
    struct vdev_machine *m = d->m;
    if (level)
        f->resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    f->line = d->gsi;
    f->exitless = EMB_HOOK(m, irqfd_line) &&
                  EMB_HOOK(m, irqfd_line)(m->ctx, f->fd, f->resample_fd, d->gsi, true) == 0;
    return irqfd_finish(f, err);
}

struct vdev_irqfd *vdev_irqfd_gsi_resample(struct vdev *d, uint32_t gsi, struct vdev_err *err)
{
    struct vdev_machine *m = d->m;
    if (!EMB_HOOK(m, irqfd_line)) {
        vdev_err_set(err, "%s: the hypervisor binds no irqfds", d->label);
        return NULL;
    }
    struct vdev_irqfd *f = irqfd_new(d, false, err);
    if (!f)
        return NULL;
    f->line = gsi;
    f->resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (f->resample_fd < 0 || EMB_HOOK(m, irqfd_line)(m->ctx, f->fd, f->resample_fd, gsi, true)) {
        vdev_err_set(err, "%s: the hypervisor did not bind a level irqfd on GSI %u", d->label, gsi);
        vdev_irqfd_free(f);
        return NULL;
    }
    f->exitless = true;
    return f;
}

struct vdev_irqfd *vdev_irqfd_msi(struct vdev *d, const struct vdev_msi *msi, struct vdev_err *err)
{
    struct vdev_irqfd *f = irqfd_new(d, true, err);
    if (!f)
        return NULL;
    irqfd_store_msi(f, msi);
    struct vdev_machine *m = d->m;
    f->exitless = EMB_HOOK(m, irqfd_msi) && EMB_HOOK(m, irqfd_msi)(m->ctx, f->fd, msi, true) == 0;
    return irqfd_finish(f, err);
}

int vdev_irqfd_set_msi(struct vdev_irqfd *f, const struct vdev_msi *msi)
{
    irqfd_store_msi(f, msi);
    struct vdev_machine *m = f->d->m;
    if (f->exitless && !f->paused)
        return EMB_HOOK(m, irqfd_msi)(m->ctx, f->fd, msi, true);
    return 0; /* a paused irqfd takes the message when it is bound again */
}

/* Binds (assign) or unbinds the fd in the embedder; false when it refused. */
static bool embedder_bind(struct vdev_irqfd *f, bool assign)
{
    struct vdev_machine *m = f->d->m;
    if (f->is_msi) {
        struct vdev_msi msi = irqfd_msi_of(f);
        return EMB_HOOK(m, irqfd_msi)(m->ctx, f->fd, assign ? &msi : NULL, assign) == 0;
    }
    return EMB_HOOK(m, irqfd_line)(m->ctx, f->fd, f->resample_fd, f->line, assign) == 0;
}

int vdev_irqfd_set_bound(struct vdev_irqfd *f, bool bound)
{
    if (f->paused == !bound)
        return 0;
    f->paused = !bound;
    if (f->exitless) {
        if (embedder_bind(f, bound))
            return 0;
        if (!bound)
            return 0; /* nothing left bound either way */
        /* The embedder refused to bind it again: the event thread services it from now on
         * (a count that accumulated makes epoll report it at once). */
        f->exitless = false;
        struct vdev_err err;
        f->watch = watch_add(f->d->m->loop, f->fd, irqfd_ready, f, &err);
        return f->watch ? 0 : -1;
    }
    /* The event thread's watch: paused, a write stays in the eventfd (level-triggered epoll
     * reports it when resumed). */
    vdev_watch_set_enabled(f->watch, bound);
    return 0;
}

bool vdev_irqfd_take(struct vdev_irqfd *f)
{
    if (!f->paused)
        return false;
    uint64_t v = 0;
    bool any = false;
    while (read(f->fd, &v, sizeof(v)) == sizeof(v))
        any |= v != 0;
    return any;
}

int vdev_irqfd_fd(const struct vdev_irqfd *f)
{
    return f->fd;
}

void vdev_irqfd_trigger(struct vdev_irqfd *f)
{
    uint64_t one = 1;
    if (write(f->fd, &one, sizeof(one)) < 0) {
        /* EAGAIN: already pending, which is all a trigger means */
    }
}

int vdev_irqfd_resample_fd(const struct vdev_irqfd *f)
{
    return f->resample_fd;
}

bool vdev_irqfd_exitless(const struct vdev_irqfd *f)
{
    return f->exitless;
}

void vdev_irqfd_free(struct vdev_irqfd *f)
{
    if (!f)
        return;
    struct vdev_machine *m = f->d->m;
    if (f->exitless && !f->paused) {
        if (f->is_msi)
            EMB_HOOK(m, irqfd_msi)(m->ctx, f->fd, NULL, false);
        else
            EMB_HOOK(m, irqfd_line)(m->ctx, f->fd, f->resample_fd, f->line, false);
    }
    watch_remove(f->watch);
    close(f->fd);
    if (f->resample_fd >= 0)
        close(f->resample_fd);
    free(f);
}
