/* shmem_bench_intx (pair: shmem_bench_intx.conf + .peer.conf; figures, not a timing test):
 * shmem_bench on PCI devices with MSI-X left off, so interrupts come by INTx (a level line
 * through the IOAPIC): the same code and figures, for comparison. See shmem_bench.c. */
#define SHMEM_BENCH_INTX 1
#include "shmem_bench.c"
