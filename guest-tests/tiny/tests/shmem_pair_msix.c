/* shmem_pair_msix (pair test: shmem_pair_msix.conf + .peer.conf): shmem_pair_pci with the
 * device's MSI-X on (vector 0, table in BAR 4): every notify, attach and detach arrives as a
 * message, the INTx line stays low. See shmem_pair.h for the roles and the steps. */
#include "pci.h"
#include "rt.h"
#include "shmem_pair.h"

int test_main(unsigned cpu, unsigned ncpus)
{
    struct shm_dev d;
    RT_CHECK(shm_find_pci(&d));
    if (!d.msix_cap)
        rt_printf("shmem_pair_msix: the device has no MSI-X capability\n");
    RT_CHECK(d.msix_cap != 0);
    rt_printf("shmem_pair_msix: factory at %p, region window (BAR 2) %lx, %lu MiB, MSI-X "
              "capability at %x: %u vectors, table in BAR %u\n",
              (void *)d.factory, d.bar2, d.bar2_size >> 20, d.msix_cap,
              pci_msix_size(d.bdf, d.msix_cap), pci_msix_table_bar(d.bdf, d.msix_cap));
    return shm_pair_run(&d, "shmem_pair_msix", "pairmsix", true);
}
