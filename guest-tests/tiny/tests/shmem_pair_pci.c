/* shmem_pair_pci (pair test: shmem_pair_pci.conf + .peer.conf): two VMs share a region through
 * a PCI shmem device (1C05:0001, factory in BAR 0, regions in BAR 2, INTx: MSI-X, if the device
 * has it, stays off; shmem_pair_msix is the same on MSI-X):
 * data both ways with notifications, then B detaches, comes back with find and ends. See
 * shmem_pair.h for the roles and the steps. */
#include "rt.h"
#include "shmem_pair.h"

int test_main(unsigned cpu, unsigned ncpus)
{
    struct shm_dev d;
    RT_CHECK(shm_find_pci(&d));
    rt_printf("shmem_pair_pci: factory at %p, region window (BAR 2) %lx, %lu MiB\n",
              (void *)d.factory, d.bar2, d.bar2_size >> 20);
    return shm_pair_run(&d, "shmem_pair_pci", "pairpci", false);
}
