/* MSI (PCI Local Bus 3.0, 6.8.1): a 64-bit capability without per-vector masking, 1-32
 * vectors. The guest enables 2^MME of them; vector i sends the programmed address with the
 * programmed data's low log2(n) bits replaced by i.
 *
 * Each vector is an MSI irqfd made on first use. One handed out (vdev_pci_msi_vector_eventfd:
 * another process writes it) is bound only while it can fire, so writes made while MSI is
 * off, or to a vector past the enabled count, pend in the eventfd and are dropped when MSI
 * is turned on, as the device's own would be. Everything runs under msi->lock; the control
 * and message registers are written by vCPU threads with the configuration lock held.
 */
#include <stdlib.h>
#include <string.h>

#include "pci_internal.h"

#define MSI_ENABLE    0x0001u
#define MSI_MMC_SHIFT 1
#define MSI_MME_SHIFT 4
#define MSI_64BIT     0x0080u
#define MSI_MAXVEC    32

struct pci_msi_vec {
    struct vdev_irqfd *irqfd;
    bool bound, exported;
    struct vdev_msi programmed; /* what the irqfd carries */
};

struct pci_msi {
    unsigned nvec;
    uint8_t cap;
    pthread_mutex_t lock;
    _Atomic unsigned live; /* vectors enabled: 0 while MSI is off */
    struct pci_msi_vec vec[MSI_MAXVEC];
};

int vdev_pci_msi_init(struct vdev_pci_func *f, unsigned nvec, struct vdev_err *err)
{
    const char *who = f->d ? vdev_label(f->d) : "host bridge";
    if (!f->d || f->bars_assigned)
        return vdev_err_setc(err, VDEV_E_INVAL, "%s: MSI is set up in the assign hook", who);
    if (f->msi)
        return vdev_err_setc(err, VDEV_E_INVAL, "%s: MSI set up twice", who);
    if (nvec == 0 || nvec > MSI_MAXVEC || (nvec & (nvec - 1)))
        return vdev_err_setc(err, VDEV_E_INVAL,
                             "%s: MSI takes 1, 2, 4, 8, 16 or 32 vectors, not %u", who, nvec);
    unsigned mmc = 0;
    while ((1u << mmc) < nvec)
        mmc++;
    /* control, address low, address high, data, and two reserved bytes */
    uint8_t body[12] = {0};
    uint16_t ctrl = (uint16_t)(MSI_64BIT | mmc << MSI_MMC_SHIFT);
    memcpy(body, &ctrl, 2);
    uint8_t off;
    if (vdev_pci_add_cap(f, PCI_CAP_ID_MSI, body, sizeof(body), &off, err))
        return -1;
    struct pci_msi *m = calloc(1, sizeof(*m));
    if (!m)
        abort();
    m->nvec = nvec;
    m->cap = off;
    pthread_mutex_init(&m->lock, NULL);
    f->wmask[off + 2] = (uint8_t)(MSI_ENABLE | 7u << MSI_MME_SHIFT);
    memset(f->wmask + off + 4, 0xff, 8);
    f->wmask[off + 4] = 0xfc; /* dword-aligned address */
    memset(f->wmask + off + 12, 0xff, 2);
    memcpy(f->reset_cfg, f->cfg, sizeof(f->cfg));
    f->msi = m;
    return 0;
}

unsigned vdev_pci_msi_enabled(const struct vdev_pci_func *f)
{
    return f->msi ? atomic_load(&f->msi->live) : 0;
}

/* Vector i's message as the registers say now (config lock held). */
static struct vdev_msi vec_msg(const struct vdev_pci_func *f, unsigned live, unsigned i)
{
    const unsigned c = f->msi->cap;
    uint32_t data = get16(f->cfg + c + 12);
    if (live > 1)
        data = (data & ~(live - 1)) | i;
    return (struct vdev_msi){.addr = (uint64_t)get32(f->cfg + c + 8) << 32 | get32(f->cfg + c + 4),
                             .data = data,
                             .requester_id = (uint16_t)(f->bus << 8 | f->dev << 3 | f->fn),
                             .flags = VDEV_MSI_REQUESTER_ID};
}

/* Settles vector i after a change (m->lock held): live ones carry their message and are
 * bound; handed-out ones that cannot fire are unbound (`fresh`: MSI was just turned on,
 * so what was written while it was off is dropped). */
static void settle(struct vdev_pci_func *f, unsigned live, unsigned i, bool fresh)
{
    struct pci_msi_vec *v = &f->msi->vec[i];
    if (i < live && !v->irqfd) {
        v->programmed = vec_msg(f, live, i); /* what vdev_pci_msi_notify sends */
        return;
    }
    if (!v->irqfd)
        return;
    if (i >= live) {
        if (v->exported && v->bound) {
            vdev_irqfd_set_bound(v->irqfd, false);
            v->bound = false;
        }
        if (!live)
            vdev_irqfd_take(v->irqfd);
        return;
    }
    struct vdev_msi msg = vec_msg(f, live, i);
    if (msg.addr != v->programmed.addr || msg.data != v->programmed.data) {
        vdev_irqfd_set_msi(v->irqfd, &msg);
        v->programmed = msg;
    }
    if (!v->bound) {
        if (fresh)
            vdev_irqfd_take(v->irqfd);
        vdev_irqfd_set_bound(v->irqfd, true);
        v->bound = true;
    }
}

void pci_msi_written(struct vdev_pci_func *f)
{
    struct pci_msi *m = f->msi;
    const uint16_t ctrl = get16(f->cfg + m->cap + 2);
    unsigned live = 0;
    if (ctrl & MSI_ENABLE) {
        live = 1u << ((ctrl >> MSI_MME_SHIFT) & 7);
        if (live > m->nvec)
            live = m->nvec; /* more than offered: the spec leaves it undefined */
    }
    pthread_mutex_lock(&m->lock);
    const unsigned was = atomic_load(&m->live);
    atomic_store(&m->live, live);
    for (unsigned i = 0; i < m->nvec; i++)
        settle(f, live, i, live && !was);
    pthread_mutex_unlock(&m->lock);
    if (live != was && FUNC_HOOK(f, msi_changed))
        FUNC_HOOK(f, msi_changed)(f->opaque, live);
}

int vdev_pci_msi_vector_eventfd(struct vdev_pci_func *f, unsigned vec, struct vdev_err *err)
{
    struct pci_msi *m = f->msi;
    if (!m || vec >= m->nvec)
        return vdev_err_setc(err, VDEV_E_INVAL, "%s: no MSI vector %u", f->name, vec);
    pthread_mutex_lock(&m->lock);
    struct pci_msi_vec *v = &m->vec[vec];
    if (!v->irqfd) {
        /* the message of a live vector is kept current (settle); else it comes when it is */
        if (!(v->irqfd = vdev_irqfd_msi(f->d, &v->programmed, err))) {
            pthread_mutex_unlock(&m->lock);
            return -1;
        }
        v->bound = true; /* as made */
    }
    v->exported = true;
    const unsigned live = atomic_load(&m->live);
    if (vec >= live) {
        vdev_irqfd_set_bound(v->irqfd, false);
        v->bound = false;
    }
    pthread_mutex_unlock(&m->lock);
    return vdev_irqfd_fd(v->irqfd);
}

int vdev_pci_msi_notify(struct vdev_pci_func *f, unsigned vec)
{
    struct pci_msi *m = f->msi;
    if (!m || vec >= atomic_load(&m->live))
        return -1;
    pthread_mutex_lock(&m->lock);
    struct pci_msi_vec *v = &m->vec[vec];
    int rc = 0;
    if (vec >= atomic_load(&m->live))
        rc = -1;
    else if (v->irqfd)
        vdev_irqfd_trigger(v->irqfd);
    else
        rc = vdev_machine_send_msi(f->host->m, &v->programmed);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

void pci_msi_reset(struct vdev_pci_func *f)
{
    struct pci_msi *m = f->msi;
    pthread_mutex_lock(&m->lock);
    const unsigned was = atomic_load(&m->live);
    atomic_store(&m->live, 0);
    for (unsigned i = 0; i < m->nvec; i++)
        settle(f, 0, i, false);
    pthread_mutex_unlock(&m->lock);
    if (was && FUNC_HOOK(f, msi_changed))
        FUNC_HOOK(f, msi_changed)(f->opaque, 0);
}

bool pci_msi_owns(const struct vdev_pci_func *f, unsigned reg, unsigned size)
{
    return f->msi && reg < f->msi->cap + 14u && f->msi->cap < reg + size;
}

void pci_msi_free(struct vdev_pci_func *f)
{
    for (unsigned i = 0; i < f->msi->nvec; i++)
        vdev_irqfd_free(f->msi->vec[i].irqfd);
    pthread_mutex_destroy(&f->msi->lock);
    free(f->msi);
    f->msi = NULL;
}
