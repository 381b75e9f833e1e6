/* A hostile 64-bit ELF image through the VMM's loader (vmm/load_elf.c) into guest RAM with a
 * hole: it loads exactly what a reference model of the documented rules loads (each PT_LOAD
 * segment with memsz > 0 inside the file, inside one RAM region, at or above the boot
 * tables, its tail zeroed) and fails exactly when the model does. RAM starts filled with a
 * pattern and every byte is compared with the model's copy afterwards, so a write outside
 * a segment (or a segment written where it should not be) is found, not only a crash.
 * The input is the image itself. */
/* FUZZ_ARGS: -max_len=16384 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "loaders.h"

/* Two RAM regions with a hole between them, small enough to compare whole every run. */
#define LO_BASE 0x0ull
#define LO_SIZE 0x40000ull
#define HI_BASE 0x100000ull
#define HI_SIZE 0x40000ull
#define PATTERN 0xa5

static struct fz_machine fm;
static uint8_t *lo, *hi;               /* guest RAM (host side) */
static uint8_t *shadow_lo, *shadow_hi; /* what the model says RAM must hold */

static void setup(void)
{
    char conf[128];
    snprintf(conf, sizeof(conf), "ram 0x%llx,0x%llx ram 0x%llx,0x%llx", LO_BASE, LO_SIZE, HI_BASE,
             HI_SIZE);
    fz_machine_build(&fm, conf);
    for (unsigned i = 0; i < fm.nram; i++) {
        if (fm.ram[i].base == LO_BASE)
            lo = fm.ram[i].host;
        if (fm.ram[i].base == HI_BASE)
            hi = fm.ram[i].host;
    }
    shadow_lo = malloc(LO_SIZE);
    shadow_hi = malloc(HI_SIZE);
    if (!lo || !hi || !shadow_lo || !shadow_hi)
        abort();
}

/* The model's host pointer for [gpa, gpa+len) inside one region, or NULL. */
static uint8_t *shadow_at(uint64_t gpa, uint64_t len)
{
    if (len == 0)
        return NULL;
    if (gpa < LO_BASE + LO_SIZE && len <= LO_BASE + LO_SIZE - gpa)
        return shadow_lo + (gpa - LO_BASE);
    if (gpa >= HI_BASE && gpa < HI_BASE + HI_SIZE && len <= HI_BASE + HI_SIZE - gpa)
        return shadow_hi + (gpa - HI_BASE);
    return NULL;
}

/* The documented rules, applied to the shadow: 0 = loaded, -1 = refused. */
static int model(const uint8_t *p, size_t len)
{
    Elf64_Ehdr eh;
    if (len < sizeof(eh))
        return -1;
    memcpy(&eh, p, sizeof(eh));
    if (eh.e_machine != EM_X86_64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > len ||
        (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
        return -1;
    unsigned loaded = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, p + eh.e_phoff + (size_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        if (ph.p_filesz > ph.p_memsz || ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
            return -1;
        uint8_t *dst = shadow_at(ph.p_paddr, ph.p_memsz);
        if (!dst || ph.p_paddr < X86_BOOT_CMDLINE)
            return -1;
        memcpy(dst, p + ph.p_offset, ph.p_filesz);
        memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
        loaded++;
    }
    return loaded ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fm.m)
        setup();
    memset(lo, PATTERN, LO_SIZE);
    memset(hi, PATTERN, HI_SIZE);
    memset(shadow_lo, PATTERN, LO_SIZE);
    memset(shadow_hi, PATTERN, HI_SIZE);
    /* The loader gets its own copy of exactly `size` bytes: ASan sees any read past it. */
    uint8_t *img = malloc(size ? size : 1);
    if (!img)
        return 0;
    memcpy(img, data, size);
    struct x86_entry entry = {0};
    struct vdev_err err = {0};
    int rc = load_elf64(fm.m, img, size, &entry, &err);
    int want = model(img, size);
    if ((rc == 0) != (want == 0)) {
        fprintf(stderr, "load_elf64 returned %d (%s), the model %d\n", rc, err.msg, want);
        abort();
    }
    if (rc == 0) {
        Elf64_Ehdr eh;
        memcpy(&eh, img, sizeof(eh));
        if (entry.rip != eh.e_entry)
            abort();
    } else if (!err.msg[0]) {
        abort(); /* a refusal says why */
    }
    /* Refused or not, RAM holds exactly the segments loaded before the refusal. */
    if (memcmp(lo, shadow_lo, LO_SIZE) || memcmp(hi, shadow_hi, HI_SIZE)) {
        fprintf(stderr, "guest RAM differs from the model\n");
        abort();
    }
    free(img);
    return 0;
}
