/* MSI-X (PCI Local Bus 3.0, 6.8.2): the capability, the vector table and the pending bits.
 *
 * The table is written by vCPU threads (under msix->lock); vdev_pci_msix_notify runs on
 * device threads and takes no lock: it reads the mask bits atomically and either triggers
 * the vector's irqfd or sets its pending bit. A vector masked while a notify is in flight
 * is settled by whoever clears the pending bit: the notifier after setting it re-checks
 * the masks, the unmasking vCPU clears the bit after unmasking, and only the one that
 * actually cleared it fires.
 *
 * A vector whose eventfd was handed out (vdev_pci_msix_vector_eventfd: another process
 * writes it) is written without us: its irqfd is unbound from the embedder whenever the
 * vector cannot fire, so those writes stay in the eventfd's count; the count is folded into
 * the pending bit when the vector becomes live again (then bound again, and the pending bit
 * fires it once) or when the guest reads the PBA. Vectors never handed out (virtio) keep
 * their irqfd bound: nothing changes for them.
 */
#include <stdlib.h>
#include <string.h>

#include "pci_internal.h"

int vdev_pci_msix_init(struct vdev_pci_func *f, unsigned nvec, unsigned bar, uint64_t table_offset,
                       uint64_t pba_offset, struct vdev_err *err)
{
    const char *who = f->d ? vdev_label(f->d) : "host bridge";
    if (f->msix)
        return vdev_err_set(err, "%s: MSI-X set up twice", who);
    if (nvec == 0 || nvec > PCI_MSIX_MAXVEC)
        return vdev_err_set(err, "%s: MSI-X takes 1-%u vectors, not %u", who, PCI_MSIX_MAXVEC,
                            nvec);
    if (bar >= PCI_NBARS || !f->bars[bar].used || (f->bars[bar].desc.flags & VDEV_PCI_BAR_IO) ||
        f->bars[bar].desc.kind != VDEV_REGION_DEVICE)
        return vdev_err_set(err, "%s: MSI-X needs a declared, trapped memory BAR (BAR%u is not)",
                            who, bar);
    const uint64_t size = f->bars[bar].desc.size;
    const uint64_t tlen = (uint64_t)nvec * PCI_MSIX_ENTRY_SIZE, plen = (nvec + 63) / 64 * 8;
    if ((table_offset & 7) || (pba_offset & 7) || table_offset > size ||
        tlen > size - table_offset || pba_offset > size || plen > size - pba_offset ||
        (table_offset < pba_offset + plen && pba_offset < table_offset + tlen) ||
        table_offset > 0xffffffffu || pba_offset > 0xffffffffu)
        return vdev_err_set(err,
                            "%s: MSI-X table (0x%llx) and PBA (0x%llx) must be 8-byte "
                            "aligned, apart, and inside BAR%u",
                            who, (unsigned long long)table_offset, (unsigned long long)pba_offset,
                            bar);
    uint8_t body[10] = {0};
    uint16_t ctrl = (uint16_t)(nvec - 1);
    uint32_t t = (uint32_t)table_offset | bar, p = (uint32_t)pba_offset | bar;
    memcpy(body, &ctrl, 2);
    memcpy(body + 2, &t, 4);
    memcpy(body + 6, &p, 4);
    uint8_t off;
    if (vdev_pci_add_cap(f, PCI_CAP_ID_MSIX, body, sizeof(body), &off, err))
        return -1;
    struct pci_msix *x = calloc(1, sizeof(*x));
    if (!x || !(x->vec = calloc(nvec, sizeof(*x->vec))) ||
        !(x->pba = calloc((nvec + 63) / 64, sizeof(*x->pba))))
        abort();
    x->nvec = nvec;
    x->bar = bar;
    x->table_off = table_offset;
    x->pba_off = pba_offset;
    x->cap = off;
    pthread_mutex_init(&x->lock, NULL);
    for (unsigned i = 0; i < nvec; i++)
        atomic_store(&x->vec[i].ctrl, PCI_MSIX_CTRL_MASK);
    f->wmask[off + 3] = (PCI_MSIX_ENABLE | PCI_MSIX_FUNC_MASK) >> 8;
    f->msix = x;
    return 0;
}

bool vdev_pci_msix_enabled(const struct vdev_pci_func *f)
{
    return f->msix && atomic_load(&f->msix->enabled);
}

/* The vector's message, with the function's requester ID (an ITS routes by it). */
static struct vdev_msi vec_msi(const struct vdev_pci_func *f, struct pci_msix_vec *v)
{
    struct vdev_msi m = {.addr =
                             (uint64_t)atomic_load(&v->addr_hi) << 32 | atomic_load(&v->addr_lo),
                         .data = atomic_load(&v->data),
                         .requester_id = (uint16_t)(f->bus << 8 | f->dev << 3 | f->fn),
                         .flags = VDEV_MSI_REQUESTER_ID};
    return m;
}

static void fire(struct vdev_pci_func *f, struct pci_msix_vec *v)
{
    struct vdev_irqfd *fd = atomic_load_explicit(&v->irqfd, memory_order_acquire);
    if (fd) {
        vdev_irqfd_trigger(fd);
    } else {
        struct vdev_msi m = vec_msi(f, v);
        vdev_machine_send_msi(f->host->m, &m);
    }
}

static bool vec_live(const struct pci_msix *x, struct pci_msix_vec *v)
{
    return atomic_load(&x->enabled) && !atomic_load(&x->masked) &&
           !(atomic_load(&v->ctrl) & PCI_MSIX_CTRL_MASK);
}

int vdev_pci_msix_notify(struct vdev_pci_func *f, unsigned vec)
{
    struct pci_msix *x = f->msix;
    if (!x || vec >= x->nvec || !atomic_load(&x->enabled))
        return -1;
    struct pci_msix_vec *v = &x->vec[vec];
    if (vec_live(x, v)) {
        fire(f, v);
        return 0;
    }
    const uint64_t bit = UINT64_C(1) << (vec % 64);
    atomic_fetch_or(&x->pba[vec / 64], bit);
    /* The guest may have unmasked between the check and the pending bit. */
    if (vec_live(x, v) && (atomic_fetch_and(&x->pba[vec / 64], ~bit) & bit))
        fire(f, v);
    return 0;
}

/* Points the vector's irqfd at its current message (vCPU thread, x->lock held): made on
 * first use, so an unused vector costs no eventfd. */
static void sync_vector(struct vdev_pci_func *f, struct pci_msix_vec *v)
{
    struct vdev_msi m = vec_msi(f, v);
    struct vdev_irqfd *fd = atomic_load(&v->irqfd);
    if (!fd) {
        struct vdev_err e;
        fd = vdev_irqfd_msi(f->d, &m, &e);
        if (!fd)
            return; /* fire() falls back to sending the message itself */
        v->programmed = m;
        atomic_store_explicit(&v->irqfd, fd, memory_order_release);
    } else if (v->programmed.addr != m.addr || v->programmed.data != m.data) {
        vdev_irqfd_set_msi(fd, &m);
        v->programmed = m;
    }
}

/* An exported vector that cannot fire (x->lock held): unbound, so writes pend; what was
 * written while MSI-X was off is dropped, as vdev_pci_msix_notify drops it. */
static void park_vector(struct pci_msix *x, struct pci_msix_vec *v)
{
    struct vdev_irqfd *fd = atomic_load(&v->irqfd);
    if (v->bound) {
        vdev_irqfd_set_bound(fd, false);
        v->bound = false;
    }
    if (!atomic_load(&x->enabled))
        vdev_irqfd_take(fd);
}

/* Folds the writes an unbound exported vector got into its pending bit (x->lock held). */
static void fold_vector(struct pci_msix *x, unsigned i)
{
    struct pci_msix_vec *v = &x->vec[i];
    if (v->exported && !v->bound && atomic_load(&x->enabled) &&
        vdev_irqfd_take(atomic_load(&v->irqfd)))
        atomic_fetch_or(&x->pba[i / 64], UINT64_C(1) << (i % 64));
}

/* Settles vector i after a change (x->lock held). A vector that can fire now takes its
 * message, then delivers what was pending; an exported one that cannot is parked. `fresh`:
 * MSI-X was just turned on (writes made while it was off do not count). */
static void arm_vector(struct vdev_pci_func *f, unsigned i, bool fresh)
{
    struct pci_msix *x = f->msix;
    struct pci_msix_vec *v = &x->vec[i];
    if (fresh && v->exported && !v->bound)
        vdev_irqfd_take(atomic_load(&v->irqfd));
    if (!vec_live(x, v)) {
        if (v->exported)
            park_vector(x, v);
        return;
    }
    sync_vector(f, v);
    if (v->exported && !v->bound) {
        fold_vector(x, i);
        /* Bound with the count consumed: the pending bit below fires it exactly once. */
        vdev_irqfd_set_bound(atomic_load(&v->irqfd), true);
        v->bound = true;
    }
    const uint64_t bit = UINT64_C(1) << (i % 64);
    if (atomic_load(&x->pba[i / 64]) & bit && (atomic_fetch_and(&x->pba[i / 64], ~bit) & bit))
        fire(f, v);
}

int vdev_pci_msix_vector_eventfd(struct vdev_pci_func *f, unsigned vec, struct vdev_err *err)
{
    struct pci_msix *x = f->msix;
    if (!x || vec >= x->nvec)
        return vdev_err_set(err, "%s: no MSI-X vector %u", f->name, vec);
    pthread_mutex_lock(&x->lock);
    struct pci_msix_vec *v = &x->vec[vec];
    struct vdev_irqfd *fd = atomic_load(&v->irqfd);
    if (!fd) {
        struct vdev_msi m = vec_msi(f, v);
        fd = vdev_irqfd_msi(f->d, &m, err);
        if (!fd) {
            pthread_mutex_unlock(&x->lock);
            return -1;
        }
        v->programmed = m;
        atomic_store_explicit(&v->irqfd, fd, memory_order_release);
    }
    if (!v->exported) {
        v->exported = true;
        v->bound = true; /* as made: bound (or watched) */
        arm_vector(f, vec, false);
    }
    pthread_mutex_unlock(&x->lock);
    return vdev_irqfd_fd(fd);
}

void pci_msix_control_written(struct vdev_pci_func *f)
{
    struct pci_msix *x = f->msix;
    uint16_t ctrl = (uint16_t)(f->cfg[x->cap + 2] | f->cfg[x->cap + 3] << 8);
    const bool on = (ctrl & PCI_MSIX_ENABLE) != 0;
    pthread_mutex_lock(&x->lock);
    const bool was = atomic_load(&x->enabled);
    atomic_store(&x->enabled, on);
    atomic_store(&x->masked, (ctrl & PCI_MSIX_FUNC_MASK) != 0);
    for (unsigned i = 0; i < x->nvec; i++)
        arm_vector(f, i, on && !was);
    pthread_mutex_unlock(&x->lock);
    if (on != was && FUNC_HOOK(f, msix_changed))
        FUNC_HOOK(f, msix_changed)(f->opaque, on);
}

static bool in_range(uint64_t off, unsigned size, uint64_t lo, uint64_t len)
{
    return off < lo + len && lo < off + size;
}

bool pci_msix_owns(const struct vdev_pci_func *f, unsigned bar, uint64_t off, unsigned size)
{
    const struct pci_msix *x = f->msix;
    return x && x->bar == bar &&
           (in_range(off, size, x->table_off, (uint64_t)x->nvec * PCI_MSIX_ENTRY_SIZE) ||
            in_range(off, size, x->pba_off, (x->nvec + 63) / 64 * 8));
}

static uint32_t table_dword(struct pci_msix *x, uint64_t rel)
{
    struct pci_msix_vec *v = &x->vec[rel / PCI_MSIX_ENTRY_SIZE];
    switch ((rel % PCI_MSIX_ENTRY_SIZE) / 4) {
    case 0:
        return atomic_load(&v->addr_lo);
    case 1:
        return atomic_load(&v->addr_hi);
    case 2:
        return atomic_load(&v->data);
    default:
        return atomic_load(&v->ctrl);
    }
}

static uint32_t read_dword(struct pci_msix *x, uint64_t off)
{
    const uint64_t tlen = (uint64_t)x->nvec * PCI_MSIX_ENTRY_SIZE;
    if (off >= x->table_off && off - x->table_off < tlen)
        return table_dword(x, off - x->table_off);
    if (off >= x->pba_off && off - x->pba_off < (x->nvec + 63) / 64 * 8) {
        uint64_t rel = off - x->pba_off;
        return (uint32_t)(atomic_load(&x->pba[rel / 8]) >> (rel % 8 * 8));
    }
    return 0;
}

uint64_t pci_msix_read(struct vdev_pci_func *f, uint64_t off, unsigned size)
{
    struct pci_msix *x = f->msix;
    if (off & (size - 1))
        return 0; /* the spec leaves unaligned accesses undefined: read zero */
    if (in_range(off, size, x->pba_off, (x->nvec + 63) / 64 * 8)) {
        /* Outside writes to a parked exported vector show as its pending bit. */
        pthread_mutex_lock(&x->lock);
        for (unsigned i = 0; i < x->nvec; i++)
            fold_vector(x, i);
        pthread_mutex_unlock(&x->lock);
    }
    uint64_t lo = read_dword(x, off & ~UINT64_C(3));
    if (size == 8)
        return lo | (uint64_t)read_dword(x, off + 4) << 32;
    return (lo >> (off % 4 * 8)) & (size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1);
}

/* One dword of the table (x->lock held). */
static void write_dword(struct vdev_pci_func *f, uint64_t off, uint32_t value, uint32_t mask)
{
    struct pci_msix *x = f->msix;
    const uint64_t tlen = (uint64_t)x->nvec * PCI_MSIX_ENTRY_SIZE;
    if (off < x->table_off || off - x->table_off >= tlen)
        return; /* the PBA is read-only */
    uint64_t rel = off - x->table_off;
    unsigned i = (unsigned)(rel / PCI_MSIX_ENTRY_SIZE);
    struct pci_msix_vec *v = &x->vec[i];
    _Atomic uint32_t *field[4] = {&v->addr_lo, &v->addr_hi, &v->data, &v->ctrl};
    unsigned which = (unsigned)(rel % PCI_MSIX_ENTRY_SIZE) / 4;
    uint32_t writable = which == 0 ? ~3u : which == 3 ? PCI_MSIX_CTRL_MASK : ~0u;
    mask &= writable;
    uint32_t old = atomic_load(field[which]);
    atomic_store(field[which], (old & ~mask) | (value & mask));
    arm_vector(f, i, false);
}

void pci_msix_write(struct vdev_pci_func *f, uint64_t off, unsigned size, uint64_t value)
{
    struct pci_msix *x = f->msix;
    if (off & (size - 1))
        return;
    pthread_mutex_lock(&x->lock);
    if (size == 8) {
        write_dword(f, off, (uint32_t)value, ~0u);
        write_dword(f, off + 4, (uint32_t)(value >> 32), ~0u);
    } else {
        unsigned shift = (unsigned)(off % 4) * 8;
        uint32_t mask = (size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1) << shift;
        write_dword(f, off & ~UINT64_C(3), (uint32_t)value << shift, mask);
    }
    pthread_mutex_unlock(&x->lock);
}

void pci_msix_reset(struct vdev_pci_func *f)
{
    struct pci_msix *x = f->msix;
    pthread_mutex_lock(&x->lock);
    const bool was = atomic_load(&x->enabled);
    atomic_store(&x->enabled, false);
    atomic_store(&x->masked, false);
    for (unsigned i = 0; i < x->nvec; i++) {
        atomic_store(&x->vec[i].addr_lo, 0);
        atomic_store(&x->vec[i].addr_hi, 0);
        atomic_store(&x->vec[i].data, 0);
        atomic_store(&x->vec[i].ctrl, PCI_MSIX_CTRL_MASK);
    }
    for (unsigned i = 0; i < (x->nvec + 63) / 64; i++)
        atomic_store(&x->pba[i], 0);
    for (unsigned i = 0; i < x->nvec; i++)
        arm_vector(f, i, false); /* parks exported vectors */
    pthread_mutex_unlock(&x->lock);
    if (was && FUNC_HOOK(f, msix_changed))
        FUNC_HOOK(f, msix_changed)(f->opaque, false);
}

void pci_msix_free(struct vdev_pci_func *f)
{
    struct pci_msix *x = f->msix;
    for (unsigned i = 0; i < x->nvec; i++)
        vdev_irqfd_free(atomic_load(&x->vec[i].irqfd));
    pthread_mutex_destroy(&x->lock);
    free(x->vec);
    free((void *)x->pba);
    free(x);
    f->msix = NULL;
}
