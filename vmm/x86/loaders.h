/* Loading guest images into RAM: a Linux bzImage (64-bit boot protocol) or a 64-bit ELF. */
#ifndef VMM_LOADERS_H
#define VMM_LOADERS_H

#include <vdev/vdev.h>

#include "image.h"
#include "x86_boot.h"

/* bzImage: kernel at 1 MiB, boot_params at X86_BOOT_ZERO_PAGE, command line, initrd at the
 * top of low RAM, the e820 map from the machine's memory map, the RSDP address. */
int load_bzimage(struct vdev_machine *m, const void *image, size_t len, const char *initrd_path,
                 const char *cmdline, uint64_t rsdp, struct x86_entry *entry, struct vdev_err *err);
/* ELF64 (x86-64): each PT_LOAD segment at its physical address; entry at e_entry. */
int load_elf64(struct vdev_machine *m, const void *image, size_t len, struct x86_entry *entry,
               struct vdev_err *err);

#endif
