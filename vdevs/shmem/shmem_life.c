/* The region mappings a factory may make over the VM's life. Alone in its file so that a
 * white-box test can define a lower cap of its own (link-time substitution). */
#include "shmem_dev.h"

unsigned shmem_life_maps(void)
{
    return SHMEM_LIFE_MAPS;
}
