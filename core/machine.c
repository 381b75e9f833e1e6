/* The machine: configuration in, memory map and devices out, through the life-cycle. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sized.h"

struct vdev_machine *vdev_machine_new(const struct vdev_embedder_ops *ops, void *ctx)
{
    return vdev_machine_create(ops, ctx, 0, NULL);
}

struct vdev_machine *vdev_machine_create(const struct vdev_embedder_ops *ops, void *ctx,
                                         unsigned flags, struct vdev_err *err)
{
    if (flags) {
        vdev_err_setc(err, VDEV_E_INVAL, "vdev_machine_create: unknown flags 0x%x", flags);
        return NULL;
    }
    struct vdev_machine *m = calloc(1, sizeof(*m));
    if (!m) {
        vdev_err_setc(err, VDEV_E_NOMEM, "out of memory");
        return NULL;
    }
    /* The table is read where it is (the embedder may change a hook later), never past its
     * size (EMB_HOOK). */
    if (ops && ops->size < sizeof(ops->size)) {
        free(m);
        vdev_err_setc(err, VDEV_E_INVAL,
                      "embedder ops without a size (set .size = sizeof(struct vdev_embedder_ops))");
        return NULL;
    }
    m->ops = ops;
    m->ctx = ctx;
    m->stop_status = -1;
    vdev_config_init(&m->cfg);
    pthread_mutex_init(&m->log_lock, NULL);
    m->bus = vdev_bus_new();
    m->loop = vdev_event_loop_new(m);
    if (!m->bus || !m->loop) {
        vdev_machine_free(m);
        vdev_err_setc(err, VDEV_E_NOMEM, "out of memory");
        return NULL;
    }
    vdev_bus_set_listener(m->bus, NULL, NULL);
    return m;
}

void vdev_machine_free(struct vdev_machine *m)
{
    if (!m)
        return;
    /* Stop the event thread first so no callback runs into a terminating device. */
    if (m->loop)
        vdev_event_loop_stop(m->loop);
    vdev_control_close(m);
    for (size_t i = m->ndevs; i-- > 0;)
        if (m->devs[i]->type->terminate)
            m->devs[i]->type->terminate(m->devs[i]);
    vdev_virtio_free_all(m);
    for (size_t i = 0; i < m->nbuses; i++) /* their irqfds go before the event machinery */
        if (m->buses[i].p->destroy)
            m->buses[i].p->destroy(m->buses[i].bus);
    vdev_events_free_all(m);
    for (size_t i = 0; i < m->ndevs; i++)
        vdev_device_free(m->devs[i]);
    free(m->devs);
    vdev_event_loop_free(m->loop);
    vdev_bus_free(m->bus);
    for (size_t i = 0; i < m->npics; i++)
        free(m->pics[i].line_owner);
    vdev_platform_free_all(m);
    for (size_t i = 0; i < m->nmodule_dirs; i++)
        free(m->module_dirs[i]);
    vdev_config_free(&m->cfg);
    pthread_mutex_destroy(&m->log_lock);
    free(m);
}

/* Host-backed regions appearing or moving are the embedder's to map. */
static void memory_listener(void *arg, const struct vdev_region *r, bool map)
{
    struct vdev_machine *m = arg;
    struct vdev_region_info info;
    vdev_region_get_info(r, &info);
    if (EMB_HOOK(m, map_memory))
        EMB_HOOK(m, map_memory)(m->ctx, &info, map);
    for (size_t i = 0; i < m->ndevs; i++) {
        struct vdev *d = m->devs[i];
        if (VDEV_TYPE_HAS(d->type, memory_changed) && d->type->memory_changed)
            d->type->memory_changed(d, &info, map);
    }
}

int vdev_machine_reserve(struct vdev_machine *m, enum vdev_space space, uint64_t base,
                         uint64_t size, const char *owner, struct vdev_err *err)
{
    struct vdev_region_desc desc = {
        .owner = owner, .space = space, .kind = VDEV_REGION_RESERVED, .base = base, .size = size};
    return vdev_bus_add(m->bus, &desc, NULL, err);
}

/* The configuration is read before the build; afterwards nothing would act on it. */
static int parse_allowed(const struct vdev_machine *m, const char *fn, struct vdev_err *err)
{
    if (m->built)
        return vdev_err_setc(err, VDEV_E_INVAL,
                             "%s: the machine is already built (parse before vdev_machine_build)",
                             fn);
    return 0;
}

int vdev_machine_parse_args(struct vdev_machine *m, int argc, char *const argv[],
                            struct vdev_err *err)
{
    if (parse_allowed(m, "vdev_machine_parse_args", err))
        return -1;
    return vdev_config_parse_args(&m->cfg, argc, argv, err);
}

int vdev_machine_parse_file(struct vdev_machine *m, const char *path, struct vdev_err *err)
{
    if (parse_allowed(m, "vdev_machine_parse_file", err))
        return -1;
    return vdev_config_parse_file(&m->cfg, path, err);
}

int vdev_machine_parse_string(struct vdev_machine *m, const char *name, const char *text,
                              struct vdev_err *err)
{
    if (parse_allowed(m, "vdev_machine_parse_string", err))
        return -1;
    return vdev_config_parse_string(&m->cfg, name, text, err);
}

const struct vdev_config *vdev_machine_config(const struct vdev_machine *m)
{
    return &m->cfg;
}

struct vdev_bus *vdev_machine_bus(struct vdev_machine *m)
{
    return m->bus;
}

/* RAM and ROM from the configuration; `ram LEN` goes at the lowest free address. */
static int map_memory(struct vdev_machine *m, struct vdev_err *err)
{
    const struct vdev_config *cfg = &m->cfg;
    if (cfg->nmem == 0)
        return vdev_err_set(err, "the configuration has no 'ram' line, so the guest has no memory "
                                 "(hint: add e.g. 'ram 256M')");
    for (size_t i = 0; i < cfg->nmem; i++) {
        const struct vdev_mem_cfg *mc = &cfg->mem[i];
        const char *what = mc->rom ? "rom" : "ram";
        uint64_t base = mc->start;
        if (!mc->start_given &&
            vdev_bus_find_free(m->bus, VDEV_SPACE_MEM, 0, UINT64_MAX, mc->len, 4096, &base))
            return vdev_err_at(err, mc->pos, "%s: no free guest-physical range of 0x%llx bytes",
                               what, (unsigned long long)mc->len);
        struct vdev_region_desc desc = {.owner = what,
                                        .space = VDEV_SPACE_MEM,
                                        .kind = mc->rom ? VDEV_REGION_ROM : VDEV_REGION_RAM,
                                        .base = base,
                                        .size = mc->len};
        struct vdev_err berr;
        if (vdev_bus_add(m->bus, &desc, NULL, &berr))
            return vdev_err_atc(err, VDEV_AT_CODE(berr), mc->pos, "%s", berr.msg);
    }
    return 0;
}

static int apply_reserves(struct vdev_machine *m, struct vdev_err *err)
{
    const struct vdev_config *cfg = &m->cfg;
    for (size_t i = 0; i < cfg->nreserves; i++) {
        const struct vdev_reserve_cfg *rc = &cfg->reserves[i];
        char owner[64];
        snprintf(owner, sizeof(owner), "reserve (line %u)", rc->pos.line);
        struct vdev_err e;
        if (rc->loc.kind == VDEV_LOC_MEM || rc->loc.kind == VDEV_LOC_IO) {
            struct vdev_region_desc desc = {.owner = owner,
                                            .space = rc->loc.kind == VDEV_LOC_IO ? VDEV_SPACE_IO
                                                                                 : VDEV_SPACE_MEM,
                                            .kind = VDEV_REGION_RESERVED,
                                            .base = rc->loc.addr,
                                            .size = rc->loc.len ? rc->loc.len : 1};
            if (vdev_bus_add(m->bus, &desc, NULL, &e))
                return vdev_err_atc(err, VDEV_AT_CODE(e), rc->loc_pos, "reserve: %s", e.msg);
        } else if (rc->loc.kind == VDEV_LOC_PCI) {
            const struct vdev_bus_slot *pci = vdev_bus_for(m, VDEV_LOC_PCI);
            if (!pci)
                return vdev_err_at(err, rc->loc_pos, "reserve: this machine has no PCI bus");
            if (pci->p->reserve(pci->bus, &rc->loc, rc->pos.line, &e))
                return vdev_err_atc(err, VDEV_AT_CODE(e), rc->loc_pos, "reserve: %s", e.msg);
        }
        if (rc->intr.given) {
            uint32_t gsi;
            /* Kept for the line's lifetime: the owner string lives in the config. */
            if (vdev_claim_line(m, &rc->intr, "reserve", false, &gsi, rc->intr_pos, &e))
                return vdev_err_atc(err, VDEV_AT_CODE(e), rc->intr_pos, "reserve: %s", e.msg);
        }
    }
    return 0;
}

static int create_devices(struct vdev_machine *m, struct vdev_err *err)
{
    const struct vdev_config *cfg = &m->cfg;
    m->devs = calloc(cfg->nvdevs + 1, sizeof(*m->devs));
    if (!m->devs)
        abort();
    for (size_t i = 0; i < cfg->nvdevs; i++) {
        const struct vdev_vdev_cfg *vc = &cfg->vdevs[i];
        /* What the platform provides comes before a module of the same name. */
        struct vdev_platform_dev *pd = vdev_platform_find(m, vc->type);
        const struct vdev_type *t =
            pd ? vdev_platform_type(pd) : vdev_load_module(m, vc->type, vc->pos, err);
        if (!t)
            return -1;
        struct vdev *d = vdev_device_new(m, t, vc, i);
        d->platform = pd;
        m->devs[m->ndevs++] = d;
        if (vdev_apply_options(d, err))
            return -1;
        for (size_t j = 0; j + 1 < m->ndevs && d->user_name; j++)
            if (m->devs[j]->user_name && strcmp(m->devs[j]->user_name, d->user_name) == 0)
                return vdev_err_atc(err, VDEV_E_EXIST, vc->pos,
                                    "vdev %s: name '%s' is already used by vdev %s at %s:%u",
                                    t->name, d->user_name, m->devs[j]->type->name,
                                    m->devs[j]->cfg->pos.file, m->devs[j]->cfg->pos.line);
    }
    return 0;
}

/* How messages name each device: its `name`, else its type, numbered when there are several. */
static void label_devices(struct vdev_machine *m)
{
    for (size_t i = 0; i < m->ndevs; i++) {
        struct vdev *d = m->devs[i];
        size_t nth = 0, same = 0;
        for (size_t j = 0; j < m->ndevs; j++) {
            if (m->devs[j]->type != d->type)
                continue;
            same++;
            if (j <= i)
                nth = same;
        }
        if (d->user_name)
            snprintf(d->label, sizeof(d->label), "%s '%s'", d->type->name, d->user_name);
        else if (same > 1)
            snprintf(d->label, sizeof(d->label), "%s #%zu", d->type->name, nth);
        else
            snprintf(d->label, sizeof(d->label), "%s", d->type->name);
    }
}

int vdev_machine_build(struct vdev_machine *m, struct vdev_err *err)
{
    struct vdev_err local;
    if (!err)
        err = &local;
    err->msg[0] = '\0';
    if (m->built)
        return vdev_err_setc(err, VDEV_E_INVAL, "the machine is already built");
    m->build_err = err;
    int rc = map_memory(m, err);
    if (rc == 0)
        rc = apply_reserves(m, err);
    if (rc == 0)
        rc = create_devices(m, err);
    if (rc == 0) {
        label_devices(m);
        rc = vdev_device_claim_pinned(m, err);
    }
    for (size_t i = 0; rc == 0 && i < m->ndevs; i++)
        rc = vdev_device_assign(m->devs[i], err);
    /* BAR addresses, as firmware would give them, once every function is declared. */
    for (size_t i = 0; rc == 0 && i < m->nbuses; i++)
        if (m->buses[i].p->assign)
            rc = m->buses[i].p->assign(m->buses[i].bus, err);
    /* Host-backed memory from here on is the embedder's to map. */
    if (rc == 0)
        vdev_bus_set_listener(m->bus, memory_listener, m);
    for (size_t i = 0; rc == 0 && i < m->ndevs; i++) {
        struct vdev *d = m->devs[i];
        if (d->type->configured && d->type->configured(d)) {
            if (!err->msg[0])
                vdev_err_at(err, d->cfg->pos, "vdev %s: failed to start", d->type->name);
            rc = -1;
        }
        d->configured = rc == 0;
    }
    m->build_err = NULL;
    __atomic_store_n(&m->built, rc == 0, __ATOMIC_RELEASE);
    return rc;
}

enum vdev_access_result vdev_machine_access(struct vdev_machine *m, enum vdev_space space,
                                            uint64_t addr, unsigned size, bool is_write,
                                            uint64_t *value)
{
    /* Until a build succeeded nothing is claimed, not even windows added early (the PCI
     * host bridge, the embedder's own): a read gives all ones, as for an unclaimed address,
     * a write is dropped. */
    if (value && !__atomic_load_n(&m->built, __ATOMIC_ACQUIRE)) {
        if (!is_write)
            *value =
                size == 1 || size == 2 || size == 4 ? (UINT64_C(1) << (size * 8)) - 1 : UINT64_MAX;
        return VDEV_ACCESS_UNMAPPED;
    }
    return vdev_bus_access(m->bus, space, addr, size, is_write, value);
}

void vdev_machine_reset(struct vdev_machine *m)
{
    for (size_t i = 0; i < m->nbuses; i++) /* PCI: config spaces back to power-on, BARs off */
        if (m->buses[i].p->reset)
            m->buses[i].p->reset(m->buses[i].bus);
    vdev_virtio_reset_all(m);
    for (size_t i = 0; i < m->ndevs; i++)
        if (m->devs[i]->type->reset)
            m->devs[i]->type->reset(m->devs[i]);
}

size_t vdev_machine_device_count(const struct vdev_machine *m)
{
    return m->ndevs;
}

struct vdev *vdev_machine_device(struct vdev_machine *m, size_t index)
{
    return index < m->ndevs ? m->devs[index] : NULL;
}

struct vdev *vdev_machine_find_device(struct vdev_machine *m, const char *name)
{
    for (size_t i = 0; i < m->ndevs; i++)
        if (m->devs[i]->user_name && strcmp(m->devs[i]->user_name, name) == 0)
            return m->devs[i];
    return NULL;
}

bool vdev_machine_is_built(const struct vdev_machine *m)
{
    return m->built;
}

int vdev_machine_stop_status(const struct vdev_machine *m)
{
    return __atomic_load_n(&m->stop_status, __ATOMIC_ACQUIRE);
}
