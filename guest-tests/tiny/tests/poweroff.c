/* poweroff: S5 through the ACPI sleep control register ends the VM with status 0. The body
 * never exits with 0 itself, so status 0 means the power-off worked. */
#include "rt.h"

int test_main(unsigned cpu, unsigned ncpus)
{
    rt_printf("poweroff: SLP_TYP 5 | SLP_EN to port 0x%x\n", RT_PM_SLEEP);
    outb(RT_PM_SLEEP, 5 << 2 | 0x20);
    rt_delay(1000000000);
    rt_printf("FAIL poweroff: still running ~1 s after the power-off\n");
    return RT_EXIT_FAIL;
}
