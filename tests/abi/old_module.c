/* vdev-abiold.so: a device module compiled against the baseline headers
 * (abi/baseline-include, the last release's) and loaded by today's libvdev. Every table it
 * hands in sits right before a guard page (guard.h).
 *   window (io or mem): read at 0 gives 0x5a, at 1 the number of PCI resets seen;
 *   a write of 1 pulses the interrupt, of 7 asks to stop with status 7.
 *   on PCI: one memory BAR that reads 0x0b5e0000 + offset. */
#include <vdev/pci.h>
#include <vdev/vdev.h>

#include "guard.h"

struct abiold {
    struct vdev_pci_func *f;
    unsigned resets;
    unsigned bar_changes;
};

static uint64_t win_read(struct vdev *d, uint64_t off, unsigned size)
{
    struct abiold *s = vdev_state(d);
    return off == 0 ? 0x5a : off == 1 ? s->resets : s->bar_changes;
}

static void win_write(struct vdev *d, uint64_t off, unsigned size, uint64_t v)
{
    if (v == 1)
        vdev_irq_pulse(d);
    else if (v == 7)
        vdev_request_stop(d, 7);
}

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
    return 0x0b5e0000 + off;
}

static void bar_write(void *opaque, uint64_t off, unsigned size, uint64_t v)
{
}

static void bar_changed(void *opaque, unsigned bar, uint64_t base, bool enabled)
{
    struct abiold *s = vdev_state(opaque);
    s->bar_changes++;
}

static void func_reset(void *opaque)
{
    struct abiold *s = vdev_state(opaque);
    s->resets++;
}

static int abiold_assign(struct vdev *d)
{
    if (vdev_loc(d)->kind != VDEV_LOC_PCI)
        return 0;
    struct abiold *s = vdev_state(d);
    struct vdev_err e;
    const struct vdev_region_ops rops = {
        .size = sizeof(rops), .read = bar_read, .write = bar_write};
    const struct vdev_pci_func_ops fops = {
        .size = sizeof(fops), .bar_changed = bar_changed, .reset = func_reset};
    const struct vdev_pci_ident id = {.vendor = 0x1234, .device = 0xab1d, .class_code = 0xff0000};
    const struct vdev_pci_bar b0 = {
        .size = 0x1000, .kind = VDEV_REGION_DEVICE, .ops = guarded_copy(&rops, sizeof(rops))};
    if (!(s->f = vdev_pci_func_new(d, &id, guarded_copy(&fops, sizeof(fops)), d, &e)) ||
        vdev_pci_set_bar(s->f, 0, &b0, &e))
        return vdev_error(d, vdev_pos(d), NULL, "%s", e.msg);
    return 0;
}

VDEV_MODULE(abiold, .name = "abiold", .summary = "built against the baseline headers",
            .state_size = sizeof(struct abiold),
            .places = VDEV_PLACE_IO | VDEV_PLACE_MEM | VDEV_PLACE_PCI, .window_size = 4,
            .has_intr = true, .intr_optional = true,
            .window = {.read = win_read, .write = win_write, .sizes = 0x1},
            .assign = abiold_assign);
