/* Linux bzImage by the 64-bit boot protocol (Documentation/arch/x86/boot.rst): the setup
 * header is copied into a zero page, the protected-mode kernel goes to 1 MiB and the boot
 * CPU enters startup_64 (kernel + 0x200) in long mode with %rsi = the zero page. */
#include <stdlib.h>
#include <string.h>

#include "loaders.h"
#include <vdev/pci.h>

/* boot_params offsets */
#define BP_ACPI_RSDP         0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_EXT_CMD_LINE_PTR  0x0c8
#define BP_E820_ENTRIES      0x1e8
#define BP_SETUP_SECTS       0x1f1
#define BP_HEADER            0x202
#define BP_VERSION           0x206
#define BP_TYPE_OF_LOADER    0x210
#define BP_LOADFLAGS         0x211
#define BP_RAMDISK_IMAGE     0x218
#define BP_RAMDISK_SIZE      0x21c
#define BP_HEAP_END_PTR      0x224
#define BP_CMD_LINE_PTR      0x228
#define BP_INITRD_ADDR_MAX   0x22c
#define BP_XLOADFLAGS        0x236
#define BP_CMDLINE_SIZE      0x238
#define BP_INIT_SIZE         0x260
#define BP_SETUP_HEADER_END  0x290 /* boot_params: edd_mbr_sig_buffer follows the header */
#define BP_E820_TABLE        0x2d0
#define E820_MAX             128

#define LOADED_HIGH   0x01
#define CAN_USE_HEAP  0x80
#define XLF_KERNEL_64 0x01

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_ACPI     3

#define KERNEL_LOAD 0x100000ull

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint16_t rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void wr64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

struct e820 {
    unsigned n;
    bool overflow;
    bool pci;
    struct vdev_pci_host_desc host; /* BARs inside its windows are the guest's to move */
    struct {
        uint64_t addr, size;
        uint32_t type;
    } e[E820_MAX];
};

static void e820_add(struct e820 *t, uint64_t addr, uint64_t end, uint32_t type)
{
    if (end <= addr)
        return;
    if (t->n == E820_MAX) {
        t->overflow = true;
        return;
    }
    t->e[t->n].addr = addr;
    t->e[t->n].size = end - addr;
    t->e[t->n].type = type;
    t->n++;
}

/* RAM minus the legacy hole and the firmware-table window; every other window reserved. */
static void e820_region(const struct vdev_region_info *r, void *arg)
{
    struct e820 *t = arg;
    uint64_t base = r->base, end = r->base + r->size;
    /* A BAR is not a platform reservation: Linux clips its bridge windows with e820
     * reservations and would then find no room for the BARs where they are. */
    if (t->pci &&
        ((base >= t->host.mmio32_base && end <= t->host.mmio32_base + t->host.mmio32_size) ||
         (t->host.mmio64_size && base >= t->host.mmio64_base &&
          end <= t->host.mmio64_base + t->host.mmio64_size)))
        return;
    if (r->kind != VDEV_REGION_RAM) {
        e820_add(t, base, end, E820_RESERVED);
        return;
    }
    static const struct {
        uint64_t lo, hi;
        uint32_t type;
    } holes[] = {{X86_ACPI_BASE, X86_ACPI_BASE + X86_ACPI_SIZE, E820_ACPI},
                 {X86_LEGACY_HOLE, X86_HIGH_MEMORY, E820_RESERVED}};
    for (unsigned i = 0; i < 2; i++) {
        if (holes[i].hi <= base || holes[i].lo >= end)
            continue;
        e820_add(t, base, holes[i].lo > base ? holes[i].lo : base, E820_RAM);
        e820_add(t, holes[i].lo > base ? holes[i].lo : base, holes[i].hi < end ? holes[i].hi : end,
                 holes[i].type);
        base = holes[i].hi < end ? holes[i].hi : end;
    }
    e820_add(t, base, end, E820_RAM);
}

/* Highest page-aligned address below `limit` where `size` bytes of RAM fit above `floor`. */
struct initrd_place {
    uint64_t size, floor, limit, best;
};

static void initrd_candidate(const struct vdev_region_info *r, void *arg)
{
    struct initrd_place *p = arg;
    if (r->kind != VDEV_REGION_RAM || !r->host)
        return;
    uint64_t end = r->base + r->size;
    if (end > p->limit)
        end = p->limit;
    if (end < p->size)
        return;
    uint64_t at = (end - p->size) & ~0xfffull;
    if (at >= r->base && at >= p->floor && at > p->best)
        p->best = at;
}

int load_bzimage(struct vdev_machine *m, const void *image, size_t len, const char *initrd_path,
                 const char *cmdline, uint64_t rsdp, struct x86_entry *entry, struct vdev_err *err)
{
    const uint8_t *img = image;
    /* Every header field read below lies before the end of init_size. */
    if (len < BP_INIT_SIZE + 4 || memcmp(img + BP_HEADER, "HdrS", 4))
        return vdev_err_set(err, "not a bzImage: no boot protocol header (truncated at %zu bytes?)",
                            len);
    uint16_t version = rd16(img + BP_VERSION);
    if (version < 0x20c || !(rd16(img + BP_XLOADFLAGS) & XLF_KERNEL_64))
        return vdev_err_set(err, "bzImage boot protocol %u.%u has no 64-bit entry (need 2.12+)",
                            version >> 8, version & 0xff);
    unsigned setup_sects = img[BP_SETUP_SECTS] ? img[BP_SETUP_SECTS] : 4;
    size_t setup_size = (setup_sects + 1) * 512ull;
    if (setup_size >= len)
        return vdev_err_set(err, "bzImage is truncated");
    size_t kernel_size = len - setup_size;
    uint64_t init_size = rd32(img + BP_INIT_SIZE);
    uint64_t need = init_size > kernel_size ? init_size : kernel_size;

    uint8_t *zp = vdev_gmem_ptr(m, X86_BOOT_ZERO_PAGE, 4096, true);
    uint8_t *kdst = vdev_gmem_ptr(m, KERNEL_LOAD, need, true);
    if (!zp || !kdst)
        return vdev_err_set(err,
                            "the kernel needs RAM at 0x%llx-0x%llx and at 0x%llx (hint: give "
                            "RAM from address 0, e.g. 'ram 256M')",
                            KERNEL_LOAD, (unsigned long long)(KERNEL_LOAD + need),
                            X86_BOOT_ZERO_PAGE);
    memcpy(kdst, img + setup_size, kernel_size);

    memset(zp, 0, 4096);
    size_t hdr_end = 0x202 + img[0x201]; /* the setup header's own length */
    /* The header may not run into the zero page's fields after it (EDD, e820 at 0x2d0). */
    if (hdr_end > setup_size || hdr_end > BP_SETUP_HEADER_END)
        return vdev_err_set(err, "bzImage setup header is malformed");
    memcpy(zp + BP_SETUP_SECTS, img + BP_SETUP_SECTS, hdr_end - BP_SETUP_SECTS);
    zp[BP_TYPE_OF_LOADER] = 0xff;
    zp[BP_LOADFLAGS] |= LOADED_HIGH | CAN_USE_HEAP;
    zp[BP_HEAP_END_PTR] = 0x00;
    zp[BP_HEAP_END_PTR + 1] = 0xfe;

    size_t clen = cmdline ? strlen(cmdline) : 0;
    uint32_t cmax = rd32(img + BP_CMDLINE_SIZE);
    if (clen > cmax || clen >= X86_BOOT_CMDLINE_MAX)
        return vdev_err_set(err, "cmdline is %zu bytes; this kernel takes at most %u", clen, cmax);
    char *cdst = vdev_gmem_ptr(m, X86_BOOT_CMDLINE, clen + 1, true);
    if (!cdst)
        return vdev_err_set(err, "no guest RAM for the command line");
    memcpy(cdst, cmdline ? cmdline : "", clen + 1);
    wr32(zp + BP_CMD_LINE_PTR, (uint32_t)X86_BOOT_CMDLINE);

    if (initrd_path) {
        size_t ilen;
        void *initrd = load_file(initrd_path, 1ull << 31, &ilen, err);
        if (!initrd)
            return -1;
        uint64_t max = rd32(img + BP_INITRD_ADDR_MAX);
        struct initrd_place p = {.size = ilen, .floor = KERNEL_LOAD + need, .limit = max + 1};
        vdev_bus_foreach(vdev_machine_bus(m), VDEV_SPACE_MEM, initrd_candidate, &p);
        uint8_t *idst = p.best ? vdev_gmem_ptr(m, p.best, ilen, true) : NULL;
        if (!idst) {
            free(initrd);
            return vdev_err_set(err,
                                "initrd of %zu bytes does not fit in RAM below 0x%llx above "
                                "the kernel (hint: more 'ram')",
                                ilen, (unsigned long long)(max + 1));
        }
        memcpy(idst, initrd, ilen);
        free(initrd);
        wr32(zp + BP_RAMDISK_IMAGE, (uint32_t)p.best);
        wr32(zp + BP_RAMDISK_SIZE, (uint32_t)ilen);
    }

    struct e820 *t = calloc(1, sizeof(*t));
    if (!t)
        return vdev_err_set(err, "out of memory");
    t->pci = vdev_machine_pci_host(m, &t->host);
    vdev_bus_foreach(vdev_machine_bus(m), VDEV_SPACE_MEM, e820_region, t);
    if (t->overflow) {
        free(t);
        return vdev_err_set(err, "the memory map has more than %d entries", E820_MAX);
    }
    zp[BP_E820_ENTRIES] = (uint8_t)t->n;
    for (unsigned i = 0; i < t->n; i++) {
        uint8_t *e = zp + BP_E820_TABLE + i * 20;
        wr64(e, t->e[i].addr);
        wr64(e + 8, t->e[i].size);
        wr32(e + 16, t->e[i].type);
    }
    free(t);
    wr64(zp + BP_ACPI_RSDP, rsdp);

    entry->rip = KERNEL_LOAD + 0x200;
    entry->rsi = X86_BOOT_ZERO_PAGE;
    return 0;
}
