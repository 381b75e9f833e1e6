/* exception: a fault at CPL3 (ud2, #UD = vector 6) reaches the runtime's handler, which ends
 * the VM with RT_EXIT_EXCEPTION(6) = 0x36: the failure path works and is told apart. */
#include "rt.h"

int test_main(unsigned cpu, unsigned ncpus)
{
    rt_printf("exception: ud2 at CPL3, expecting exit status 0x%x\n", RT_EXIT_EXCEPTION(6));
    __asm__ volatile("ud2");
    return 0;
}
