/* Shared pieces of the libFuzzer targets: a reader that turns the input into values (zeros
 * once it runs out) and a machine on a quiet embedder whose guest RAM is plain host memory. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <vdev/vdev.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_in {
    const uint8_t *p;
    size_t n;
};

/* Copies up to n input bytes into out, zero-filling the rest; returns how many were input. */
size_t fz_take(struct fz_in *in, void *out, size_t n);
uint8_t fz_u8(struct fz_in *in);
uint16_t fz_u16(struct fz_in *in);
uint32_t fz_u32(struct fz_in *in);
uint64_t fz_u64(struct fz_in *in);
static inline size_t fz_left(const struct fz_in *in)
{
    return in->n;
}

#define FZ_MAX_RAM 4

/* A machine with the x86 platform of the unit tests ("ioapic", 24 lines, GSI 0-23; IOAPIC
 * and LAPIC windows reserved), counting what devices raise and swallowing their log. */
struct fz_machine {
    struct vdev_embedder_ops ops;
    struct vdev_machine *m;
    struct {
        uint8_t *host;
        uint64_t base, size;
    } ram[FZ_MAX_RAM];
    unsigned nram;
    unsigned long irq_raises, msis, log_lines;
    int stop_status; /* -1 until a device asked to stop */
};

/* Parses `config`, builds the machine and backs its RAM/ROM. Aborts with the error on
 * failure (a seed configuration that does not build is a bug of the target). */
void fz_machine_build(struct fz_machine *fm, const char *config);
void fz_machine_free(struct fz_machine *fm);
/* True when [p, p+len) lies inside one RAM region's host memory. */
bool fz_in_ram(const struct fz_machine *fm, const void *p, size_t len);

#endif
