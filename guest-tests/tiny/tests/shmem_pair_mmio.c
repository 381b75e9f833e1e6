/* shmem_pair_mmio (pair test: shmem_pair_mmio.conf + .peer.conf): two VMs share a region through
 * an MMIO shmem device (factory page at its loc, interrupt on its intr line):
 * data both ways with notifications, then B detaches, comes back with find and ends. See
 * shmem_pair.h for the roles and the steps. */
#include "rt.h"
#include "shmem_pair.h"

#define FACTORY 0xd1000000u /* the .conf files' loc */
#define LINE    11          /* and intr ioapic:11 */

int test_main(unsigned cpu, unsigned ncpus)
{
    struct shm_dev d;
    shm_at(&d, FACTORY, LINE);
    return shm_pair_run(&d, "shmem_pair_mmio", "pairmmio", false);
}
