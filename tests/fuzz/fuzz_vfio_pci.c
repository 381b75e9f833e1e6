/* A passed device's guest-facing side (vdevs/vfio-pci) as a hostile guest drives it, against
 * a fake kernel VFIO holding an igb VF (BAR0 mapped, BAR3 trapped with the MSI-X table and
 * PBA, PCI Express capability copied): config cycles of any size and register, BAR sizing
 * and moves, accesses anywhere in the BARs, MSI-X enable and masking, the device changing its
 * own config space under the guest, machine resets.
 *
 * The first input byte picks the device: that VF, or (odd) one more like a PF: INTx, a ROM
 * and an MSI capability besides MSI-X, with the embedder binding level irqfds.
 *
 * Invariants: the IDs never change; the device's own command register only ever changes in
 * the bits passed through (I/O, memory, bus master, INTx disable); VFIO is handed either
 * all vectors of a kind, each a valid eventfd, or none (MSI: a power of two up to 4); no
 * VFIO_DEVICE_SET_IRQS breaks vfio-pci's one-interrupt-kind rule; config reads at the
 * core's registers (BARs, capability pointer, MSI-X) never come from the device.
 */
/* FUZZ_ARGS: -max_len=4096 */
#include <linux/vfio.h>

#include "fake_sysfs.h"
#include "fake_vfio.h"
#include "fz_transport.h"
#include "vfio_pci_dev.h"

#define MAX_OPS 256
#define SLOT    3

extern const struct vdev_type vdev_module_vfio_pci;

static struct fake_sysfs fs;
static struct vfio_host_root root;
static struct fzt t;

static void once(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    struct vdev_err err;
    if (vdev_register_type(&vdev_module_vfio_pci, &err))
        abort();
    fake_sysfs_new(&fs, true);
    fake_sysfs_add(&fs, "0000:01:10.0", 0x8086, 0x10ca, "vfio-pci", 2);
    root.sys = fs.sys;
    root.dev = fs.dev;
    vfio_pci_set_host_root(&root);
}

static uint64_t cfg_addr(unsigned reg)
{
    return FZT_ECAM + ((uint64_t)SLOT << 15) + reg;
}

static uint16_t host_cmd(const struct fake_vfio *f)
{
    uint16_t v = 0;
    FZ_ASSERT(pread(f->memfd, &v, 2, (off_t)FAKE_VFIO_REGION_OFF(VFIO_REGION_CFG) + 4) == 2);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size};
    struct fake_vfio f;
    once();
    fake_vfio_init(&f);
    const bool pf = fz_u8(&in) & 1;
    if (pf) {
        fake_vfio_give_intx_rom(&f);
        fake_vfio_give_msi(&f);
    }
    vfio_pci_set_backend(&f.be);
    fzt_build(&t, "ram 64M pass loc pci:0:3.0=pci:0000:01:10.0", true);
    struct vfio_pci *p = vdev_state(vdev_machine_device(t.fm.m, 0));
    uint16_t cmd0 = host_cmd(&f);
    for (unsigned op = 0; op < MAX_OPS && fz_left(&in); op++) {
        uint8_t kind = fz_u8(&in);
        unsigned sz = 1u << (fz_u8(&in) & 3);
        switch (kind % 6) {
        case 0: { /* config read */
            unsigned reg = fz_u16(&in) & 0xfff;
            uint64_t v = fzt_io(&t, VDEV_SPACE_MEM, cfg_addr(reg), sz, false, 0, NULL);
            if (reg == 0 && sz == 4) /* 8-byte config cycles do not exist: all ones */
                FZ_ASSERT((uint32_t)v == 0x10ca8086);
            break;
        }
        case 1: /* config write */
        case 2: {
            unsigned reg = fz_u16(&in) & 0xff;
            if (kind % 6 == 2) /* near the interesting registers */
                reg = (unsigned[]){0x04, 0x10, 0x1c, 0x30, 0x40, 0x42, 0x44, 0x4a,
                                   0x4c, 0x52, 0x54, 0x5c, 0x62, 0x64, 0x6c, 0x72}[fz_u8(&in) % 16];
            fzt_io(&t, VDEV_SPACE_MEM, cfg_addr(reg), sz, true, fz_u32(&in), NULL);
            break;
        }
        case 3: { /* a BAR access, where the guest put it */
            unsigned bar = fz_u8(&in) & 1 ? 3 : 0;
            uint64_t base = vdev_pci_bar_base(p->f, bar), off = fz_u16(&in) & 0x3fff;
            bool wr = fz_u8(&in) & 1;
            if (base && !p->bar_map[bar])
                fzt_io(&t, VDEV_SPACE_MEM, base + off, sz, wr, fz_u64(&in), NULL);
            break;
        }
        case 4: { /* the device changes its own config space */
            unsigned reg = fz_u8(&in);
            uint8_t b = fz_u8(&in);
            if (reg >= 0x40)
                FZ_ASSERT(pwrite(f.memfd, &b, 1,
                                 (off_t)FAKE_VFIO_REGION_OFF(VFIO_REGION_CFG) + reg) == 1);
            break;
        }
        case 5:
            if ((fz_u8(&in) & 15) == 0)
                vdev_machine_reset(t.fm.m);
            break;
        }
        FZ_ASSERT(((host_cmd(&f) ^ cmd0) & ~0x0407u) == 0);
        FZ_ASSERT(f.irq_sets_refused == 0);
        FZ_ASSERT(pf || f.last_irq_set.index == 0 ||
                  f.last_irq_set.index == VFIO_PCI_MSIX_IRQ_INDEX);
        if (f.irq_sets) {
            const unsigned n = f.last_irq_set.count;
            switch (f.last_irq_set.index) {
            case VFIO_PCI_MSIX_IRQ_INDEX:
                FZ_ASSERT(n == 0 || n == 3);
                break;
            case VFIO_PCI_MSI_IRQ_INDEX:
                FZ_ASSERT(n == 0 || n == 1 || n == 2 || n == 4);
                break;
            default:
                FZ_ASSERT(n <= 1);
            }
            for (unsigned k = 0; k < n && k < 8; k++)
                FZ_ASSERT(f.last_irq_fds[k] >= 0);
        }
        fzt_kernel(&t);
    }
    FZ_ASSERT(cfg_addr(0) &&
              (uint32_t)fzt_io(&t, VDEV_SPACE_MEM, cfg_addr(0), 4, false, 0, NULL) == 0x10ca8086);
    fzt_free(&t);
    vfio_pci_set_backend(NULL);
    fake_vfio_free(&f);
    return 0;
}
