/* The arm64 Linux Image loader (Documentation/arch/arm64/booting.rst): the 64-byte header
 * (text_offset, image_size, flags, "ARM\x64" at 56), the kernel at a 2 MiB-aligned base plus
 * text_offset in the first RAM region, then the DTB in the last 2 MiB block of that region
 * and the initrd just below it. No KVM here: tests run it on any host. */
#ifndef VMM_ARM64_IMAGE_H
#define VMM_ARM64_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vdev/vdev.h>

#define ARM64_IMAGE_HEADER_SIZE 64
#define ARM64_IMAGE_MAGIC_OFF   56
#define ARM64_IMAGE_ALIGN       0x200000ull /* the kernel's base: 2 MiB aligned */
#define ARM64_IMAGE_OLD_TEXT    0x80000ull  /* image_size 0 (before Linux 3.17): this offset */
#define ARM64_FDT_MAX           0x200000ull /* a DTB is at most 2 MiB, in a 2 MiB block */

#define ARM64_IMAGE_FLAG_BE       (1ull << 0) /* kernel endianness: big */
#define ARM64_IMAGE_FLAG_ANYWHERE (1ull << 3) /* the base may be anywhere in RAM */

struct arm64_image_header {
    uint64_t text_offset;
    uint64_t image_size; /* what the kernel occupies from its load address, bss included */
    uint64_t flags;
};

/* Where everything goes (guest-physical). */
struct arm64_boot {
    uint64_t ram_base, ram_end;  /* the RAM region used */
    uint64_t kernel, kernel_end; /* load address (= entry) and the end of image_size */
    bool has_initrd;
    uint64_t initrd_start, initrd_end;
    uint64_t fdt; /* the DTB's address (x0) */
};

/* Reads the header of an image of len bytes. `what` starts each message (the `load` line:
 * "guest.conf:3:1: load: Image"). Refuses a short file, a missing magic, a big-endian
 * kernel, a text_offset that is not 4 KiB aligned, an image larger than its image_size. */
int arm64_image_parse(const void *image, size_t len, const char *what, struct arm64_image_header *h,
                      struct vdev_err *err);

/* Plans the layout in RAM [ram_base, ram_end): kernel at align_up(ram_base, 2 MiB) +
 * text_offset, DTB at the start of the last 2 MiB block, initrd (initrd_len bytes, 0:
 * none) page aligned right below the DTB and above the kernel. */
int arm64_boot_plan(uint64_t ram_base, uint64_t ram_end, const struct arm64_image_header *h,
                    size_t initrd_len, const char *what, struct arm64_boot *b,
                    struct vdev_err *err);

/* Parses, plans in the machine's lowest RAM region at or above ARM64_RAM_BASE, and copies
 * the kernel and the initrd (NULL: none) into guest RAM (which must be backed). */
int arm64_image_load(struct vdev_machine *m, const void *image, size_t len, const void *initrd,
                     size_t initrd_len, const char *what, struct arm64_boot *b,
                     struct vdev_err *err);

#endif
