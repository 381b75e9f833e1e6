#include "x86_boot.h"

#include <string.h>

#define PTE_P  0x1ull
#define PTE_W  0x2ull
#define PTE_U  0x4ull
#define PTE_PS 0x80ull /* 2 MiB page in a page directory */

int x86_boot_write_tables(struct vdev_machine *m, bool user_pages, struct vdev_err *err)
{
    /* null, unused, code (0x10), data (0x18): flat 4 GiB, 64-bit code */
    static const uint64_t gdt[4] = {0, 0, 0x00af9b000000ffffull, 0x00cf93000000ffffull};
    if (vdev_gmem_write(m, X86_BOOT_GDT, gdt, sizeof(gdt)))
        return vdev_err_set(err,
                            "no guest RAM at 0x%llx for the boot GDT (hint: give RAM "
                            "from address 0, e.g. 'ram 256M')",
                            X86_BOOT_GDT);
    uint64_t flags = PTE_P | PTE_W | (user_pages ? PTE_U : 0);
    uint64_t *pml4 = vdev_gmem_ptr(m, X86_BOOT_PML4, 6 * 4096, true);
    if (!pml4)
        return vdev_err_set(err, "no guest RAM at 0x%llx for the boot page tables", X86_BOOT_PML4);
    memset(pml4, 0, 6 * 4096);
    uint64_t *pdpt = pml4 + 512, *pd = pml4 + 1024;
    pml4[0] = (X86_BOOT_PML4 + 0x1000) | flags;
    for (uint64_t i = 0; i < 4; i++) {
        pdpt[i] = (X86_BOOT_PML4 + 0x2000 + i * 0x1000) | flags;
        for (uint64_t j = 0; j < 512; j++)
            pd[i * 512 + j] = ((i * 512 + j) << 21) | flags | PTE_PS;
    }
    return 0;
}

/* Linux on hardware-reduced ACPI without EFI reboots through the BIOS: real mode, then a
 * jump to the reset vector F000:FFF0. Put a stub there that writes the ACPI reset register,
 * so that path ends as a reset too. */
void x86_boot_write_reset_vector(struct vdev_machine *m, uint16_t reset_port, uint8_t value)
{
    const uint8_t stub[] = {0xb0,
                            value, /* mov al, value */
                            0xba,
                            (uint8_t)reset_port,
                            (uint8_t)(reset_port >> 8), /* mov dx, port */
                            0xee,                       /* out dx, al */
                            0xf4,
                            0xeb,
                            0xfd};                   /* hlt; jmp $-1 */
    vdev_gmem_write(m, 0xffff0, stub, sizeof(stub)); /* no RAM there: nothing to do */
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
    memset(s, 0, sizeof(*s));
    s->base = 0;
    s->limit = 0xffffffff;
    s->selector = sel;
    s->type = type;
    s->present = 1;
    s->dpl = 0;
    s->s = 1;
    s->l = code;
    s->db = !code;
    s->g = 1;
}

void x86_boot_long_mode_sregs(struct kvm_sregs *s)
{
    flat_segment(&s->cs, X86_BOOT_CS, 0xb, true);  /* execute/read, accessed */
    flat_segment(&s->ds, X86_BOOT_DS, 0x3, false); /* read/write, accessed */
    s->es = s->fs = s->gs = s->ss = s->ds;
    s->gdt.base = X86_BOOT_GDT;
    s->gdt.limit = 4 * 8 - 1;
    s->cr3 = X86_BOOT_PML4;
    s->cr4 = 0x20;              /* PAE */
    s->cr0 = 0x80000001 | 0x10; /* PG, PE, ET */
    s->efer = 0x500;            /* LME, LMA */
}
