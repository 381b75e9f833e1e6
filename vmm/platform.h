/* The platforms the reference VMM describes to the core: x86 (vmm/x86/) and arm64
 * (vmm/arm64/). The command line (main.c) and the preflight checks are common; each
 * platform says what the machine has (interrupt controllers, reserved windows, the PCI
 * host), which images it boots and what device tree it hands out. The native platform runs
 * guests under KVM; the other one can be checked with `dryrun` (docs/arm64.md). */
#ifndef VMM_PLATFORM_H
#define VMM_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <vdev/vdev.h>

#include "image.h"

struct vmm_platform {
    const char *name; /* "x86", "arm64": `vdevkit run --platform NAME` */
    /* Interrupt controllers, reserved windows, PCI host, platform vdevs: before parsing. */
    int (*describe)(struct vdev_machine *m, struct vdev_err *err);
    /* Checks of the parsed configuration this platform adds (file:line errors); NULL: none. */
    int (*preflight)(struct vdev_machine *m, struct vdev_err *err);
    /* The image kinds it boots, and how messages name them. */
    bool (*boots)(enum image_kind kind);
    const char *images;     /* "a Linux bzImage or a 64-bit ELF image" */
    const char *not_images; /* "neither a Linux bzImage nor a 64-bit ELF image" */
    unsigned nimage_kinds;  /* how many kinds `images` names */
    /* Devices a dryrun adds for the picture `run` would have (x86's PM registers); NULL. */
    int (*dryrun_devices)(struct vdev_machine *m, struct vdev_err *err);
    /* The built machine's device tree into buf (what `set fdt-dump-file` writes in a
     * dryrun; a run writes the tree the guest boots with). */
    int (*gen_fdt)(struct vdev_machine *m, void *buf, size_t size, struct vdev_err *err);
    /* The guest boots with that tree: its run writes fdt-dump-file itself (the same buffer). */
    bool boots_with_fdt;
};

#if defined(__x86_64__)
extern const struct vmm_platform vmm_platform_x86;
#endif
extern const struct vmm_platform vmm_platform_arm64;

/* The platform this vdevkit runs guests on (the host's); NULL on an unsupported host. */
const struct vmm_platform *vmm_platform_native(void);
/* By name ("x86", "arm64"); NULL when this build has no such platform. */
const struct vmm_platform *vmm_platform_find(const char *name);

/* preflight.c: what can be checked of the configuration before anything is built, for run
 * and dryrun alike (image, initrd, RAM pages and slots, vCPU count); file:line errors. */
int vmm_preflight(struct vdev_machine *m, const struct vmm_platform *p, struct vdev_err *err);

/* Writes the device tree in buf (a packed DTB) to `set fdt-dump-file`'s path, if given;
 * 0, or -1 with err naming the file. */
int vmm_write_fdt_dump(struct vdev_machine *m, const void *fdt, struct vdev_err *err);

#endif
