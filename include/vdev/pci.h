/* PCI: the host bridge a platform adds, and the functions devices and transports create.
 *
 * Platform (embedder), before vdev_machine_build():
 *   struct vdev_pci_host_desc h = {.ecam_base = 0xe0000000, ...};
 *   vdev_machine_add_pci(m, &h, &err);
 * The core then answers configuration cycles (ports 0xCF8/0xCFC and the ECAM window),
 * places every device whose `loc` is pci:B:D[.F] or left out (for types that may sit on
 * PCI), pre-assigns BARs inside the windows as firmware would, and describes the bridge in
 * the DSDT (PNP0A08 with _CRS and _PRT). The embedder adds the MCFG table itself from
 * vdev_machine_pci_host().
 *
 * Device side (a module or a transport, in its `assign` hook):
 *   f = vdev_pci_func_new(d, &ident, &ops, opaque, &err);
 *   vdev_pci_set_bar(f, 0, &(struct vdev_pci_bar){.size = 0x4000, .flags = VDEV_PCI_BAR_MEM64,
 *                                                  .kind = VDEV_REGION_DEVICE, .ops = &o});
 *   vdev_pci_add_cap(f, 0x09, body, len, &off, &err);   // vendor capability
 *   vdev_pci_msix_init(f, nvec, 0, 0x2000, 0x3000, &err); // table and PBA inside BAR 0
 * The PCI code knows nothing of what the function does.
 *
 * Timing: BAR addresses are given after every device's `assign` hook ran, so
 * vdev_pci_bar_base() is 0 inside `assign`; read it from `configured` on. Decoding is off
 * until the guest sets the command register's I/O or memory bit: bar_changed(..., true)
 * then says where the BAR answers. A device on PCI takes no `intr` (INTx comes from its
 * slot, see vdev_pci_set_intx) and no main window (its BARs are its windows).
 */
#ifndef VDEV_PCI_H
#define VDEV_PCI_H

#include <vdev/bus.h>
#include <vdev/export.h>
#include <vdev/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vdev;
struct vdev_machine;
struct vdev_pci_func;

/* ---- the host bridge (platform) ---- */

struct vdev_pci_host_desc {
    uint64_t ecam_base;   /* ECAM (MMCONFIG) window, 1 MiB per bus, 1 MiB aligned */
    uint8_t buses;        /* buses 0 .. buses-1 (1 is enough: no bridges are emulated) */
    bool cf8_ports;       /* configuration mechanism #1 at ports 0xCF8 and 0xCFC */
    uint64_t mmio32_base; /* window for 32-bit memory BARs, below 4 GiB */
    uint64_t mmio32_size;
    uint64_t mmio64_base; /* window for 64-bit memory BARs, above RAM */
    uint64_t mmio64_size;
    uint32_t io_base; /* window for I/O BARs */
    uint32_t io_size;
    /* Legacy INTx: INTA..INTD of slot S are wired to lines intx_lines[(S + pin) % 4] of
     * interrupt controller `intx_pic` (level-triggered, shared, active low), as _PRT says. */
    const char *intx_pic;
    uint32_t intx_lines[4];
};

VDEV_API int vdev_machine_add_pci(struct vdev_machine *m, const struct vdev_pci_host_desc *desc,
                                  struct vdev_err *err);
/* The host bridge's description, for the embedder's MCFG table; false when there is none. */
VDEV_API bool vdev_machine_pci_host(const struct vdev_machine *m, struct vdev_pci_host_desc *out);

/* ---- a PCI function (device side) ---- */

struct vdev_pci_ident {
    uint16_t vendor, device;
    uint16_t subsystem_vendor, subsystem;
    uint32_t class_code; /* base << 16 | sub << 8 | prog-if */
    uint8_t revision;
};

enum vdev_pci_bar_flags {
    VDEV_PCI_BAR_IO = 1u << 0,       /* an I/O BAR (else memory) */
    VDEV_PCI_BAR_MEM64 = 1u << 1,    /* 64-bit memory BAR: takes this BAR and the next */
    VDEV_PCI_BAR_PREFETCH = 1u << 2, /* prefetchable memory */
};

struct vdev_pci_bar {
    uint64_t size;  /* a power of two: >= 16 for memory, >= 4 for I/O */
    unsigned flags; /* enum vdev_pci_bar_flags */
    /* VDEV_REGION_DEVICE (trapped: ops), VDEV_REGION_DEVMEM (host memory) or
     * VDEV_REGION_WINDOW (the owner adds children: vdev_pci_bar_region) */
    enum vdev_region_kind kind;
    const struct vdev_region_ops *ops; /* DEVICE; offsets are relative to the BAR */
    void *opaque;
    void *host; /* DEVMEM: host memory of `size` bytes mapped into the guest (no exits) */
};

struct vdev_pci_func_ops {
    size_t size; /* sizeof(struct vdev_pci_func_ops); nothing beyond it is read */
    /* The guest moved a BAR or turned decoding on/off; base is the new guest address and
     * `enabled` whether the BAR now answers. Runs on the vCPU thread that did it. Doorbells
     * inside the BAR are the owner's to move (vdev_doorbell_move). May be NULL. */
    void (*bar_changed)(void *opaque, unsigned bar, uint64_t base, bool enabled);
    /* Function reset (machine reset): the config space is back to power-on state. */
    void (*reset)(void *opaque);
    /* The guest turned MSI-X on or off (the enable bit of the capability, or a reset that
     * cleared it). Runs on the vCPU thread that did it, with the PCI configuration lock
     * held: do not access this function's config space from it. May be NULL. */
    void (*msix_changed)(void *opaque, bool enabled);

    /* 0.3: config space kept elsewhere (a passed host device's). The core owns the BARs
     * (0x10-0x27), the expansion-ROM BAR (0x30), the capability pointer (0x34), the
     * interrupt line and pin (0x3c-0x3d) and the MSI-X capability it added; an access that
     * touches none of them is offered to config_read first: return true with *value set
     * to answer it, false to let the core answer from its copy. Every write, after the
     * core applied its write mask, reaches config_write with the value the guest wrote
     * (forward what passes through: the command register's bus-master bit, capability
     * registers the owner copied). Both run on the vCPU thread with the PCI configuration
     * lock held: do not access this function's config space from them. May be NULL. */
    bool (*config_read)(void *opaque, unsigned reg, unsigned size, uint32_t *value);
    void (*config_write)(void *opaque, unsigned reg, unsigned size, uint32_t value);
    /* 0.3: the guest enabled `vectors` MSI vectors (vdev_pci_msi_init), or 0: MSI off (also
     * by a reset). Runs as msix_changed does. May be NULL. */
    void (*msi_changed)(void *opaque, unsigned vectors);
};

/* Creates the function for device d, at its `loc pci:B:D.F` or at the next free slot.
 * Call from the `assign` hook. NULL with err set (no PCI bus, slot taken, bad ident). */
VDEV_API struct vdev_pci_func *vdev_pci_func_new(struct vdev *d, const struct vdev_pci_ident *id,
                                                 const struct vdev_pci_func_ops *ops, void *opaque,
                                                 struct vdev_err *err);
/* Declares BAR `index` (0-5; a 64-bit BAR also uses index+1). Before vdev_machine_build
 * finishes; the core assigns its address. */
VDEV_API int vdev_pci_set_bar(struct vdev_pci_func *f, unsigned index,
                              const struct vdev_pci_bar *bar, struct vdev_err *err);
/* Appends a capability: `body` is what follows the ID and next-pointer bytes; *offset gets
 * its config-space offset. The body is read-only to the guest unless the owner handles
 * writes (vendor caps of virtio are read-only). */
VDEV_API int vdev_pci_add_cap(struct vdev_pci_func *f, uint8_t cap_id, const void *body, size_t len,
                              uint8_t *offset, struct vdev_err *err);
/* MSI-X with `nvec` vectors; its table and PBA live in BAR `bar` at the given offsets
 * (the PCI core answers those ranges; the rest of the BAR stays the owner's). */
VDEV_API int vdev_pci_msix_init(struct vdev_pci_func *f, unsigned nvec, unsigned bar,
                                uint64_t table_offset, uint64_t pba_offset, struct vdev_err *err);

/* Current guest address of a BAR (0 if never assigned) and whether it decodes. */
VDEV_API uint64_t vdev_pci_bar_base(const struct vdev_pci_func *f, unsigned bar);
VDEV_API bool vdev_pci_bar_enabled(const struct vdev_pci_func *f, unsigned bar);
/* The bus region of a BAR (from `configured` on; NULL before): for a WINDOW BAR, where the
 * owner adds its children with vdev_region_add_child(); they follow the BAR's moves. */
VDEV_API struct vdev_region *vdev_pci_bar_region(struct vdev_pci_func *f, unsigned bar);
/* "pci 0:3.0": where the function sits, for messages and status. */
VDEV_API const char *vdev_pci_func_name(const struct vdev_pci_func *f);

/* 0.3: an expansion ROM of `size` bytes (a power of two, 2 KiB to 16 MiB) behind the
 * expansion-ROM BAR (0x30): the core places it in the 32-bit memory window, and it answers
 * reads through ops->read (trapped, read-only: writes are dropped) where the guest puts it
 * while the ROM's enable bit and the command register's memory bit are set. In the assign
 * hook, like the BARs. */
VDEV_API int vdev_pci_set_rom(struct vdev_pci_func *f, uint64_t size,
                              const struct vdev_region_ops *ops, void *opaque,
                              struct vdev_err *err);

/* ---- interrupts ---- */

/* True when the guest set the MSI-X enable bit (whether or not it masked the function:
 * notifications then pend and fire on unmask). */
VDEV_API bool vdev_pci_msix_enabled(const struct vdev_pci_func *f);
/* Raises MSI-X vector `vec` (any thread, exitless through an irqfd when the embedder has
 * one). A masked vector sets its PBA bit and fires on unmask. -1 when MSI-X is off or vec
 * is out of range (the guest may write any vector number: that is not an error). */
VDEV_API int vdev_pci_msix_notify(struct vdev_pci_func *f, unsigned vec);
/* An eventfd that raises vector `vec` when anyone writes it (8 bytes, as to any eventfd),
 * for handing to another process: exitless through the embedder's MSI irqfd while the
 * vector is live, else serviced by the core's event thread. While MSI-X is off, or the
 * vector or the function is masked, the core unbinds it: writes only accumulate, a PBA read
 * shows them as the vector's pending bit, and unmasking fires the vector once. Writes made
 * while MSI-X is off are dropped when it is turned on (as vdev_pci_msix_notify drops them).
 * Owned by the core until the function goes away (machine free); -1 with err set when vec
 * is out of range or there is no MSI-X. Any thread. */
VDEV_API int vdev_pci_msix_vector_eventfd(struct vdev_pci_func *f, unsigned vec,
                                          struct vdev_err *err);
/* Drives INTx (the function's INTA#); honours the command register's INTx-disable bit and
 * mirrors the level into the status register's interrupt bit. Any thread. */
VDEV_API void vdev_pci_set_intx(struct vdev_pci_func *f, bool asserted);
/* The GSI the function's INTA# is wired to (what its interrupt-line register says). */
VDEV_API uint32_t vdev_pci_intx_gsi(const struct vdev_pci_func *f);
/* 0.3: an MSI capability (64-bit, no per-vector masking) with `nvec` vectors (1, 2, 4, 8,
 * 16 or 32); the guest enables a power of two of them (vdev_pci_msi_enabled says how many)
 * and vector i sends its programmed data with the low bits replaced by i. In the assign
 * hook. */
VDEV_API int vdev_pci_msi_init(struct vdev_pci_func *f, unsigned nvec, struct vdev_err *err);
/* 0.3: how many MSI vectors the guest enabled; 0 while MSI is off. */
VDEV_API unsigned vdev_pci_msi_enabled(const struct vdev_pci_func *f);
/* 0.3: raises MSI vector `vec` (any thread); -1 when it is not enabled. */
VDEV_API int vdev_pci_msi_notify(struct vdev_pci_func *f, unsigned vec);
/* 0.3: an eventfd that raises MSI vector `vec` when anyone writes it, for another process
 * (a passed device's VFIO MSI): exitless through the embedder's MSI irqfd, bound only while
 * the vector is enabled; writes made while it is not are dropped when MSI is turned on.
 * Owned by the core until the function goes away; -1 with err set when vec is out of
 * range. */
VDEV_API int vdev_pci_msi_vector_eventfd(struct vdev_pci_func *f, unsigned vec,
                                         struct vdev_err *err);
/* 0.3: the interrupt-pin register: 1 (INTA#, every function's default) or 0 (no INTx, as
 * a passed SR-IOV VF has none). In the assign hook. -1 with err set for another pin. */
VDEV_API int vdev_pci_set_intx_pin(struct vdev_pci_func *f, unsigned pin, struct vdev_err *err);
/* 0.3: INTA# as an eventfd pair for a producer outside the process (a passed host device's
 * VFIO INTx): a write to *trigger raises the line, the hypervisor lowers it at the guest's
 * EOI and writes *resample, where the producer re-arms (VFIO's INTx unmask) and fires again
 * if its line is still up. Both exitless (KVM's irqfd with a resampler): -1 with err set
 * when the embedder cannot bind that, which includes before its interrupt controller is
 * ready, so ask at the guest's first use (a command-register write), not in `assign`. Made
 * once; asking again gives the same pair. The command register's INTx-disable bit is the
 * producer's to honour (VFIO applies it to the device). The fds are the core's until the
 * function goes away. Not concurrently with itself (config_write runs under the PCI
 * configuration lock, which serialises it). */
VDEV_API int vdev_pci_intx_eventfds(struct vdev_pci_func *f, int *trigger, int *resample,
                                    struct vdev_err *err);

#ifdef __cplusplus
}
#endif
#endif
