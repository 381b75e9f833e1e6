/* timer: the LAPIC timer, periodic (several ticks at 1 ms) and one-shot (one tick, then the
 * current count stays 0). */
#include "rt.h"

#define VECTOR 0x40
#define ONE_MS 62500 /* KVM's APIC bus is 1 GHz; divide by 16 */
#define TICKS  5

int test_main(unsigned cpu, unsigned ncpus)
{
    rt_on_irq(VECTOR, NULL);
    uint64_t t0 = rt_rdtsc();
    rt_timer_start(VECTOR, ONE_MS, true);
    RT_CHECK(rt_wait_irq(VECTOR, TICKS));
    uint64_t t1 = rt_rdtsc();
    rt_timer_stop();
    rt_delay(10000000); /* a tick already pending at the stop arrives now, not later */
    uint32_t periodic = rt_irq_count[VECTOR];
    rt_printf("timer: periodic: %u ticks, %lu TSC ticks per tick\n", periodic,
              (t1 - t0) / periodic);

    rt_timer_start(VECTOR, ONE_MS, false);
    RT_CHECK(rt_wait_irq(VECTOR, periodic + 1));
    rt_delay(100000000); /* ~0.1 s: a periodic timer would tick again */
    uint32_t total = rt_irq_count[VECTOR];
    rt_printf("timer: one-shot: %u tick(s), current count %u\n", total - periodic,
              rt_lapic_read(LAPIC_TIMER_CUR));
    RT_CHECK(total == periodic + 1);
    RT_CHECK(rt_lapic_read(LAPIC_TIMER_CUR) == 0);
    rt_timer_stop();
    rt_printf("PASS timer\n");
    return 0;
}
