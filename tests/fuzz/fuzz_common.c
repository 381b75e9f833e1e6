/* Shared pieces of the libFuzzer targets (see fuzz_common.h). */
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t fz_take(struct fz_in *in, void *out, size_t n)
{
    size_t k = n < in->n ? n : in->n;
    memset(out, 0, n);
    if (k)
        memcpy(out, in->p, k);
    in->p += k;
    in->n -= k;
    return k;
}

uint8_t fz_u8(struct fz_in *in)
{
    uint8_t v;
    fz_take(in, &v, sizeof(v));
    return v;
}

uint16_t fz_u16(struct fz_in *in)
{
    uint16_t v;
    fz_take(in, &v, sizeof(v));
    return v;
}

uint32_t fz_u32(struct fz_in *in)
{
    uint32_t v;
    fz_take(in, &v, sizeof(v));
    return v;
}

uint64_t fz_u64(struct fz_in *in)
{
    uint64_t v;
    fz_take(in, &v, sizeof(v));
    return v;
}

static int fz_set_irq_line(void *ctx, uint32_t gsi, bool level)
{
    struct fz_machine *fm = ctx;
    fm->irq_raises += level;
    return 0;
}

static int fz_signal_msi(void *ctx, const struct vdev_msi *msi)
{
    struct fz_machine *fm = ctx;
    fm->msis++;
    return 0;
}

static void fz_log(void *ctx, enum vdev_log_level level, const char *who, const char *msg)
{
    struct fz_machine *fm = ctx; /* too many to print while fuzzing */
    fm->log_lines++;
}

static void fz_request_stop(void *ctx, int status)
{
    struct fz_machine *fm = ctx;
    fm->stop_status = status;
}

struct back_arg {
    struct fz_machine *fm;
    struct vdev_bus *bus;
};

static void back_one(const struct vdev_region_info *r, void *arg)
{
    struct back_arg *a = arg;
    if ((r->kind != VDEV_REGION_RAM && r->kind != VDEV_REGION_ROM) || r->host ||
        a->fm->nram >= FZ_MAX_RAM)
        return;
    uint8_t *p = calloc(1, r->size);
    if (!p)
        abort();
    a->fm->ram[a->fm->nram].host = p;
    a->fm->ram[a->fm->nram].base = r->base;
    a->fm->ram[a->fm->nram].size = r->size;
    a->fm->nram++;
    vdev_region_set_host(vdev_bus_find(a->bus, r->space, r->base), p);
}

void fz_machine_build(struct fz_machine *fm, const char *config)
{
    memset(fm, 0, sizeof(*fm));
    fm->stop_status = -1;
    fm->ops.size = sizeof(fm->ops);
    fm->ops.set_irq_line = fz_set_irq_line;
    fm->ops.signal_msi = fz_signal_msi;
    fm->ops.log = fz_log;
    fm->ops.request_stop = fz_request_stop;
    struct vdev_err err = {0};
    fm->m = vdev_machine_new(&fm->ops, fm);
    if (!fm->m || vdev_machine_add_pic(fm->m, "ioapic", 24, 0, &err) ||
        vdev_machine_reserve(fm->m, VDEV_SPACE_MEM, 0xfec00000, 0x1000, "ioapic", &err) ||
        vdev_machine_reserve(fm->m, VDEV_SPACE_MEM, 0xfee00000, 0x1000, "lapic", &err) ||
        vdev_machine_parse_string(fm->m, "fuzz.conf", config, &err) ||
        vdev_machine_build(fm->m, &err)) {
        fprintf(stderr, "fuzz machine: %s\n", err.msg);
        abort();
    }
    struct back_arg a = {fm, vdev_machine_bus(fm->m)};
    vdev_bus_foreach(a.bus, VDEV_SPACE_MEM, back_one, &a);
}

void fz_machine_free(struct fz_machine *fm)
{
    vdev_machine_free(fm->m);
    fm->m = NULL;
    for (unsigned i = 0; i < fm->nram; i++)
        free(fm->ram[i].host);
    fm->nram = 0;
}

bool fz_in_ram(const struct fz_machine *fm, const void *p, size_t len)
{
    const uint8_t *b = p;
    for (unsigned i = 0; i < fm->nram; i++) {
        const uint8_t *h = fm->ram[i].host;
        if (b >= h && b <= h + fm->ram[i].size && len <= (size_t)(h + fm->ram[i].size - b))
            return true;
    }
    return false;
}
