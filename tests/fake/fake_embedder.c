#include "fake_embedder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fake_set_irq_line(void *ctx, uint32_t gsi, bool level)
{
    struct fake_embedder *fe = ctx;
    if (gsi >= FAKE_MAX_GSI)
        return -1;
    if (level && !fe->gsi_level[gsi])
        fe->gsi_raises[gsi]++;
    fe->gsi_level[gsi] = level;
    return 0;
}

static int fake_signal_msi(void *ctx, const struct vdev_msi *msi)
{
    struct fake_embedder *fe = ctx;
    if (fe->nmsi < FAKE_MAX_MSI)
        fe->msis[fe->nmsi] = *msi;
    fe->nmsi++;
    return 0;
}

static int fake_ioeventfd(void *ctx, int fd, enum vdev_space space, uint64_t addr, unsigned len,
                          bool match, uint64_t data, bool assign)
{
    struct fake_embedder *fe = ctx;
    if (!fe->exitless)
        return -1;
    if (assign)
        fe->ioeventfds_bound++;
    else
        fe->ioeventfds_bound--;
    return 0;
}

static int fake_irqfd_msi(void *ctx, int fd, const struct vdev_msi *msi, bool assign)
{
    struct fake_embedder *fe = ctx;
    if (!fe->exitless_msi)
        return -1;
    unsigned i = 0;
    while (i < fe->nmsi_fds && fe->msi_fds[i].fd != fd)
        i++;
    if (!assign) {
        if (i == fe->nmsi_fds)
            return -1;
        fe->msi_fds[i] = fe->msi_fds[--fe->nmsi_fds];
        fe->msi_deassigns++;
        return 0;
    }
    if (i == fe->nmsi_fds) {
        if (i == FAKE_MAX_MSI)
            return -1;
        fe->nmsi_fds++;
        fe->msi_assigns++;
    }
    fe->msi_fds[i].fd = fd;
    fe->msi_fds[i].msi = *msi;
    return 0;
}

static int fake_irqfd_line(void *ctx, int fd, int resample_fd, uint32_t gsi, bool assign)
{
    struct fake_embedder *fe = ctx;
    if (!fe->exitless_line)
        return -1;
    unsigned i = 0;
    while (i < fe->nline_fds && fe->line_fds[i].fd != fd)
        i++;
    if (!assign) {
        if (i == fe->nline_fds)
            return -1;
        fe->line_fds[i] = fe->line_fds[--fe->nline_fds];
        return 0;
    }
    if (i == 8)
        return -1;
    fe->line_fds[i].fd = fd;
    fe->line_fds[i].resample_fd = resample_fd;
    fe->line_fds[i].gsi = gsi;
    if (i == fe->nline_fds)
        fe->nline_fds++;
    return 0;
}

unsigned fake_irqfd_msi_deliver(struct fake_embedder *fe)
{
    unsigned fired = 0;
    for (unsigned i = 0; i < fe->nmsi_fds; i++) {
        uint64_t v;
        bool any = false;
        while (read(fe->msi_fds[i].fd, &v, sizeof(v)) == sizeof(v))
            any = true;
        if (any) {
            fake_signal_msi(fe, &fe->msi_fds[i].msi);
            fired++;
        }
    }
    return fired;
}

static void fake_log(void *ctx, enum vdev_log_level level, const char *who, const char *msg)
{
    struct fake_embedder *fe = ctx;
    int n = snprintf(fe->log + fe->log_len, FAKE_LOG_MAX - fe->log_len, "%s: %s\n", who, msg);
    if (n > 0)
        fe->log_len +=
            (size_t)n < FAKE_LOG_MAX - fe->log_len ? (size_t)n : FAKE_LOG_MAX - fe->log_len - 1;
}

static void fake_request_stop(void *ctx, int status)
{
    struct fake_embedder *fe = ctx;
    fe->stop_status = status;
}

/* Records a passed device's VFIO group; refuses when vfio_group_refuse is set. */
static int fake_vfio_group(void *ctx, int group_fd, bool add)
{
    struct fake_embedder *fe = ctx;
    if (fe->vfio_group_refuse)
        return -1;
    fe->vfio_group_fd = group_fd;
    if (add)
        fe->vfio_group_adds++;
    else
        fe->vfio_group_dels++;
    return 0;
}

struct vdev_machine *fake_machine_new(struct fake_embedder *fe)
{
    memset(fe, 0, sizeof(*fe));
    fe->stop_status = -1;
    fe->ops.size = sizeof(fe->ops);
    fe->ops.set_irq_line = fake_set_irq_line;
    fe->ops.signal_msi = fake_signal_msi;
    fe->ops.ioeventfd = fake_ioeventfd;
    fe->ops.irqfd_msi = fake_irqfd_msi;
    fe->ops.irqfd_line = fake_irqfd_line;
    fe->ops.log = fake_log;
    fe->ops.request_stop = fake_request_stop;
    fe->ops.vfio_group = fake_vfio_group;
    fe->m = vdev_machine_new(&fe->ops, fe);
    if (!fe->m)
        return NULL;
    struct vdev_err err;
    if (vdev_machine_add_pic(fe->m, "ioapic", 24, 0, &err) ||
        vdev_machine_reserve(fe->m, VDEV_SPACE_MEM, 0xfec00000, 0x1000, "ioapic", &err) ||
        vdev_machine_reserve(fe->m, VDEV_SPACE_MEM, 0xfee00000, 0x1000, "lapic", &err)) {
        fprintf(stderr, "fake platform: %s\n", err.msg);
        abort();
    }
    return fe->m;
}

struct back_arg {
    struct fake_embedder *fe;
    struct vdev_bus *bus;
};

static void back_one(const struct vdev_region_info *r, void *arg)
{
    struct back_arg *a = arg;
    if ((r->kind != VDEV_REGION_RAM && r->kind != VDEV_REGION_ROM) || r->host || a->fe->nram >= 16)
        return;
    void *p = aligned_alloc(4096, (r->size + 4095) & ~(uint64_t)4095); /* pages, as a VMM's */
    if (!p)
        abort();
    memset(p, 0, r->size);
    a->fe->ram[a->fe->nram++] = p;
    vdev_region_set_host(vdev_bus_find(a->bus, r->space, r->base), p);
}

void fake_back_ram(struct fake_embedder *fe)
{
    struct back_arg a = {fe, vdev_machine_bus(fe->m)};
    vdev_bus_foreach(a.bus, VDEV_SPACE_MEM, back_one, &a);
}

int fake_machine_build_string(struct fake_embedder *fe, const char *text, struct vdev_err *err)
{
    if (vdev_machine_parse_string(fe->m, "test.conf", text, err) || vdev_machine_build(fe->m, err))
        return -1;
    fake_back_ram(fe);
    return 0;
}

void fake_machine_free(struct fake_embedder *fe)
{
    vdev_machine_free(fe->m);
    fe->m = NULL;
    for (unsigned i = 0; i < fe->nram; i++)
        free(fe->ram[i]);
    fe->nram = 0;
}
