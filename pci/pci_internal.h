/* The PCI host bridge and its functions: private to the pci/ files. The core drives the host
 * bridge through the bus provider it registers (pci_host.c) and never sees this header. */
#ifndef VDEV_PCI_INTERNAL_H
#define VDEV_PCI_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <vdev/acpi.h>
#include <vdev/pci.h>

#include "../core/transport_api.h"

/* The owner's hook `h` of function f, or NULL (no ops, or a table built before h). */
#define FUNC_HOOK(f, h) VDEV_HOOK((f)->ops, struct vdev_pci_func_ops, h)

#define PCI_SLOTS       32
#define PCI_CFG_SIZE    256  /* conventional config space we model */
#define PCI_ECAM_FN     4096 /* config space per function in the ECAM window */
#define PCI_NBARS       6
#define PCI_CAP_FIRST   0x40
#define PCI_MSIX_MAXVEC 2048

/* Type-0 header offsets and bits (PCI Local Bus 3.0, 6.2). */
#define PCI_VENDOR_ID      0x00
#define PCI_DEVICE_ID      0x02
#define PCI_COMMAND        0x04
#define PCI_STATUS         0x06
#define PCI_REVISION       0x08
#define PCI_CLASS_PROG     0x09
#define PCI_CACHE_LINE     0x0c
#define PCI_LATENCY        0x0d
#define PCI_HEADER_TYPE    0x0e
#define PCI_BAR0           0x10
#define PCI_SUBSYS_VENDOR  0x2c
#define PCI_SUBSYS_ID      0x2e
#define PCI_ROM_BAR        0x30
#define PCI_CAP_PTR        0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN  0x3d

#define PCI_CMD_IO           (1u << 0)
#define PCI_CMD_MEM          (1u << 1)
#define PCI_CMD_MASTER       (1u << 2)
#define PCI_CMD_PARITY       (1u << 6)
#define PCI_CMD_SERR         (1u << 8)
#define PCI_CMD_INTX_DISABLE (1u << 10)
#define PCI_STATUS_INTX      (1u << 3)
#define PCI_STATUS_CAPS      (1u << 4)

#define PCI_BAR_IO_FLAG     0x1u
#define PCI_BAR_MEM64_FLAG  0x4u
#define PCI_BAR_PREF_FLAG   0x8u
#define PCI_CAP_ID_MSI      0x05
#define PCI_CAP_ID_MSIX     0x11
#define PCI_MSIX_ENABLE     (1u << 15)
#define PCI_MSIX_FUNC_MASK  (1u << 14)
#define PCI_MSIX_ENTRY_SIZE 16
#define PCI_MSIX_CTRL_MASK  1u
#define PCI_ROM_ENABLE      1u
#define PCI_ROM_ADDR_MASK   0xfffff800u

/* Little-endian config-space fields. */
static inline void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void put32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

struct pci_bar {
    bool used;  /* declared by the owner (for a 64-bit BAR: the low half) */
    bool upper; /* the high half of the 64-bit BAR below it */
    struct vdev_pci_bar desc;
    struct vdev_region *region;  /* created when BARs are assigned */
    struct vdev_region_ops wrap; /* when MSI-X lives in this BAR: the PCI core's ops */
    _Atomic uint64_t base;       /* where the region is (what vdev_pci_bar_base says) */
    uint64_t assigned;           /* where the build put it (reset goes back there) */
    _Atomic bool enabled;        /* whether it decodes there */
    uint64_t reported_base;      /* last bar_changed call */
    bool reported_enabled, reported;
    uint64_t refused; /* last address refused (logged once, not on every write) */
    struct vdev_pci_func *f;
};

struct pci_msix_vec {
    _Atomic uint32_t addr_lo, addr_hi, data, ctrl;
    struct vdev_irqfd *_Atomic irqfd; /* made on first use by the vCPU thread */
    struct vdev_msi programmed;       /* what the irqfd carries */
    /* vdev_pci_msix_vector_eventfd handed the irqfd's eventfd out: it is unbound while the
     * vector cannot fire (bound says which), so outside writes pend. Under x->lock. */
    bool exported, bound;
};

struct pci_msix {
    unsigned nvec, bar;
    uint64_t table_off, pba_off;
    uint8_t cap;          /* config offset of the capability */
    pthread_mutex_t lock; /* table writes and control changes (vCPU threads) */
    _Atomic bool enabled, masked;
    struct pci_msix_vec *vec;
    _Atomic uint64_t *pba;
};

struct vdev_pci_func {
    struct vdev_pci_host *host;
    struct vdev *d; /* NULL for the host bridge itself */
    uint8_t bus, dev, fn;
    char name[32];
    const struct vdev_pci_func_ops *ops; /* read through FUNC_HOOK only */
    void *opaque;
    struct vdev_pci_ident ident;

    /* Guarded by host->cfg_lock. */
    uint8_t cfg[PCI_CFG_SIZE];
    uint8_t wmask[PCI_CFG_SIZE]; /* bits the guest may change */
    uint8_t reset_cfg[PCI_CFG_SIZE];
    unsigned cap_end; /* next free config offset for a capability (up to 256) */
    uint8_t cap_last; /* config offset of the last capability (0: none) */
    struct pci_bar bars[PCI_NBARS];
    bool bars_assigned;

    _Atomic uint16_t command; /* copy for other threads (INTx disable) */
    _Atomic bool intx_level;  /* the device's INTA# as it drives it */
    bool intx_counted;        /* guarded by host->intx_lock: counted on its line */
    uint32_t intx_gsi;
    struct vdev_irqfd *intx_irqfd; /* vdev_pci_intx_eventfds: INTA# from another producer */

    struct pci_msix *msix;
    struct pci_rom *rom; /* vdev_pci_set_rom (pci_rom.c), or NULL */
    struct pci_msi *msi; /* vdev_pci_msi_init (pci_msi.c), or NULL */
};

struct vdev_pci_host {
    struct vdev_machine *m;
    struct vdev_pci_host_desc desc;
    char intx_pic[VDEV_PIC_NAME_MAX];
    uint32_t intx_gsi[4];
    struct vdev_region *ecam, *cf8;
    pthread_mutex_t cfg_lock;
    _Atomic uint32_t cf8_addr;
    /* Slot owners per bus (fn 0 only): a device label or "reserve (line N)". */
    const char *(*slot_owner)[PCI_SLOTS];
    struct vdev_pci_func *(*slot_func)[PCI_SLOTS];
    struct vdev_pci_func **funcs; /* every function, the host bridge first */
    size_t nfuncs;
    pthread_mutex_t intx_lock;
    unsigned intx_count[4]; /* functions asserting each line */
    char **names;           /* owner strings of reserved slots */
    size_t nnames;
};

/* ---- between pci/ files ---- */

/* The machine's host bridge (its bus provider's state), or NULL. */
struct vdev_pci_host *pci_host_of(const struct vdev_machine *m);
/* pci_describe.c, the bus provider's print and gen_acpi hooks: the dryrun section; Device
 * (PCI0) and the ECAM's motherboard resource, inside Scope (\_SB). */
void pci_print(void *host, FILE *out);
void pci_gen_acpi(void *host, struct vdev_aml *a);
/* pci_fdt.c, the bus provider's gen_fdt hook: the pci-host-ecam-generic node. */
int pci_gen_fdt(void *host, void *fdt, int parent);

struct vdev_pci_func *pci_func_create(struct vdev_pci_host *h, struct vdev *d, uint8_t bus,
                                      uint8_t dev, const struct vdev_pci_ident *id);
int pci_func_assign_bars(struct vdev_pci_func *f, struct vdev_err *err);
void pci_func_disable_bars(struct vdev_pci_func *f);
uint32_t pci_func_cfg_read(struct vdev_pci_func *f, unsigned reg, unsigned size);
void pci_func_cfg_write(struct vdev_pci_func *f, unsigned reg, unsigned size, uint32_t value);
void pci_func_reset(struct vdev_pci_func *f);
void pci_func_free(struct vdev_pci_func *f);
/* INTx bookkeeping after the level or the command register changed. */
void pci_intx_update(struct vdev_pci_func *f);
/* pci_rom.c, the expansion ROM: placed with the BARs, mapped after a write to its register
 * or the command register (cfg_lock held), off at reset and when BARs are disabled. */
int pci_rom_assign(struct vdev_pci_func *f, struct vdev_err *err);
void pci_rom_update(struct vdev_pci_func *f);
void pci_rom_disable(struct vdev_pci_func *f);
void pci_rom_reset(struct vdev_pci_func *f);
void pci_rom_free(struct vdev_pci_func *f);
/* pci_msi.c, MSI: a write to the capability (cfg_lock held), the registers it owns, reset. */
void pci_msi_written(struct vdev_pci_func *f);
bool pci_msi_owns(const struct vdev_pci_func *f, unsigned reg, unsigned size);
void pci_msi_reset(struct vdev_pci_func *f);
void pci_msi_free(struct vdev_pci_func *f);
/* MSI-X: control register written; table/PBA accesses from the BAR's wrapper. */
void pci_msix_control_written(struct vdev_pci_func *f);
bool pci_msix_owns(const struct vdev_pci_func *f, unsigned bar, uint64_t off, unsigned size);
uint64_t pci_msix_read(struct vdev_pci_func *f, uint64_t off, unsigned size);
void pci_msix_write(struct vdev_pci_func *f, uint64_t off, unsigned size, uint64_t value);
void pci_msix_reset(struct vdev_pci_func *f);
void pci_msix_free(struct vdev_pci_func *f);

#endif
