#include "arm64_image.h"

#include <string.h>
#include <vdev/bus.h>
#include <vdev/gmem.h>
#include <vdev/machine.h>

#include "arm64_platform.h"

#define PAGE 0x1000ull

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

int arm64_image_parse(const void *image, size_t len, const char *what, struct arm64_image_header *h,
                      struct vdev_err *err)
{
    const uint8_t *p = image;
    if (len < ARM64_IMAGE_HEADER_SIZE)
        return vdev_err_setc(err, VDEV_E_CONFIG,
                             "%s: %zu bytes, shorter than an arm64 Image header (64)", what, len);
    if (memcmp(p + ARM64_IMAGE_MAGIC_OFF, "ARM\x64", 4) != 0)
        return vdev_err_setc(err, VDEV_E_CONFIG,
                             "%s: not an arm64 Image (no \"ARM\\x64\" magic at offset 56)", what);
    h->text_offset = le64(p + 8);
    h->image_size = le64(p + 16);
    h->flags = le64(p + 24);
    if (h->image_size == 0) { /* before 3.17: text_offset unreliable, size unknown */
        h->text_offset = ARM64_IMAGE_OLD_TEXT;
        h->image_size = len;
        h->flags = 0;
    }
    if (h->flags & ARM64_IMAGE_FLAG_BE)
        return vdev_err_setc(err, VDEV_E_CONFIG,
                             "%s: a big-endian kernel (header flags bit 0); vCPUs start "
                             "little-endian",
                             what);
    if (h->text_offset % PAGE || h->text_offset >= ARM64_IMAGE_ALIGN * 512)
        return vdev_err_setc(err, VDEV_E_CONFIG,
                             "%s: text_offset 0x%llx is not a small multiple "
                             "of 4 KiB",
                             what, (unsigned long long)h->text_offset);
    if (h->image_size < len)
        return vdev_err_setc(err, VDEV_E_CONFIG,
                             "%s: the file (%zu bytes) is larger than the header's image_size "
                             "(0x%llx)",
                             what, len, (unsigned long long)h->image_size);
    return 0;
}

int arm64_boot_plan(uint64_t ram_base, uint64_t ram_end, const struct arm64_image_header *h,
                    size_t initrd_len, const char *what, struct arm64_boot *b, struct vdev_err *err)
{
    memset(b, 0, sizeof(*b));
    b->ram_base = ram_base;
    b->ram_end = ram_end;
    b->kernel = align_up(ram_base, ARM64_IMAGE_ALIGN) + h->text_offset;
    b->kernel_end = b->kernel + align_up(h->image_size, PAGE);
    /* The DTB's block: the last whole 2 MiB block of RAM. */
    uint64_t fdt = ram_end & ~(ARM64_IMAGE_ALIGN - 1);
    if (fdt + ARM64_FDT_MAX > ram_end)
        fdt = fdt >= ARM64_IMAGE_ALIGN ? fdt - ARM64_IMAGE_ALIGN : 0;
    if (b->kernel < ram_base || fdt < b->kernel_end)
        return vdev_err_setc(err, VDEV_E_CONFIG,
                             "%s: the kernel (0x%llx bytes at 0x%llx) and a 2 MiB device-tree "
                             "block do not fit in RAM 0x%llx-0x%llx (hint: give more 'ram')",
                             what, (unsigned long long)h->image_size, (unsigned long long)b->kernel,
                             (unsigned long long)ram_base, (unsigned long long)ram_end - 1);
    b->fdt = fdt;
    if (initrd_len) {
        uint64_t start = (fdt - initrd_len) & ~(PAGE - 1);
        if (initrd_len > fdt - b->kernel_end || start < b->kernel_end)
            return vdev_err_setc(err, VDEV_E_CONFIG,
                                 "%s: the initrd (%zu bytes) does not fit between the kernel's "
                                 "end 0x%llx and the device tree at 0x%llx (hint: give more "
                                 "'ram')",
                                 what, initrd_len, (unsigned long long)b->kernel_end,
                                 (unsigned long long)fdt);
        b->has_initrd = true;
        b->initrd_start = start;
        b->initrd_end = start + initrd_len;
    }
    return 0;
}

struct find_ram {
    uint64_t base, end;
    bool found;
};

static void lowest_ram(const struct vdev_region_info *r, void *arg)
{
    struct find_ram *f = arg;
    if (r->kind != VDEV_REGION_RAM || r->base < ARM64_RAM_BASE)
        return;
    if (!f->found || r->base < f->base) {
        f->found = true;
        f->base = r->base;
        f->end = r->base + r->size;
    }
}

int arm64_image_load(struct vdev_machine *m, const void *image, size_t len, const void *initrd,
                     size_t initrd_len, const char *what, struct arm64_boot *b,
                     struct vdev_err *err)
{
    struct arm64_image_header h;
    if (arm64_image_parse(image, len, what, &h, err))
        return -1;
    struct find_ram f = {0};
    vdev_bus_foreach(vdev_machine_bus(m), VDEV_SPACE_MEM, lowest_ram, &f);
    if (!f.found)
        return vdev_err_setc(err, VDEV_E_CONFIG,
                             "%s: no RAM at or above 0x%llx to load it in (hint: 'ram "
                             "0x%llx,256M')",
                             what, (unsigned long long)ARM64_RAM_BASE,
                             (unsigned long long)ARM64_RAM_BASE);
    if (arm64_boot_plan(f.base, f.end, &h, initrd ? initrd_len : 0, what, b, err))
        return -1;
    void *k = vdev_gmem_ptr(m, b->kernel, h.image_size, true);
    if (!k)
        return vdev_err_set(err, "%s: guest RAM at 0x%llx is not backed", what,
                            (unsigned long long)b->kernel);
    memcpy(k, image, len);
    memset((uint8_t *)k + len, 0, h.image_size - len); /* bss */
    if (b->has_initrd) {
        void *i = vdev_gmem_ptr(m, b->initrd_start, initrd_len, true);
        if (!i)
            return vdev_err_set(err, "%s: guest RAM at 0x%llx is not backed", what,
                                (unsigned long long)b->initrd_start);
        memcpy(i, initrd, initrd_len);
    }
    return 0;
}
