/* ioapic_line: testdev's interrupt line, routed through the IOAPIC to vCPU 0. Edge: two
 * pulses give two interrupts. Level: raising the line interrupts; the handler lowers it
 * before the EOI, after which the IOAPIC's remote IRR is clear and nothing more arrives. */
#include "rt.h"

#define PIN          5 /* ioapic_line.conf: vdev testdev intr ioapic:5 */
#define EDGE_VECTOR  0x50
#define LEVEL_VECTOR 0x51

static volatile uint64_t level_cs;

static void on_level(struct rt_frame *f)
{
    level_cs = f->cs;
    rt_testdev_line(0); /* lower the line: the device's "interrupt acknowledge" */
}

int test_main(unsigned cpu, unsigned ncpus)
{
    rt_on_irq(EDGE_VECTOR, NULL);
    rt_ioapic_route(PIN, EDGE_VECTOR, 0, 0);
    rt_printf("ioapic_line: pin %u -> vector 0x%x, edge: redirection entry %lx\n", PIN, EDGE_VECTOR,
              rt_ioapic_redir(PIN));
    rt_testdev_line(2);
    RT_CHECK(rt_wait_irq(EDGE_VECTOR, 1));
    rt_testdev_line(2);
    RT_CHECK(rt_wait_irq(EDGE_VECTOR, 2));
    rt_printf("ioapic_line: edge: 2 pulses, %u interrupts\n", rt_irq_count[EDGE_VECTOR]);

    rt_on_irq(LEVEL_VECTOR, on_level);
    rt_ioapic_route(PIN, LEVEL_VECTOR, 0, RT_IOAPIC_LEVEL);
    rt_testdev_line(1);
    RT_CHECK(rt_wait_irq(LEVEL_VECTOR, 1));
    rt_delay(100000000); /* ~0.1 s: a line left high would interrupt again by now */
    uint64_t redir = rt_ioapic_redir(PIN);
    rt_printf("ioapic_line: level: %u interrupt(s) from cs 0x%lx, redirection entry %lx\n",
              rt_irq_count[LEVEL_VECTOR], level_cs, redir);
    RT_CHECK(rt_irq_count[LEVEL_VECTOR] == 1);
    RT_CHECK(!(redir & RT_IOAPIC_REMOTE_IRR));
    RT_CHECK(rt_irq_count[EDGE_VECTOR] == 2);

    rt_ioapic_mask(PIN);
    rt_printf("PASS ioapic_line\n");
    return 0;
}
