/* shmem: the factory page, the attachments and their control pages, the interrupt level.
 *
 * Factory page (guest_shm): registers are read as a little-endian byte image, so any
 * access size and alignment is harmless. `name` takes writes of any size; `size` and
 * `find` act on 32-bit writes only (other writes touching them are ignored).
 *
 * An attachment = a window range of pages+1 pages: the control page (trapped) and the
 * region's data pages (host memory mapped into the guest: no exits).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vdev/machine.h>
#include <vdev/pci.h>

#include "shmem_dev.h"

uint64_t shmem_window_base(const struct shmem *s)
{
    if (s->pci)
        return vdev_pci_bar_base(s->f, SHMEM_BAR_WINDOW);
    return s->mmio_win_base;
}

/* ---- interrupts (lock held) ---- */

/* Whether any attachment has news the guest has not read through its status: pending
 * notifications, or an attach bitmap other than the one it last saw. */
static bool has_news(struct shmem *s)
{
    for (unsigned i = 0; i < SHMEM_MAX_ATTACH; i++) {
        struct shmem_att *a = &s->att[i];
        if (a->state == ATT_LIVE &&
            ((shm_client_pending(a->cl) & 0xffffu) || shm_obj_attached(a->obj) != a->seen))
            return true;
    }
    return false;
}

/* The line (INTx or `intr`) is level-triggered: asserted while there is news. With MSI-X
 * on it stays low: news raises vector 0 instead (raise_vector). */
static void update_level(struct shmem *s)
{
    bool want = !s->msix && has_news(s);
    if (want == s->level)
        return;
    s->level = want;
    if (s->pci)
        vdev_pci_set_intx(s->f, want);
    else
        vdev_irq_set_level(s->d, want);
}

/* Vector 0, an edge: raised for every change, outside the lock (it may be an ioctl). */
static void raise_vector(struct shmem *s)
{
    vdev_pci_msix_notify(s->f, 0);
}

/* Publishes (or withdraws, efd -1) the doorbell of every live attachment. */
static void set_doorbells(struct shmem *s, int efd)
{
    for (unsigned i = 0; i < SHMEM_MAX_ATTACH; i++)
        if (s->att[i].state == ATT_LIVE)
            shm_client_set_doorbell(s->att[i].cl, efd);
}

/* The host layer's callback (its watcher thread): a notification, an attach or a detach. */
static void region_changed(void *arg)
{
    struct shmem *s = arg;
    pthread_mutex_lock(&s->lock);
    bool msix = s->msix;
    if (!msix)
        update_level(s);
    pthread_mutex_unlock(&s->lock);
    if (msix)
        raise_vector(s);
}

void shmem_msix_changed(void *opaque, bool enabled)
{
    struct shmem *s = opaque;
    pthread_mutex_lock(&s->lock);
    s->msix = enabled;
    /* Doorbells first: from now on notifiers either raise the vector themselves or wake
     * our watcher, and whatever they set before is in the pending bits read below. */
    set_doorbells(s, enabled ? s->msix_efd : -1);
    update_level(s); /* MSI-X on: the line drops; off: it follows the news again */
    bool news = enabled && has_news(s);
    pthread_mutex_unlock(&s->lock);
    if (news)
        raise_vector(s);
}

/* ---- control pages ---- */

static bool detach_begin(struct shmem *s, struct shmem_att *a);
static void detach_end(struct shmem *s, struct shmem_att *a);

static uint64_t ctl_read(void *opaque, uint64_t off, unsigned size)
{
    struct shmem_map *m = opaque;
    struct shmem *s = m->s;
    uint8_t img[16] = {0};
    pthread_mutex_lock(&s->lock);
    if (m->live) {
        struct shmem_att *a = m->att;
        uint32_t st;
        if (off == SHMEM_C_STATUS && size >= 4) {
            /* The status read: clears the notification bits, shows the attach list. */
            st = shm_client_read_status(a->cl);
            a->seen = st >> 16;
            update_level(s);
        } else {
            st = (shm_client_pending(a->cl) & 0xffffu) | shm_obj_attached(a->obj) << 16;
        }
        uint32_t idx = shm_client_idx(a->cl);
        memcpy(img + SHMEM_C_STATUS, &st, 4);
        memcpy(img + SHMEM_C_IDX, &idx, 4);
    }
    pthread_mutex_unlock(&s->lock);
    uint64_t v = 0;
    if (off < sizeof(img))
        memcpy(&v, img + off, off + size <= sizeof(img) ? size : sizeof(img) - off);
    return v;
}

static void ctl_write(void *opaque, uint64_t off, unsigned size, uint64_t value)
{
    struct shmem_map *m = opaque;
    struct shmem *s = m->s;
    pthread_mutex_lock(&s->lock);
    if (!m->live) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    struct shmem_att *a = m->att;
    if (off <= SHMEM_C_NOTIFY && off + size >= SHMEM_C_NOTIFY + 4) {
        uint32_t mask = (uint32_t)(value >> (8 * (SHMEM_C_NOTIFY - off)));
        /* ~0: everyone but me; otherwise the 16 client bits */
        shm_client_notify(a->cl, mask == ~0u ? ~0u : mask & 0xffffu);
    }
    /* Decided under the same lock as the check of m->live: the slot cannot be reused by a
     * new attachment in between. */
    bool going = off < SHMEM_C_DETACH + 4 && off + size > SHMEM_C_DETACH && detach_begin(s, a);
    pthread_mutex_unlock(&s->lock);
    if (going)
        detach_end(s, a);
}

static const struct vdev_region_ops ctl_ops = {
    .size = sizeof(struct vdev_region_ops), .read = ctl_read, .write = ctl_write, .sizes = 0xf};

/* ---- attach and detach ---- */

/* First-fit window space for `len` bytes (lock held): 0 with *off, or -1. */
static int alloc_space(struct shmem *s, uint64_t len, uint64_t *off)
{
    uint64_t cand = 0;
    for (bool moved = true; moved;) {
        moved = false;
        if (len > s->window_size || cand > s->window_size - len)
            return -1;
        for (unsigned i = 0; i < SHMEM_MAX_ATTACH; i++) {
            const struct shmem_att *a = &s->att[i];
            uint64_t alen = (a->pages + 1) * SHMEM_PAGE;
            if (a->state != ATT_FREE && cand < a->off + alen && a->off < cand + len) {
                cand = a->off + alen;
                moved = true;
            }
        }
    }
    *off = cand;
    return 0;
}

static const char *status_name(int st)
{
    static const char *const names[] = {
        "ok",           "unknown failure", "no memory",     "client max",
        "illegal name", "no permission",   "does not exist"};
    return st >= 0 && st <= SHM_DOES_NOT_EXIST ? names[st] : "?";
}

/* A guest-chosen name for the log: printable bytes only; out has room for n + 1. */
static void printable(char *out, const uint8_t *in, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n && in[i]; i++)
        out[j++] = in[i] >= 0x20 && in[i] < 0x7f ? (char)in[i] : '?';
    out[j] = 0;
}

/* Messages a guest can provoke at will are limited, so a loop cannot flood the log. */
#define GUEST_LOG_BUDGET 32

static bool guest_log_ok(struct shmem *s)
{
    if (s->guest_logs >= GUEST_LOG_BUDGET)
        return false;
    if (++s->guest_logs == GUEST_LOG_BUDGET)
        vdev_info(s->d, "further refusals are not logged until the VM restarts");
    return s->guest_logs < GUEST_LOG_BUDGET;
}

/* Create-or-attach (`size` written: create true) or attach only (`find`). Lock held. */
static int attach(struct shmem *s, uint64_t want_pages, bool create)
{
    struct vdev *d = s->d;
    char guest[SHMEM_NAME_FIELD], host[SHMEM_HOST_NAME_MAX + 1], why[256] = "";
    if (shmem_name_from_field(s->name, guest) != SHM_OK)
        return SHM_ILLEGAL_NAME;
    if (!shmem_policy_permits(&s->pol, guest)) {
        if (guest_log_ok(s))
            vdev_info(d, "region '%s': denied by the allow/deny list", guest);
        return SHM_NO_PERMISSION;
    }
    if (shmem_policy_host_name(&s->pol, guest, host, sizeof(host)) != SHM_OK)
        return SHM_ILLEGAL_NAME;
    struct shmem_att *a = NULL;
    for (unsigned i = 0; i < SHMEM_MAX_ATTACH && !a; i++)
        if (s->att[i].state == ATT_FREE)
            a = &s->att[i];
    unsigned life_cap = shmem_life_maps();
    if (s->life_maps >= life_cap) {
        if (!s->life_logged)
            vdev_warn(d, "the guest attached %u regions: no more until the VM restarts", life_cap);
        s->life_logged = true;
        return SHM_UNKNOWN;
    }
    if (!s->win)
        return SHM_UNKNOWN;
    /* A size that cannot fit only attaches an existing region (its creator decided). */
    uint64_t room = s->window_size / SHMEM_PAGE - 1;
    if (want_pages == 0 || want_pages > room || want_pages > SHM_OBJ_MAX_PAGES)
        create = false;
    /* No attachment slot: a create stops here (nothing is made that nobody holds); a find
     * still says whether the region exists, DOES_NOT_EXIST before NO_MEMORY. */
    if (!a && create)
        return SHM_NO_MEMORY;
    struct shm_open_args args = {
        .pages = create ? want_pages : 1,
        .create = create,
        .mode = 0666u & ~s->umask,
        .gid = s->gid,
        .who = vdev_machine_system_name(vdev_machine_of(d)),
    };
    struct shm_obj *o = NULL;
    int st = shm_obj_open(host, &args, &o, why, sizeof(why));
    if (st == SHM_DOES_NOT_EXIST && want_pages && want_pages > room && !args.create)
        st = SHM_NO_MEMORY; /* it would have been created, but it cannot fit */
    if (st != SHM_OK) {
        if (why[0] && guest_log_ok(s))
            vdev_info(d, "region '%s': %s (%s)", host, status_name(st), why);
        return st;
    }
    uint64_t pages = shm_obj_pages(o), off = 0;
    if (!a || pages == 0 || pages > room || alloc_space(s, (pages + 1) * SHMEM_PAGE, &off)) {
        shm_obj_close(o);
        return SHM_NO_MEMORY;
    }
    struct shm_client *cl = NULL;
    st = shm_client_attach(o, region_changed, s, &cl);
    if (st != SHM_OK) {
        shm_obj_close(o);
        return st;
    }
    struct shmem_map *m = calloc(1, sizeof(*m));
    struct vdev_region *rctl = NULL, *rdata = NULL;
    struct vdev_err err = {0};
    if (m) {
        s->life_maps++; /* every handle counts: they are kept until the VM ends */
        m->s = s;
        m->att = a;
        m->next = s->maps;
        s->maps = m;
        struct vdev_region_desc ctl = {.owner = vdev_label(d),
                                       .space = VDEV_SPACE_MEM,
                                       .kind = VDEV_REGION_DEVICE,
                                       .base = off,
                                       .size = SHMEM_PAGE,
                                       .ops = &ctl_ops,
                                       .opaque = m};
        struct vdev_region_desc data = {.owner = vdev_label(d),
                                        .space = VDEV_SPACE_MEM,
                                        .kind = VDEV_REGION_DEVMEM,
                                        .base = off + SHMEM_PAGE,
                                        .size = pages * SHMEM_PAGE,
                                        .host = shm_obj_data(o)};
        if (vdev_region_add_child(s->win, &ctl, &rctl, &err) == 0 &&
            vdev_region_add_child(s->win, &data, &rdata, &err) != 0) {
            vdev_region_remove(rctl);
            rctl = NULL;
        }
    }
    if (!rctl) {
        vdev_log(d, VDEV_LOG_ERROR, "region '%s': %s", host, m ? err.msg : "out of memory");
        /* Undo without the lock: detaching may wait for our callback. The slot stays free
         * and nothing of it was written. */
        pthread_mutex_unlock(&s->lock);
        shm_client_detach(cl);
        shm_obj_close(o);
        pthread_mutex_lock(&s->lock);
        return m ? SHM_UNKNOWN : SHM_NO_MEMORY;
    }
    a->ctl = rctl;
    a->data = rdata;
    m->live = true;
    a->map = m;
    a->obj = o;
    a->cl = cl;
    a->off = off;
    a->pages = pages;
    a->seen = shm_obj_attached(o);
    memcpy(a->name, guest, sizeof(guest));
    a->state = ATT_LIVE;
    if (s->msix)
        shm_client_set_doorbell(cl, s->msix_efd);
    s->size = (uint32_t)pages;
    s->last_off = off;
    s->has_last = true;
    vdev_debug(d, "region '%s' (host '%s'): client %u, %" PRIu64 " pages at 0x%" PRIx64, guest,
               host, shm_client_idx(cl), pages, shmem_window_base(s) + off);
    return SHM_OK;
}

/* Detaching is two steps because shm_client_detach may wait for region_changed, which
 * takes the lock. detach_begin (lock held): the guest loses the pages at once and the
 * slot keeps its window range; detach_end (lock not held): the host side lets go. */
static bool detach_begin(struct shmem *s, struct shmem_att *a)
{
    if (a->state != ATT_LIVE)
        return false;
    a->state = ATT_GOING;
    a->map->live = false;
    vdev_region_remove(a->data);
    vdev_region_remove(a->ctl);
    return true;
}

static void detach_end(struct shmem *s, struct shmem_att *a)
{
    shm_client_detach(a->cl); /* the others are told */
    shm_obj_close(a->obj);
    pthread_mutex_lock(&s->lock);
    a->cl = NULL;
    a->obj = NULL;
    a->ctl = a->data = NULL;
    a->map = NULL;
    a->state = ATT_FREE;
    update_level(s);
    pthread_mutex_unlock(&s->lock);
}

void shmem_detach_all(struct shmem *s)
{
    for (unsigned i = 0; i < SHMEM_MAX_ATTACH; i++) {
        pthread_mutex_lock(&s->lock);
        bool going = detach_begin(s, &s->att[i]);
        pthread_mutex_unlock(&s->lock);
        if (going)
            detach_end(s, &s->att[i]);
    }
    pthread_mutex_lock(&s->lock);
    s->status = SHM_OK;
    s->size = 0;
    memset(s->name, 0, sizeof(s->name));
    s->has_last = false;
    s->last_off = 0;
    update_level(s);
    pthread_mutex_unlock(&s->lock);
}

void shmem_free_maps(struct shmem *s)
{
    while (s->maps) {
        struct shmem_map *m = s->maps;
        s->maps = m->next;
        free(m);
    }
}

/* ---- the factory page ---- */

uint64_t shmem_factory_read(struct shmem *s, uint64_t off, unsigned size)
{
    uint8_t img[SHMEM_F_END] = {0};
    uint64_t sig = SHMEM_SIGNATURE, addr;
    pthread_mutex_lock(&s->lock);
    addr = s->has_last ? shmem_window_base(s) + s->last_off : 0;
    memcpy(img + SHMEM_F_SIGNATURE, &sig, 8);
    memcpy(img + SHMEM_F_SHMEM, &addr, 8);
    memcpy(img + SHMEM_F_VECTOR, &s->vector, 4);
    memcpy(img + SHMEM_F_STATUS, &s->status, 4);
    memcpy(img + SHMEM_F_SIZE, &s->size, 4);
    memcpy(img + SHMEM_F_NAME, s->name, SHMEM_NAME_FIELD);
    pthread_mutex_unlock(&s->lock); /* find reads 0: it is write-only */
    uint64_t v = 0;
    if (off < SHMEM_F_END)
        memcpy(&v, img + off, off + size <= SHMEM_F_END ? size : SHMEM_F_END - off);
    return v;
}

void shmem_factory_write(struct shmem *s, uint64_t off, unsigned size, uint64_t value)
{
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < size; i++) {
        uint64_t at = off + i;
        if (at >= SHMEM_F_NAME && at < SHMEM_F_NAME + SHMEM_NAME_FIELD)
            s->name[at - SHMEM_F_NAME] = (uint8_t)(value >> (8 * i));
    }
    if (size == 4 && (off == SHMEM_F_SIZE || off == SHMEM_F_FIND)) {
        bool create = off == SHMEM_F_SIZE;
        if (create)
            s->size = (uint32_t)value;
        s->status = (uint32_t)attach(s, create ? (uint32_t)value : 0, create);
        if (s->status != SHM_OK) {
            char shown[SHMEM_NAME_FIELD + 1];
            printable(shown, s->name, sizeof(s->name));
            vdev_debug(s->d, "%s '%s': %s", create ? "create" : "find", shown,
                       status_name((int)s->status));
        }
    }
    pthread_mutex_unlock(&s->lock);
}

/* ---- status ---- */

void shmem_print_status(struct shmem *s, FILE *out)
{
    pthread_mutex_lock(&s->lock);
    uint64_t base = shmem_window_base(s);
    fprintf(out, "window 0x%" PRIx64 "+0x%" PRIx64, base, s->window_size);
    if (s->msix)
        fprintf(out, ", MSI-X on (%s)", s->msix_efd >= 0 ? "doorbells" : "no doorbells");
    unsigned n = 0;
    for (unsigned i = 0; i < SHMEM_MAX_ATTACH; i++) {
        const struct shmem_att *a = &s->att[i];
        if (a->state != ATT_LIVE)
            continue;
        fprintf(out, "%s '%s' idx %u, %" PRIu64 " pages at 0x%" PRIx64,
                n++ ? ";" : "; regions:", a->name, shm_client_idx(a->cl), a->pages, base + a->off);
    }
    if (!n)
        fprintf(out, "; no region attached");
    if (s->life_maps)
        fprintf(out, "; %u attaches so far", s->life_maps);
    pthread_mutex_unlock(&s->lock);
}
