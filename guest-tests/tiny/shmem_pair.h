/* Two tiny guests sharing shmem regions (the tier-2 pair tests shmem_pair_pci, shmem_pair_msix
 * and shmem_pair_mmio: run-tiny-tests.sh runs NAME.conf and NAME.peer.conf at once). Both load
 * the same ELF; the role comes from the VM's policy: A's shmem device has `deny role-b allow
 * pair*`, B's `deny role-a`, so `find role-b` answers NO_PERMISSION in A and DOES_NOT_EXIST in
 * B. A checks that another name meets the implicit final `deny *`, B that "bad/name" is an
 * illegal name.
 *
 * Both attach REGION (created at VM start by A's `create REGION,0x10000`: 16 pages, whatever
 * size the guests write) and REGION-ack (1 page, create-or-attach). Then SHM_PAIR_ROUNDS
 * rounds: A writes a pattern into the first half and notifies all but itself (~0); B takes
 * the interrupt, checks the pattern, writes its answer into the second half and notifies A's
 * bit; A checks the answer. Then B detaches REGION: A sees B's attach bit clear through an
 * interrupt and acknowledges on REGION-ack; B attaches again with `find` (the data are still
 * there) and notifies A; B's VM ends, and A sees B's bit clear again (a VM that ends is
 * detached). Every level interrupt must have a reason (a notify bit or an attach change); with
 * MSI-X at most one interrupt in two may find nothing new (edges). */
#ifndef TINY_SHMEM_PAIR_H
#define TINY_SHMEM_PAIR_H

#include "shmem_drv.h"

#define SHM_PAIR_ROUNDS 8
#define SHM_PAIR_PAGES  16 /* A's `create REGION,0x10000` */

/* Runs the role of this VM; returns the exit status (0: pass). `test` prefixes the output.
 * Interrupts by MSI-X with `msix` (PCI), else by the device's line (shm_irq_setup). */
int shm_pair_run(struct shm_dev *d, const char *test, const char *region, bool msix);

#endif
