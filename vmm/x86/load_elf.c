/* 64-bit ELF images (the test guests): segments at their physical addresses, bounds-checked
 * against guest RAM. */
#include <elf.h>
#include <string.h>

#include "loaders.h"

int load_elf64(struct vdev_machine *m, const void *image, size_t len, struct x86_entry *entry,
               struct vdev_err *err)
{
    const uint8_t *p = image;
    const Elf64_Ehdr *eh = image;
    if (len < sizeof(*eh) || eh->e_machine != EM_X86_64 || eh->e_phentsize != sizeof(Elf64_Phdr) ||
        eh->e_phoff > len || (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff)
        return vdev_err_set(err, "not a valid x86-64 ELF image");
    unsigned loaded = 0;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, p + eh->e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        if (ph.p_filesz > ph.p_memsz || ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
            return vdev_err_set(err, "ELF segment %u lies outside the file", i);
        uint8_t *dst = vdev_gmem_ptr(m, ph.p_paddr, ph.p_memsz, true);
        if (!dst)
            return vdev_err_set(err,
                                "ELF segment %u (0x%llx, 0x%llx bytes) is not inside guest RAM", i,
                                (unsigned long long)ph.p_paddr, (unsigned long long)ph.p_memsz);
        if (ph.p_paddr < X86_BOOT_CMDLINE)
            return vdev_err_set(err,
                                "ELF segment %u at 0x%llx overlaps the boot tables below 0x%llx", i,
                                (unsigned long long)ph.p_paddr, X86_BOOT_CMDLINE);
        memcpy(dst, p + ph.p_offset, ph.p_filesz);
        memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
        loaded++;
    }
    if (!loaded)
        return vdev_err_set(err, "ELF image has no loadable segment");
    entry->rip = eh->e_entry;
    return 0;
}
