/* The buses a platform adds to a machine (the PCI host bridge): the core places devices on
 * them and drives them through their hooks, never through their code. */
#include "internal.h"

int vdev_machine_add_bus_provider(struct vdev_machine *m, const struct vdev_bus_provider *p,
                                  void *bus, struct vdev_err *err)
{
    if (!m || !p || p->size < sizeof(*p) || !p->name || !p->claim || !p->reserve || !p->alloc)
        return vdev_err_set(err, "bus provider: no machine or a bad description");
    if (m->built)
        return vdev_err_set(err, "%s: add it before building the machine", p->name);
    if (vdev_bus_for(m, p->kind))
        return vdev_err_set(err, "%s: the machine already has a bus for its locations", p->name);
    if (m->nbuses == VDEV_MAX_BUS_PROVIDERS)
        return vdev_err_set(err, "%s: too many buses", p->name);
    m->buses[m->nbuses++] = (struct vdev_bus_slot){.p = p, .bus = bus};
    return 0;
}

void *vdev_machine_bus_provider(const struct vdev_machine *m, const struct vdev_bus_provider *p)
{
    for (size_t i = 0; m && i < m->nbuses; i++)
        if (m->buses[i].p == p)
            return m->buses[i].bus;
    return NULL;
}

const struct vdev_bus_slot *vdev_bus_for(const struct vdev_machine *m, enum vdev_loc_kind kind)
{
    for (size_t i = 0; i < m->nbuses; i++)
        if (m->buses[i].p->kind == kind)
            return &m->buses[i];
    return NULL;
}
