/* The core as the transports (pci/, mmio/) see it: the one core header they may include,
 * besides the public include/vdev/. It gives what a transport needs and nothing more: where
 * the core placed a device, hooks for the transport's own firmware nodes, and how a virtio
 * transport or a bus registers itself. The core's private structures stay in internal.h. */
#ifndef VDEV_CORE_TRANSPORT_API_H
#define VDEV_CORE_TRANSPORT_API_H

#include <stdio.h>
#include <vdev/vdev.h>

#include "sized.h"

struct vdev_aml;
struct vdev_virtio;

/* ---- a device as the core placed it ---- */

/* Where the device's `loc` came from (its `vdev` line when the core chose it). */
struct vdev_srcpos vdev_loc_pos(const struct vdev *d);
/* The GSI of its `intr` line; false when it has none. */
bool vdev_gsi(const struct vdev *d, uint32_t *gsi);
/* A level irqfd on GSI `gsi` whose resample fd the hypervisor signals at the guest's EOI
 * (a PCI function's INTx handed to another producer). Exitless only: NULL with err set when
 * the embedder cannot bind it, since without the kernel's resampler a level line cannot be
 * run from an eventfd (the core would not know when to lower it). */
struct vdev_irqfd *vdev_irqfd_gsi_resample(struct vdev *d, uint32_t gsi, struct vdev_err *err);
/* Its place in the configuration (0 for the first `vdev` line). */
size_t vdev_index(const struct vdev *d);
bool vdev_machine_is_built(const struct vdev_machine *m);

/* A transport's own firmware nodes for the device it carries (virtio-mmio: the DSDT node
 * LNRO0005 and the "virtio,mmio" device-tree node). The device-tree node is written before
 * the module's gen_fdt, the DSDT node after its gen_acpi; either hook may be NULL. */
struct vdev_transport_nodes {
    int (*gen_acpi)(struct vdev *d, struct vdev_aml *dsdt, void *opaque);
    int (*gen_fdt)(struct vdev *d, void *fdt, int parent, void *opaque);
    void *opaque;
};
void vdev_set_transport_nodes(struct vdev *d, const struct vdev_transport_nodes *nodes);

/* ---- virtio transports: process-wide, one per location kind ---- */

struct vdev_virtio_transport {
    size_t size; /* sizeof(struct vdev_virtio_transport) */
    const char *name;
    enum vdev_loc_kind kind; /* the `loc` it serves (a device without loc goes on PCI) */
    /* The register window it adds at the device's memory `loc` (virtio-mmio); 0: none. */
    uint64_t window_size;
    /* Called by vdev_virtio_attach (0, or -1 with err set). The transport binds itself with
     * vdev_virtio_bind_transport(), creates one doorbell per queue (fire = NULL) and hands
     * each doorbell's fd to the core with vdev_virtio_set_kick_fd(); the core watches it
     * when the device has a queue_kick hook. */
    int (*create)(struct vdev *d, struct vdev_virtio *vio, struct vdev_err *err);
};

/* At library load (VDEV_VIRTIO_TRANSPORT); -1 when the kind is taken or the table is full. */
int vdev_virtio_transport_register(const struct vdev_virtio_transport *t);
/* The transport for a location kind, or NULL. */
const struct vdev_virtio_transport *vdev_virtio_transport_find(enum vdev_loc_kind kind);

/* Defines the transport `sym` and registers it when libvdev is loaded. A program linking
 * the static libvdev keeps the object through `-u sym` (core/CMakeLists.txt). */
#define VDEV_VIRTIO_TRANSPORT(sym, ...)                                                            \
    extern const struct vdev_virtio_transport sym;                                                 \
    const struct vdev_virtio_transport sym = {.size = sizeof(struct vdev_virtio_transport),        \
                                              __VA_ARGS__};                                        \
    __attribute__((constructor)) static void sym##_register(void)                                  \
    {                                                                                              \
        vdev_virtio_transport_register(&sym);                                                      \
    }

/* ---- bus providers: a bus the platform adds to a machine (the PCI host bridge) ---- */

/* Memory the bus keeps for itself without a bus region (PCI's BAR windows): no device may be
 * placed there. */
struct vdev_bus_window {
    const char *what; /* "the PCI 32-bit memory window" */
    uint64_t base, size;
};

/* How the machine build places devices on the bus and drives it; `bus` is the provider's
 * own state. claim, reserve and alloc are required, the rest may be NULL. Every hook runs
 * on the build thread except reset (the embedder's) and destroy (machine free). */
struct vdev_bus_provider {
    size_t size;             /* sizeof(struct vdev_bus_provider) */
    const char *name;        /* for messages: "PCI host bridge" */
    enum vdev_loc_kind kind; /* the `loc` kind its devices have */
    /* Claims a place pinned by a device's `loc` for `owner` (a string that outlives the bus). */
    int (*claim)(void *bus, const struct vdev_loc *loc, const char *owner, struct vdev_err *err);
    /* A `reserve loc` on configuration line `line`. */
    int (*reserve)(void *bus, const struct vdev_loc *loc, unsigned line, struct vdev_err *err);
    /* The next free place for `owner`, written to loc. */
    int (*alloc)(void *bus, struct vdev_loc *loc, const char *owner, struct vdev_err *err);
    /* Up to max windows into out; returns how many. */
    size_t (*mem_windows)(void *bus, struct vdev_bus_window *out, size_t max);
    /* After every device's assign hook: give the devices their addresses (BARs). */
    int (*assign)(void *bus, struct vdev_err *err);
    /* Machine reset, before the devices' own. */
    void (*reset)(void *bus);
    /* dryrun printout, after the interrupt controllers. */
    void (*print)(void *bus, FILE *out);
    /* The DSDT, inside Scope (\_SB), before the devices' nodes. */
    void (*gen_acpi)(void *bus, struct vdev_aml *dsdt);
    /* Machine free: after the devices terminated, before the event machinery goes. */
    void (*destroy)(void *bus);
    /* The device tree: its nodes under parent (the root), before the devices' nodes;
     * 0 or a negative libfdt error. */
    int (*gen_fdt)(void *bus, void *fdt, int parent);
};

/* Adds the bus to the machine, which destroys it from now on (on failure the caller still
 * owns it). One provider per location kind, before the machine is built. */
int vdev_machine_add_bus_provider(struct vdev_machine *m, const struct vdev_bus_provider *p,
                                  void *bus, struct vdev_err *err);
/* The state of the machine's bus of provider p, or NULL when p was not added. */
void *vdev_machine_bus_provider(const struct vdev_machine *m, const struct vdev_bus_provider *p);

/* ---- the device tree being built (fdt_gen.c), for a bus provider's gen_fdt ---- */

/* The interrupt specifier of gsi in the platform controller's format (level-high when
 * level, else edge-rising) into cells, host order; returns how many (2 or 3) or a negative
 * libfdt error. */
int vdev_fdt_gsi_cells(const struct vdev_machine *m, uint32_t gsi, bool level, uint32_t cells[3]);
/* The controller's #address-cells: the parent unit address in an interrupt-map entry. */
uint32_t vdev_fdt_intc_address_cells(const struct vdev_machine *m);
/* The ITS's phandle (for msi-map), 0 when the platform has none. */
uint32_t vdev_fdt_msi_phandle(const struct vdev_machine *m);
/* The CPU address of the PCI I/O window's first port; false when the platform gave none. */
bool vdev_fdt_pci_io_cpu(const struct vdev_machine *m, uint64_t *base);

/* ---- core helpers ---- */

/* vdev_err_set with a "file:line: " prefix from pos. */
int vdev_err_at(struct vdev_err *err, struct vdev_srcpos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with an error code (enum vdev_errc). */
int vdev_err_atc(struct vdev_err *err, int code, struct vdev_srcpos pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The code for an inner error reported again at a config position: its own, or CONFIG. */
#define VDEV_AT_CODE(e) ((e).code == VDEV_E_FAILED ? VDEV_E_CONFIG : (e).code)
/* strdup that aborts when out of memory; NULL for NULL. */
char *vdev_strdup(const char *s);

#endif
