/* two_vcpus: both vCPUs reach test_main at CPL3, each with its own LAPIC id, and an MSI sent to
 * the second vCPU's LAPIC interrupts it at CPL3 (so its own TSS and kernel stack work too). */
#include "rt.h"

#define AP_VECTOR 0x42

static volatile uint32_t checked_in, done;
static volatile unsigned apic_of[RT_MAX_CPUS];
static volatile unsigned handled_on = ~0u;
static volatile uint64_t handled_cs, handled_frame;

static void on_ap_msi(struct rt_frame *f)
{
    handled_on = rt_lapic_id();
    handled_cs = f->cs;
    handled_frame = (uintptr_t)f;
}

int test_main(unsigned cpu, unsigned ncpus)
{
    RT_CHECK(ncpus == 2);
    apic_of[cpu] = rt_lapic_id();
    __atomic_fetch_add(&checked_in, 1, __ATOMIC_SEQ_CST);
    rt_printf("two_vcpus: cpu %u of %u checked in, LAPIC id %u\n", cpu, ncpus, apic_of[cpu]);

    if (cpu == 1) { /* wait at CPL3 for the boot vCPU's MSI, then park */
        RT_CHECK(rt_wait_irq(AP_VECTOR, 1));
        __atomic_fetch_add(&done, 1, __ATOMIC_SEQ_CST);
        return 0;
    }
    rt_on_irq(AP_VECTOR, on_ap_msi);
    RT_CHECK(rt_wait(&checked_in, 2));
    RT_CHECK(apic_of[0] == 0 && apic_of[1] == 1);
    rt_testdev_msi(apic_of[1], AP_VECTOR);
    RT_CHECK(rt_wait(&done, 1));
    rt_printf("two_vcpus: MSI handled on LAPIC %u, from cs 0x%lx, frame at %lx\n", handled_on,
              handled_cs, handled_frame);
    RT_CHECK(handled_on == 1);
    RT_CHECK((handled_cs & 3) == 3);
    uintptr_t k = (uintptr_t)rt_kstacks[1];
    RT_CHECK(handled_frame >= k && handled_frame < k + RT_STACK_SIZE);
    rt_printf("PASS two_vcpus\n");
    return 0;
}
