/* Minimal guest_shm driver for tiny guests: see shmem_drv.h. */
#include "shmem_drv.h"

#include "pci.h"
#include "rt.h"

#define PCI_BAR2       0x18
#define SHM_VENDOR     0x1c05u
#define SHM_DEVICE     0x0001u
#define PTE_P          0x1ull
#define PTE_W          0x2ull
#define PTE_U          0x4ull
#define PTE_PS         0x80ull
#define PTE_ADDR       0x000ffffffffff000ull
#define GIB            (1ull << 30)
#define MAX_IRQ_REGION 4
#define EXTRA_PDS      8

volatile uint32_t shm_irqs, shm_irqs_idle;
static struct shm_region *irq_regions[MAX_IRQ_REGION];
static unsigned n_irq_regions;

/* Page directories for what lies beyond the runtime's 4 GiB map (one per GiB). */
static uint64_t extra_pds[EXTRA_PDS][512] __attribute__((aligned(4096)));
static unsigned n_extra_pds;

bool shm_map_identity(uint64_t addr, uint64_t len)
{
    if (!len)
        return true;
    uint64_t end = addr + len;
    if (end < addr || end > 512 * GIB) /* one PDPT (PML4 entry 0) only */
        return false;
    if (end <= 4 * GIB)
        return true;
    uint64_t *pml4 = (uint64_t *)(uintptr_t)(rt_boot_cr3 & PTE_ADDR);
    if (!(pml4[0] & PTE_P))
        return false;
    uint64_t *pdpt = (uint64_t *)(uintptr_t)(pml4[0] & PTE_ADDR);
    for (uint64_t g = addr / GIB; g <= (end - 1) / GIB; g++) {
        if (pdpt[g] & PTE_P) /* the runtime's map, or ours from an earlier call */
            continue;
        if (n_extra_pds == EXTRA_PDS)
            return false;
        uint64_t *pd = extra_pds[n_extra_pds++];
        for (uint64_t j = 0; j < 512; j++)
            pd[j] = (g * GIB + (j << 21)) | PTE_P | PTE_W | PTE_U | PTE_PS;
        /* was not present, so no TLB entry to flush */
        __atomic_store_n(&pdpt[g], (uintptr_t)pd | PTE_P | PTE_W | PTE_U, __ATOMIC_SEQ_CST);
    }
    return true;
}

/* A memory BAR's address (and the next register for a 64-bit one). */
static uint64_t bar_addr(unsigned bdf, unsigned reg, bool *is64)
{
    uint32_t lo = pci_cfg_read(bdf, reg, 4);
    *is64 = (lo & 0x7) == 0x4;
    uint64_t a = lo & ~0xfull;
    if (*is64)
        a |= (uint64_t)pci_cfg_read(bdf, reg + 4, 4) << 32;
    return (lo & 1) ? 0 : a;
}

/* Sizes a 64-bit memory BAR with decoding off, then restores it. */
static uint64_t bar64_size(unsigned bdf, unsigned reg)
{
    uint32_t lo = pci_cfg_read(bdf, reg, 4), hi = pci_cfg_read(bdf, reg + 4, 4);
    pci_cfg_write(bdf, reg, 4, 0xffffffffu);
    pci_cfg_write(bdf, reg + 4, 4, 0xffffffffu);
    uint64_t mask =
        (uint64_t)pci_cfg_read(bdf, reg + 4, 4) << 32 | (pci_cfg_read(bdf, reg, 4) & ~0xfu);
    pci_cfg_write(bdf, reg, 4, lo);
    pci_cfg_write(bdf, reg + 4, 4, hi);
    return ~mask + 1;
}

bool shm_find_pci(struct shm_dev *d)
{
    *d = (struct shm_dev){.pci = true};
    int bdf = pci_find_function(SHM_VENDOR, SHM_DEVICE);
    if (bdf < 0)
        return false;
    d->bdf = (unsigned)bdf;
    uint16_t cmd = (uint16_t)pci_cfg_read(d->bdf, PCI_COMMAND, 2);
    pci_cfg_write(d->bdf, PCI_COMMAND, 2, cmd & ~PCI_CMD_MEM);
    bool is64;
    uint64_t f = bar_addr(d->bdf, PCI_BAR0, &is64);
    d->bar2 = bar_addr(d->bdf, PCI_BAR2, &is64);
    if (d->bar2 && is64)
        d->bar2_size = bar64_size(d->bdf, PCI_BAR2);
    if (!f || !shm_map_identity(f, SHM_PAGE))
        return false;
    d->factory = (volatile uint8_t *)(uintptr_t)f;
    d->line = pci_cfg_read(d->bdf, PCI_INTERRUPT_LINE, 1);
    d->msix_cap = pci_find_cap(d->bdf, PCI_CAP_MSIX);
    pci_cfg_write(d->bdf, PCI_COMMAND, 2, cmd | PCI_CMD_MEM);
    return true;
}

bool shm_move_window(struct shm_dev *d, uint64_t base, struct shm_region **rs, unsigned n)
{
    uint16_t cmd = (uint16_t)pci_cfg_read(d->bdf, PCI_COMMAND, 2);
    pci_cfg_write(d->bdf, PCI_COMMAND, 2, cmd & ~PCI_CMD_MEM);
    pci_cfg_write(d->bdf, PCI_BAR2, 4, (uint32_t)base);
    pci_cfg_write(d->bdf, PCI_BAR2 + 4, 4, (uint32_t)(base >> 32));
    pci_cfg_write(d->bdf, PCI_COMMAND, 2, cmd | PCI_CMD_MEM);
    bool is64;
    if (bar_addr(d->bdf, PCI_BAR2, &is64) != base)
        return false;
    uint64_t old = d->bar2;
    d->bar2 = base;
    for (unsigned i = 0; i < n; i++) {
        struct shm_region *r = rs[i];
        uint64_t gpa = r->gpa - old + base;
        if (!shm_map_identity(gpa, ((uint64_t)r->pages + 1) * SHM_PAGE))
            return false;
        r->gpa = gpa;
        r->ctl = (volatile uint32_t *)(uintptr_t)gpa;
        r->data = (volatile uint8_t *)(uintptr_t)(gpa + SHM_PAGE);
    }
    return true;
}

void shm_at(struct shm_dev *d, uint64_t factory, unsigned line)
{
    *d = (struct shm_dev){.factory = (volatile uint8_t *)(uintptr_t)factory, .line = line};
}

unsigned shm_attach(struct shm_dev *d, const char *name, uint32_t pages, bool find_only,
                    struct shm_region *r)
{
    /* The name as eight 32-bit writes, zero-padded. */
    uint8_t buf[SHM_NAME_MAX] = {0};
    for (unsigned i = 0; i < SHM_NAME_MAX && name[i]; i++)
        buf[i] = (uint8_t)name[i];
    volatile uint32_t *fname = (volatile uint32_t *)(d->factory + SHM_F_NAME);
    for (unsigned i = 0; i < SHM_NAME_MAX / 4; i++)
        fname[i] = (uint32_t)buf[4 * i] | (uint32_t)buf[4 * i + 1] << 8 |
                   (uint32_t)buf[4 * i + 2] << 16 | (uint32_t)buf[4 * i + 3] << 24;
    *(volatile uint32_t *)(d->factory + (find_only ? SHM_F_FIND : SHM_F_SIZE)) = pages;
    unsigned st = shm_factory32(d, SHM_F_STATUS);
    if (st != SHM_ST_OK)
        return st;
    *r = (struct shm_region){.dev = d};
    r->gpa = *(volatile uint64_t *)(d->factory + SHM_F_SHMEM);
    r->pages = shm_factory32(d, SHM_F_SIZE);
    if (!r->gpa || (r->gpa & (SHM_PAGE - 1)) || !r->pages ||
        !shm_map_identity(r->gpa, ((uint64_t)r->pages + 1) * SHM_PAGE))
        return SHM_ST_UNKNOWN; /* what a driver could not use */
    r->ctl = (volatile uint32_t *)(uintptr_t)r->gpa;
    r->data = (volatile uint8_t *)(uintptr_t)(r->gpa + SHM_PAGE);
    r->idx = r->ctl[SHM_C_IDX / 4];
    return SHM_ST_OK;
}

/* Reads each region's status and accumulates it; true if something was new. */
static bool read_regions(void)
{
    bool news = false;
    for (unsigned i = 0; i < n_irq_regions; i++) {
        struct shm_region *r = irq_regions[i];
        if (!r)
            continue;
        uint32_t s = shm_read_status(r);
        uint32_t notified = s & 0xffff, att = s >> 16;
        if (notified || att != r->attached)
            news = true;
        __atomic_fetch_or(&r->pending, notified, __ATOMIC_SEQ_CST);
        __atomic_store_n(&r->attached, att, __ATOMIC_SEQ_CST);
    }
    return news;
}

/* Level-triggered: each status read clears that region's reason; the runtime sends the EOI
 * after this returns, when the line is low unless a new reason came meanwhile. MSI-X: a change
 * after the read sends another message, taken after the EOI. */
static void on_shm_irq(struct rt_frame *f)
{
    (void)f;
    bool news = read_regions();
    shm_irqs = shm_irqs + 1;
    if (!news)
        shm_irqs_idle = shm_irqs_idle + 1;
}

/* MSI-X vector 0: the table in the BAR the capability names (32-bit memory, so inside the
 * runtime's 4 GiB map), entry 0 to vCPU 0, then MSI-X on. A change while MSI-X was off sent
 * no message (INTx instead, which nobody routes), so the regions are read once after MSI-X is
 * on, with the entry masked: what changes meanwhile is held as pending and sent on unmask. */
static bool msix_setup(struct shm_dev *d)
{
    if (!d->msix_cap)
        return false;
    unsigned bar = pci_msix_table_bar(d->bdf, d->msix_cap);
    uint32_t base = bar < 6 ? pci_bar32_place(d->bdf, bar, SHM_MSIX_BAR) : 0;
    uint32_t off = pci_msix_table_offset(d->bdf, d->msix_cap);
    if (!base)
        return false;
    uint16_t cmd = (uint16_t)pci_cfg_read(d->bdf, PCI_COMMAND, 2);
    pci_cfg_write(d->bdf, PCI_COMMAND, 2, cmd | PCI_CMD_MEM);
    d->msix_table = (volatile uint32_t *)(uintptr_t)(base + off);
    pci_msix_route(d->msix_table, 0, d->vector, 0);
    pci_msix_mask(d->msix_table, 0, true);
    pci_msix_enable(d->bdf, d->msix_cap, true);
    d->msix = true;
    read_regions();
    pci_msix_mask(d->msix_table, 0, false);
    return true;
}

bool shm_irq_setup(struct shm_dev *d, unsigned vector, bool msix)
{
    d->vector = vector;
    rt_on_irq(vector, on_shm_irq);
    if (msix)
        return msix_setup(d);
    shm_irq_unmask(d);
    return true;
}

void shm_irq_mask(struct shm_dev *d)
{
    if (d->msix)
        pci_msix_mask(d->msix_table, 0, true);
    else
        rt_ioapic_mask(d->line);
}

void shm_irq_unmask(struct shm_dev *d)
{
    if (d->msix)
        pci_msix_mask(d->msix_table, 0, false);
    else
        rt_ioapic_route(d->line, d->vector, 0,
                        RT_IOAPIC_LEVEL | (d->pci ? RT_IOAPIC_ACTIVE_LOW : 0));
}

const char *shm_irq_mode(const struct shm_dev *d)
{
    return d->msix ? "MSI-X" : d->pci ? "INTx" : "line";
}

static void add_region(struct shm_region *r)
{
    for (unsigned i = 0; i < n_irq_regions; i++)
        if (!irq_regions[i]) {
            __atomic_store_n(&irq_regions[i], r, __ATOMIC_SEQ_CST);
            return;
        }
    RT_CHECK(n_irq_regions < MAX_IRQ_REGION);
    __atomic_store_n(&irq_regions[n_irq_regions], r, __ATOMIC_SEQ_CST);
    __atomic_store_n(&n_irq_regions, n_irq_regions + 1, __ATOMIC_SEQ_CST);
}

/* With MSI-X on, a change to r before the handler knew it sent a message the handler found
 * nothing in: read the regions once, masked, as msix_setup does. (A level line stays up.) */
void shm_irq_add(struct shm_region *r)
{
    struct shm_dev *d = r->dev;
    if (!d->msix) {
        add_region(r);
        return;
    }
    pci_msix_mask(d->msix_table, 0, true);
    add_region(r);
    read_regions();
    pci_msix_mask(d->msix_table, 0, false);
}

/* The handler runs on this vCPU between CPL3 instructions, never half-way through this store. */
void shm_irq_remove(struct shm_region *r)
{
    for (unsigned i = 0; i < n_irq_regions; i++)
        if (irq_regions[i] == r)
            __atomic_store_n(&irq_regions[i], NULL, __ATOMIC_SEQ_CST);
}

uint32_t shm_take_pending(struct shm_region *r)
{
    return __atomic_exchange_n(&r->pending, 0, __ATOMIC_SEQ_CST);
}

uint32_t shm_wait_notify(struct shm_region *r, uint32_t bits)
{
    uint64_t t0 = rt_rdtsc();
    while (!(__atomic_load_n(&r->pending, __ATOMIC_SEQ_CST) & bits)) {
        if (rt_rdtsc() - t0 > RT_HANG_TICKS)
            return 0;
        rt_pause();
    }
    return shm_take_pending(r);
}

bool shm_wait_attached(struct shm_region *r, uint32_t mask, uint32_t want)
{
    uint64_t t0 = rt_rdtsc();
    while ((__atomic_load_n(&r->attached, __ATOMIC_SEQ_CST) & mask) != want) {
        if (rt_rdtsc() - t0 > RT_HANG_TICKS)
            return false;
        rt_pause();
    }
    return true;
}
