/* virtio-pci interrupts (virtio 1.2 §4.1.4.5, §4.1.5.4): MSI-X vectors when the driver
 * enabled MSI-X, else the ISR status byte plus INTx. Notifications come from device threads,
 * ISR reads from vCPU threads. */
#include "virtio_pci.h"

static void raise_intx(struct vpci *t, uint8_t bits)
{
    pthread_mutex_lock(&t->isr_lock);
    t->isr |= bits;
    vdev_pci_set_intx(t->f, true);
    pthread_mutex_unlock(&t->isr_lock);
}

static void raise_vector(struct vpci *t, uint16_t vec)
{
    /* NO_VECTOR (or one the driver never mapped): no interrupt, as the spec says. */
    if (vec != VIRTIO_MSI_NO_VECTOR)
        vdev_pci_msix_notify(t->f, vec);
}

void vpci_notify_queue(void *opaque, unsigned q)
{
    struct vpci *t = opaque;
    if (q >= t->nq)
        return;
    if (vdev_pci_msix_enabled(t->f))
        raise_vector(t, atomic_load(&t->queue_vector[q]));
    else
        raise_intx(t, VPCI_ISR_QUEUE);
}

void vpci_notify_config(void *opaque)
{
    struct vpci *t = opaque;
    if (vdev_pci_msix_enabled(t->f)) {
        /* The config bit is set in either mode (§4.1.4.5.1); INTx stays quiet. */
        pthread_mutex_lock(&t->isr_lock);
        t->isr |= VPCI_ISR_CONFIG;
        pthread_mutex_unlock(&t->isr_lock);
        raise_vector(t, atomic_load(&t->config_vector));
    } else {
        raise_intx(t, VPCI_ISR_CONFIG);
    }
}

/* Reading the ISR returns its bits, clears them and deasserts INTx (§4.1.4.5). */
uint8_t vpci_isr_read_clear(struct vpci *t)
{
    pthread_mutex_lock(&t->isr_lock);
    uint8_t v = t->isr;
    t->isr = 0;
    if (v)
        vdev_pci_set_intx(t->f, false);
    pthread_mutex_unlock(&t->isr_lock);
    return v;
}

void vpci_irq_reset(struct vpci *t)
{
    pthread_mutex_lock(&t->isr_lock);
    t->isr = 0;
    vdev_pci_set_intx(t->f, false);
    pthread_mutex_unlock(&t->isr_lock);
}
