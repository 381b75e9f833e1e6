/* shmem_bench_mmio (pair: shmem_bench_mmio.conf + .peer.conf; figures, not a timing test):
 * shmem_bench on MMIO shmem devices (factory at `loc`, a level line through the IOAPIC), the
 * same code and figures: see shmem_bench.c. */
#define SHMEM_BENCH_MMIO 1
#include "shmem_bench.c"
