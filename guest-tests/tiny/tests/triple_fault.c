/* triple_fault: a CPL0 handler wipes the IDT and faults, so the CPU cannot deliver the
 * fault, nor the double fault: a triple fault. The VMM must end with status 4 and print the
 * registers, not hang or crash. */
#include "rt.h"

#define VECTOR 0x42

static void wreck(struct rt_frame *f)
{
    (void)f;
    static const struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) empty = {0, 0};
    __asm__ volatile("lidt %0; int3" ::"m"(empty));
}

int test_main(unsigned cpu, unsigned ncpus)
{
    rt_printf("triple_fault: wiping the IDT at CPL0, expecting VMM status 4\n");
    rt_on_irq(VECTOR, wreck);
    rt_testdev_msi(0, VECTOR);
    rt_wait_irq(VECTOR, 1);
    rt_printf("FAIL triple_fault: still running\n");
    return 1;
}
