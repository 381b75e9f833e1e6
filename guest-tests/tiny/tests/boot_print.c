/* boot_print: the runtime comes up. Output reaches COM1 and testdev, the body runs at CPL3
 * with port I/O, and an interrupt taken at CPL3 (a self-IPI) runs its CPL0 handler on this
 * vCPU's kernel stack, i.e. the runtime's GDT, TSS (RSP0), IDT and LAPIC work. */
#include "rt.h"

#define SELF_VECTOR 0x30

static volatile uint64_t seen_cs, seen_frame;

static void on_self(struct rt_frame *f)
{
    seen_cs = f->cs;
    seen_frame = (uintptr_t)f;
}

int test_main(unsigned cpu, unsigned ncpus)
{
    rt_serial_printf("boot_print: hello from COM1\n");
    rt_printf("boot_print: hello from testdev, cpu %u of %u\n", cpu, ncpus);

    uint16_t cs, tr;
    uint64_t flags;
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) gdtr, idtr;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    __asm__ volatile("pushfq; popq %0" : "=r"(flags));
    /* Informational only: under a software KVM, where CPL3 runs natively, these may show the
     * host's tables. */
    __asm__ volatile("sgdt %0; sidt %1; str %2" : "=m"(gdtr), "=m"(idtr), "=r"(tr));
    rt_printf("boot_print: cs 0x%x rflags 0x%lx gdt %lx idt %lx tr 0x%x (runtime's: %p %p 0x%x)\n",
              cs, flags, gdtr.base, idtr.base, tr, (void *)rt_gdt, (void *)rt_idt, RT_TSS_SEL(cpu));
    RT_CHECK((cs & 3) == 3);
    RT_CHECK(inb(RT_TESTDEV) == 0xa5); /* testdev's signature */
    RT_CHECK(rt_lapic_id() == cpu);
    RT_CHECK(rt_lapic_read(LAPIC_SVR) & 0x100);

    rt_on_irq(SELF_VECTOR, on_self);
    rt_send_ipi(rt_lapic_id(), SELF_VECTOR);
    RT_CHECK(rt_wait_irq(SELF_VECTOR, 1));
    rt_printf("boot_print: self-IPI taken from cs 0x%lx, frame at %lx\n", seen_cs, seen_frame);
    RT_CHECK((seen_cs & 3) == 3);
    uintptr_t k = (uintptr_t)rt_kstacks[cpu];
    RT_CHECK(seen_frame >= k && seen_frame < k + RT_STACK_SIZE);
    rt_printf("PASS boot_print\n");
    return 0;
}
