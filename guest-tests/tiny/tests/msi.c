/* msi: testdev sends MSIs to vCPU 0's LAPIC; each runs the handler of its vector once. */
#include "rt.h"

#define VECTOR_A 0x41
#define VECTOR_B 0x61

static volatile uint32_t a_seen;

static void on_a(struct rt_frame *f)
{
    (void)f;
    a_seen++;
}

int test_main(unsigned cpu, unsigned ncpus)
{
    rt_on_irq(VECTOR_A, on_a);
    rt_on_irq(VECTOR_B, NULL);
    rt_testdev_msi(0, VECTOR_A);
    RT_CHECK(rt_wait_irq(VECTOR_A, 1));
    for (int i = 0; i < 3; i++) {
        rt_testdev_msi(0, VECTOR_B);
        RT_CHECK(rt_wait_irq(VECTOR_B, (uint32_t)i + 1));
    }
    rt_printf("msi: vector 0x%x: %u, vector 0x%x: %u\n", VECTOR_A, rt_irq_count[VECTOR_A], VECTOR_B,
              rt_irq_count[VECTOR_B]);
    RT_CHECK(a_seen == 1 && rt_irq_count[VECTOR_A] == 1 && rt_irq_count[VECTOR_B] == 3);
    rt_printf("PASS msi\n");
    return 0;
}
