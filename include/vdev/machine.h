/* A machine: the configuration, the memory map, the interrupt controllers and the devices.
 *
 * An embedder (a VMM) uses it like this:
 *   m = vdev_machine_new(&ops, ctx);
 *   vdev_machine_add_pic(m, "ioapic", 24, 0, &err);        // platform: what the VMM emulates
 *   vdev_machine_reserve(m, VDEV_SPACE_MEM, 0xfec00000, 0x1000, "ioapic", &err);
 *   vdev_machine_parse_args(m, argc, argv, &err);            // or _parse_file
 *   vdev_machine_build(m, &err);       // RAM map, modules, options, assign, configured
 *   ... back RAM with vdev_region_set_host(), run vCPUs, call vdev_machine_access() on exits
 *   vdev_machine_free(m);               // terminate every device
 */
#ifndef VDEV_MACHINE_H
#define VDEV_MACHINE_H

#include <stdio.h>
#include <vdev/bus.h>
#include <vdev/config.h>
#include <vdev/embedder.h>
#include <vdev/export.h>
#include <vdev/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vdev_machine;
struct vdev;

/* ops may be NULL (no hooks); else ops->size must be set. NULL when out of memory or when
 * ops has no size: vdev_machine_create says which. */
VDEV_API struct vdev_machine *vdev_machine_new(const struct vdev_embedder_ops *ops, void *ctx);
/* The same, with a reason in err (VDEV_E_INVAL, VDEV_E_NOMEM). flags: 0 (none defined). */
VDEV_API struct vdev_machine *vdev_machine_create(const struct vdev_embedder_ops *ops, void *ctx,
                                                  unsigned flags, struct vdev_err *err);
VDEV_API void vdev_machine_free(struct vdev_machine *m);

/* Platform description, before build. An interrupt controller named `name` with `lines`
 * inputs: `intr NAME:LINE` refers to it and LINE maps to GSI gsi_base + LINE. */
VDEV_API int vdev_machine_add_pic(struct vdev_machine *m, const char *name, uint32_t lines,
                                  uint32_t gsi_base, struct vdev_err *err);
/* A platform area nothing may overlap (LAPIC, IOAPIC, firmware). */
VDEV_API int vdev_machine_reserve(struct vdev_machine *m, enum vdev_space space, uint64_t base,
                                  uint64_t size, const char *owner, struct vdev_err *err);
/* Interrupt lines the platform uses itself (never assigned to a device automatically). */
VDEV_API int vdev_machine_reserve_line(struct vdev_machine *m, const char *pic, uint32_t line,
                                       const char *owner, struct vdev_err *err);

/* A device the platform provides itself (KVM's in-kernel I/O APIC, PIT, ...) that a qvm
 * configuration may still declare, as qvm's basic vdevs (`vdev timer8254 intr myioapic:0`).
 * Such a line creates no module instance: its `loc` and `intr` must name what the platform
 * has (else a file:line error with the right values), `name` is recorded, and any other
 * option is refused. Since 0.3 (VDEVKIT_0.3). */
/* One of qvm's other options for a platform device: accepted when it says what the platform
 * has (or takes any value and changes nothing), else refused with a hint. */
struct vdev_platform_option {
    const char *name;    /* "version" */
    const char *arg;     /* its one argument's shape, for help and errors: "N", "ADDRESS" */
    const char *value;   /* the only value the platform has ("3", "0x80a0000"; compared as
                            numbers when both are); NULL = any value, accepted with no effect */
    const char *refused; /* non-NULL: the option is refused, with this hint */
};

struct vdev_platform_vdev {
    size_t size;             /* sizeof(struct vdev_platform_vdev) */
    const char *type;        /* the word after `vdev`: "timer8254" */
    const char *summary;     /* one line: "the 8254 PIT (KVM's in-kernel one)" */
    const char *const *locs; /* where instances sit ("io:0x20"), NULL-terminated: at most one
                                instance per entry; `loc` picks one, else the first free */
    const char *intr;        /* its line ("ioapic:0"; NULL = none), or with `pic` what the
                                controller signals ("apic") */
    const char *pic;         /* the device is this interrupt controller: its `name` becomes
                                another name for it (`intr myioapic:4`); NULL = not one */
    const struct vdev_platform_option *options; /* qvm's other options, ended by a NULL name;
                                                   NULL = none */
};
VDEV_API int vdev_machine_add_platform_vdev(struct vdev_machine *m,
                                            const struct vdev_platform_vdev *pv,
                                            struct vdev_err *err);

/* Configuration: appends to the machine's token stream (see vdev/config.h). Before build
 * only: once built they return -1 with VDEV_E_INVAL. */
VDEV_API int vdev_machine_parse_args(struct vdev_machine *m, int argc, char *const argv[],
                                     struct vdev_err *err);
VDEV_API int vdev_machine_parse_file(struct vdev_machine *m, const char *path,
                                     struct vdev_err *err);
VDEV_API int vdev_machine_parse_string(struct vdev_machine *m, const char *name, const char *text,
                                       struct vdev_err *err);
VDEV_API const struct vdev_config *vdev_machine_config(const struct vdev_machine *m);

/* Module search path, before build: tried after $VDEVKIT_MODULE_PATH (colon-separated)
 * and before the folders beside libvdev, the build tree and the configured install folder
 * (docs/embedding.md lists the order). */
VDEV_API int vdev_machine_add_module_dir(struct vdev_machine *m, const char *dir);

/* Builds the machine: RAM/ROM/reserved map, then for each vdev: load its module, deliver
 * its options, assign loc/intr, map its windows; then `configured` for all. On error
 * no vCPU may run and err holds one message "FILE:LINE:COL: vdev TYPE: …"; devices
 * whose `configured` already ran are stopped by vdev_machine_free. */
VDEV_API int vdev_machine_build(struct vdev_machine *m, struct vdev_err *err);

/* Prints the machine (memory map, I/O map, interrupt controllers, devices with their
 * location, interrupt, options after defaults): what `vdevkit run … dryrun` shows. */
VDEV_API void vdev_machine_print(struct vdev_machine *m, FILE *out);

/* A vCPU exit: dispatches one port-I/O or MMIO access (see vdev_bus_access). Until a build
 * succeeded nothing answers: VDEV_ACCESS_UNMAPPED, reads give all ones, writes are dropped.
 * A NULL value returns VDEV_ACCESS_INVAL. */
VDEV_API enum vdev_access_result vdev_machine_access(struct vdev_machine *m, enum vdev_space space,
                                                     uint64_t addr, unsigned size, bool is_write,
                                                     uint64_t *value);
VDEV_API struct vdev_bus *vdev_machine_bus(struct vdev_machine *m);

/* Starts the core's event thread, which runs doorbell and irqfd fall-backs and fd watches
 * (console input). A VMM calls it once after build, before running vCPUs. */
VDEV_API int vdev_machine_start(struct vdev_machine *m);
/* Instead of the thread: runs ready callbacks once, waiting up to timeout_ms (tests, and
 * embedders with their own loop). Returns -1 when the thread is running. */
VDEV_API int vdev_machine_poll(struct vdev_machine *m, int timeout_ms);

/* Machine reset: every device's reset hook. */
VDEV_API void vdev_machine_reset(struct vdev_machine *m);

/* Devices, in configuration order. */
VDEV_API size_t vdev_machine_device_count(const struct vdev_machine *m);
VDEV_API struct vdev *vdev_machine_device(struct vdev_machine *m, size_t index);
/* The device with `name` (the `name` option), or NULL. */
VDEV_API struct vdev *vdev_machine_find_device(struct vdev_machine *m, const char *name);

/* Interrupt-controller line → GSI; -1 with err set when the controller or line is unknown,
 * or (VDEV_E_INVAL) when intr or gsi is NULL. */
VDEV_API int vdev_machine_resolve_intr(struct vdev_machine *m, const struct vdev_intr *intr,
                                       uint32_t *gsi, struct vdev_err *err);
/* Raise a GSI / an MSI through the embedder (what devices' irq calls end in). */
VDEV_API int vdev_machine_set_gsi(struct vdev_machine *m, uint32_t gsi, bool level);
VDEV_API int vdev_machine_send_msi(struct vdev_machine *m, const struct vdev_msi *msi);

/* The VM's run-time folder for named endpoints and the control socket:
 * `set runtime-dir` or $VDEVKIT_RUNTIME_DIR or /run/vdevkit, then the `system` name (or
 * "vm-PID" without one). vdev_machine_runtime_path() creates the folder (mode 0755) on first
 * use and returns FOLDER/leaf in buf; -1 with err set when it cannot. */
VDEV_API const char *vdev_machine_runtime_base(const struct vdev_machine *m);
VDEV_API const char *vdev_machine_system_name(const struct vdev_machine *m);
VDEV_API int vdev_machine_runtime_path(struct vdev_machine *m, const char *leaf, char *buf,
                                       size_t len, struct vdev_err *err);

/* The control socket: a Unix stream socket at the run-time path "control" that answers
 * one-line requests (`stat`, `stat NAME`, `info`, `help`) on the core's event thread, each
 * reply ending with a blank line. A stale socket of a VM that died is replaced; a live one
 * (another VM with the same system name) is an error naming the path. The file is removed
 * by vdev_machine_free. Returns 0; -1 with err set when the name is taken (or the path is
 * something else); -2 with err set when the run-time folder cannot be used (no permission,
 * path too long): a VM can still run, without a control socket.
 * vdev_machine_control_path() is NULL while it is not open. */
VDEV_API int vdev_machine_control_open(struct vdev_machine *m, struct vdev_err *err);
VDEV_API const char *vdev_machine_control_path(const struct vdev_machine *m);

/* Exit status a device requested with vdev_request_stop, or -1 while none. */
VDEV_API int vdev_machine_stop_status(const struct vdev_machine *m);

/* Framework-level log line (not a device's). */
VDEV_API void vdev_machine_log(struct vdev_machine *m, enum vdev_log_level level, const char *fmt,
                               ...) __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
