/* A minimal guest_shm driver for tiny test guests (the guest interface of `vdev shmem`, see
 * docs/shmem.md): finds the factory page (PCI function 1C05:0001, BAR 0; or at the address
 * an MMIO device's `loc` gives), creates or attaches regions by name, and gives access to a
 * region's control page (status, idx, notify, detach) and its data pages.
 *
 * Region pages may lie above 4 GiB (PCI: BAR 2 in the 64-bit window), beyond the runtime's
 * identity map: shm_attach extends the map with 2 MiB pages (shm_map_identity).
 *
 * Interrupts: one per factory, shared by its regions: a level-triggered line (INTx on PCI, the
 * `intr` line on MMIO), or on PCI MSI-X vector 0 when the device has the capability (table in
 * BAR 4), which the device sends on every control-status change (and never asserts INTx while
 * MSI-X is on). Either way the handler reads each region's control status (which clears its
 * notify bits and lowers the line). shm_irq_setup installs a handler that does this for the
 * regions of shm_irq_add and accumulates what it read (struct shm_region's pending and attached
 * fields). */
#ifndef TINY_SHMEM_DRV_H
#define TINY_SHMEM_DRV_H

#include <stdbool.h>
#include <stdint.h>

/* Factory page (little-endian). */
#define SHM_F_SIGNATURE 0x00 /* u64 */
#define SHM_F_SHMEM     0x08 /* u64: control page of the region last created/attached */
#define SHM_F_VECTOR    0x10
#define SHM_F_STATUS    0x14
#define SHM_F_SIZE      0x18 /* write: create or attach `name`; read: the actual size */
#define SHM_F_NAME      0x1c /* char[32] */
#define SHM_F_FIND      0x3c /* write: attach an existing region only */
#define SHM_SIGNATURE   0x4d534732474d5651ull /* "QVMG2GSM" */
#define SHM_NAME_MAX    32

/* Control page. */
#define SHM_C_STATUS 0x0 /* low 16: who notified me (read clears), high 16: attached clients */
#define SHM_C_IDX    0x4
#define SHM_C_NOTIFY 0x8
#define SHM_C_DETACH 0xc

#define SHM_PAGE 4096u

/* Factory status codes. */
enum {
    SHM_ST_OK = 0,
    SHM_ST_UNKNOWN = 1,
    SHM_ST_NO_MEMORY = 2,
    SHM_ST_CLIENT_MAX = 3,
    SHM_ST_ILLEGAL_NAME = 4,
    SHM_ST_NO_PERMISSION = 5,
    SHM_ST_DOES_NOT_EXIST = 6,
};

struct shm_dev {
    volatile uint8_t *factory;
    bool pci;
    unsigned bdf;  /* PCI: dev << 3 | fn */
    uint64_t bar2; /* PCI: the region window (BAR 2) */
    uint64_t bar2_size;
    unsigned line;                 /* IOAPIC input: INTx line (PCI) or the `intr` line (MMIO) */
    unsigned msix_cap;             /* PCI: MSI-X capability offset, 0 if none */
    volatile uint32_t *msix_table; /* set by shm_irq_setup with MSI-X */
    bool msix;                     /* interrupts by MSI-X (shm_irq_setup) */
    unsigned vector;               /* the LAPIC vector shm_irq_setup was given */
};

struct shm_region {
    struct shm_dev *dev;
    volatile uint32_t *ctl; /* control page */
    volatile uint8_t *data; /* `pages` data pages after it */
    uint64_t gpa;           /* guest-physical address of the control page */
    uint32_t pages;
    unsigned idx;
    /* What the interrupt handler read (shm_irq_add): */
    volatile uint32_t pending;  /* notify bits accumulated, taken by shm_take_pending */
    volatile uint32_t attached; /* the last attach bitmap read */
};

/* PCI: finds the first 1C05:0001 function on bus 0, reads BAR 0 (factory) and BAR 2 (region
 * window) where the VMM placed them (shm_attach maps the regions), sizes BAR 2, notes the MSI-X
 * capability (msix_cap; nothing enabled) and turns memory decoding on. false if there is none
 * or BAR 0 is unusable. */
bool shm_find_pci(struct shm_dev *d);
/* PCI: moves BAR 2 to `base` (decoding off meanwhile) and with it the n regions given: their
 * pages follow the window, at the same offsets. false if the BAR did not take the address or a
 * region cannot be mapped there. Mask the interrupt first (shm_irq_mask): the handler reads
 * the control pages. */
bool shm_move_window(struct shm_dev *d, uint64_t base, struct shm_region **rs, unsigned n);
/* MMIO: the factory page at `factory` (the device's `loc`), interrupt on IOAPIC `line`. */
void shm_at(struct shm_dev *d, uint64_t factory, unsigned line);

static inline uint64_t shm_signature(const struct shm_dev *d)
{
    return *(volatile uint64_t *)(d->factory + SHM_F_SIGNATURE);
}
static inline uint32_t shm_factory32(const struct shm_dev *d, unsigned off)
{
    return *(volatile uint32_t *)(d->factory + off);
}

/* Writes `name` into the factory, then `pages` to size (create or attach; find_only: to find,
 * attach an existing region only). Returns the factory status; on SHM_ST_OK fills r (the
 * region's pages identity-mapped) with the actual size and our idx. */
unsigned shm_attach(struct shm_dev *d, const char *name, uint32_t pages, bool find_only,
                    struct shm_region *r);

/* Control page. Reading the status clears our notify bits: once the interrupt handler owns a
 * region (shm_irq_add), only the handler should read it. */
static inline uint32_t shm_read_status(struct shm_region *r)
{
    return r->ctl[SHM_C_STATUS / 4];
}
static inline void shm_notify(struct shm_region *r, uint32_t mask)
{
    r->ctl[SHM_C_NOTIFY / 4] = mask;
}
static inline void shm_detach(struct shm_region *r)
{
    r->ctl[SHM_C_DETACH / 4] = 1;
}

/* Interrupts: the handler on `vector`, routed to vCPU 0. With `msix` (PCI, msix_cap set):
 * MSI-X vector 0 of the device, its table's BAR placed at SHM_MSIX_BAR if it had no address,
 * MSI-X enabled; false if that cannot be done. Else the device's line through the IOAPIC
 * (level; active low for PCI INTx, high for MMIO). Regions given to shm_irq_add (up to 4) are
 * read by the handler. Again after shm_irq_mask, it unmasks what it set up before. */
#define SHM_MSIX_BAR 0xcf000000u /* in the 32-bit BAR window, away from what the VMM assigns */
bool shm_irq_setup(struct shm_dev *d, unsigned vector, bool msix);
/* Masks the interrupt (the IOAPIC pin, or MSI-X entry 0: the device keeps a pending bit and
 * sends it on shm_irq_unmask) and unmasks it again. */
void shm_irq_mask(struct shm_dev *d);
void shm_irq_unmask(struct shm_dev *d);
/* "MSI-X", "INTx" or "line" (MMIO): what shm_irq_setup set up. */
const char *shm_irq_mode(const struct shm_dev *d);
void shm_irq_add(struct shm_region *r);
/* Stops the handler reading r (before detaching it: a detached client has no control page). */
void shm_irq_remove(struct shm_region *r);
/* Interrupts taken, and those whose status reads showed nothing new on any region. */
extern volatile uint32_t shm_irqs, shm_irqs_idle;
/* Takes (clears) and returns the accumulated notify bits. */
uint32_t shm_take_pending(struct shm_region *r);
/* Waits (bounded, see rt_wait) until one of `bits` is pending, takes them all; returns the
 * bits taken, 0 on timeout. */
uint32_t shm_wait_notify(struct shm_region *r, uint32_t bits);
/* Waits (bounded) until the handler has read an attach bitmap b with (b & mask) == want. */
bool shm_wait_attached(struct shm_region *r, uint32_t mask, uint32_t want);

/* Identity-maps [addr, addr + len) with 2 MiB user pages where the runtime's map (4 GiB) does
 * not reach (below 512 GiB). false if it cannot. */
bool shm_map_identity(uint64_t addr, uint64_t len);

#endif
