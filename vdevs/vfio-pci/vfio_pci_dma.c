/* Guest RAM in a passed device's IOMMU (IOVA = guest address), kept right as the memory map
 * changes: the device DMAs to guest RAM without the core seeing it. */
#include <errno.h>
#include <string.h>
#include <vdev/bus.h>
#include <vdev/machine.h>

#include "vfio_pci_dev.h"

/* Caller holds p->lock. A failure stops the VM: the device would DMA into nothing. */
static void map_ram(struct vdev *d, struct vfio_pci *p, const struct vdev_region_info *r)
{
    if (p->nram == VFIO_PCI_MAX_RAM) {
        vdev_log(d, VDEV_LOG_ERROR, "more than %d RAM regions to map for DMA", VFIO_PCI_MAX_RAM);
        vdev_request_stop(d, 1);
        return;
    }
    if (vfio_dma_map(&p->vf, r->base, r->size, r->host)) {
        vdev_log(d, VDEV_LOG_ERROR, "DMA map of guest RAM 0x%llx+0x%llx: %s",
                 (unsigned long long)r->base, (unsigned long long)r->size, strerror(errno));
        vdev_request_stop(d, 1);
        return;
    }
    p->ram[p->nram].gpa = r->base;
    p->ram[p->nram++].size = r->size;
}

static void unmap_at(struct vdev *d, struct vfio_pci *p, unsigned k)
{
    if (vfio_dma_unmap(&p->vf, p->ram[k].gpa, p->ram[k].size) && d)
        vdev_log(d, VDEV_LOG_ERROR, "DMA unmap of guest RAM 0x%llx: %s",
                 (unsigned long long)p->ram[k].gpa, strerror(errno));
    p->ram[k] = p->ram[--p->nram];
}

static bool is_ram(const struct vdev_region_info *r)
{
    return r->space == VDEV_SPACE_MEM && r->kind == VDEV_REGION_RAM && r->host && r->size;
}

struct start_walk {
    struct vdev *d;
    struct vfio_pci *p;
};

static void start_one(const struct vdev_region_info *r, void *arg)
{
    struct start_walk *w = arg;
    if (is_ram(r) && r->enabled)
        map_ram(w->d, w->p, r);
}

int vfio_pci_dma_start(struct vdev *d, struct vfio_pci *p)
{
    struct start_walk w = {d, p};
    pthread_mutex_lock(&p->lock);
    vdev_bus_foreach(vdev_machine_bus(vdev_machine_of(d)), VDEV_SPACE_MEM, start_one, &w);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

void vfio_pci_memory_changed(struct vdev *d, const struct vdev_region_info *r, bool map)
{
    struct vfio_pci *p = vdev_state(d);
    if (!is_ram(r) || !p->lock_ready)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->open) {
        for (unsigned k = 0; k < p->nram; k++)
            if (p->ram[k].gpa == r->base) {
                unmap_at(d, p, k); /* a moved or resized region: the old mapping goes */
                break;
            }
        if (map && r->enabled)
            map_ram(d, p, r);
    }
    pthread_mutex_unlock(&p->lock);
}

void vfio_pci_dma_stop(struct vfio_pci *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->nram)
        unmap_at(NULL, p, p->nram - 1);
    pthread_mutex_unlock(&p->lock);
}
