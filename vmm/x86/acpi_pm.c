#include "acpi_pm.h"

#include <stdio.h>
#include <stdlib.h>

#include "x86_platform.h"

struct pm {
    void (*on_event)(void *arg, enum x86_pm_event ev);
    void *arg;
};

static uint64_t pm_read(void *opaque, uint64_t off, unsigned size)
{
    return 0; /* sleep status: never asleep; other registers read as zero */
}

static void pm_write(void *opaque, uint64_t off, unsigned size, uint64_t v)
{
    struct pm *pm = opaque;
    if (getenv("VDEVKIT_DEBUG"))
        fprintf(stderr, "vdevkit run: acpi pm: write 0x%llx at +%llu\n", (unsigned long long)v,
                (unsigned long long)off);
    if (!pm->on_event)
        return;
    if (off == X86_PM_SLEEP_CONTROL && (v & 0x20) && ((v >> 2) & 7) == X86_PM_S5_TYPE)
        pm->on_event(pm->arg, X86_PM_POWEROFF);
    else if (off == X86_PM_RESET && v == X86_PM_RESET_VALUE)
        pm->on_event(pm->arg, X86_PM_RESET);
}

static const struct vdev_region_ops pm_ops = {sizeof(struct vdev_region_ops), pm_read, pm_write,
                                              0x1};

/* The i8042 keyboard controller, only as far as a guest resets through it: status reads
 * "buffers empty", and command 0xfe (pulse the reset line) resets. Linux falls back to it. */
static uint64_t kbd_read(void *opaque, uint64_t off, unsigned size)
{
    return 0;
}

static void kbd_write(void *opaque, uint64_t off, unsigned size, uint64_t v)
{
    struct pm *pm = opaque;
    if (getenv("VDEVKIT_DEBUG"))
        fprintf(stderr, "vdevkit run: i8042: write 0x%llx at +%llu\n", (unsigned long long)v,
                (unsigned long long)off);
    if (off == 4 && v == 0xfe && pm->on_event)
        pm->on_event(pm->arg, X86_PM_RESET);
}

static const struct vdev_region_ops kbd_ops = {sizeof(struct vdev_region_ops), kbd_read, kbd_write,
                                               0x1};

int x86_pm_add(struct vdev_machine *m, void (*on_event)(void *arg, enum x86_pm_event ev), void *arg,
               struct vdev_err *err)
{
    /* Lives as long as the process: the machine keeps a pointer in its I/O map. */
    static struct pm pm;
    pm.on_event = on_event;
    pm.arg = arg;
    struct vdev_region_desc desc = {.owner = "acpi pm (platform)",
                                    .space = VDEV_SPACE_IO,
                                    .kind = VDEV_REGION_DEVICE,
                                    .base = X86_PM_PORT,
                                    .size = X86_PM_PORTS,
                                    .ops = &pm_ops,
                                    .opaque = &pm};
    struct vdev_region_desc kbd = {.owner = "i8042 reset (platform)",
                                   .space = VDEV_SPACE_IO,
                                   .kind = VDEV_REGION_DEVICE,
                                   .base = 0x60,
                                   .size = 5,
                                   .ops = &kbd_ops,
                                   .opaque = &pm};
    return vdev_bus_add(vdev_machine_bus(m), &desc, NULL, err) ||
           vdev_bus_add(vdev_machine_bus(m), &kbd, NULL, err);
}
