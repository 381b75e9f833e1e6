/* The tiny-guest runtime: a freestanding 64-bit environment for test guests of the vdevkit VMM.
 *
 * Every vCPU enters _start (entry.S) at CPL0; the runtime loads its own GDT, TSS and IDT,
 * enables the local APIC, then drops to CPL3 (IOPL 3: port I/O allowed) and calls
 *
 *     int test_main(unsigned cpu, unsigned ncpus);
 *
 * on every vCPU. The boot vCPU's return value is the VM's exit status (via testdev); an AP
 * that returns 0 parks, one that returns non-zero ends the VM with that status.
 * Why CPL3: under a software KVM only guest user mode runs natively, kernel mode is emulated
 * (slow, incomplete), so CPL0 does only setup and the interrupt stubs.
 *
 * Everything here may be called from the CPL3 test body: the page tables are user-accessible,
 * so the LAPIC/IOAPIC MMIO helpers work there. Interrupt handlers run at CPL0.
 */
#ifndef TINY_RT_H
#define TINY_RT_H

/* VM exit statuses the runtime uses (0 = pass). */
#define RT_EXIT_FAIL         0x11         /* RT_CHECK failed */
#define RT_EXIT_STRAY        0x13         /* an interrupt with no handler */
#define RT_EXIT_SETUP        0x14         /* more vCPUs than RT_MAX_CPUS */
#define RT_EXIT_EXCEPTION(v) (0x30 + (v)) /* CPU exception v (0..31) */

#define RT_MAX_CPUS   8
#define RT_STACK_SIZE 16384 /* per vCPU: one kernel stack (TSS.RSP0), one user stack */

/* Selectors of the runtime's GDT; TSS of vCPU i at RT_TSS_SEL(i). */
#define RT_KCODE      0x08
#define RT_KDATA      0x10
#define RT_UDATA      0x1b /* 0x18 | RPL 3 */
#define RT_UCODE      0x23 /* 0x20 | RPL 3 */
#define RT_TSS_SEL(i) (0x28 + 16 * (i))

#define RT_SPURIOUS_VECTOR 0xff
#define RT_SYSCALL_VECTOR  0x80 /* int $0x80 from CPL3: park this vCPU */
#define RT_HALT_VECTOR     0x81 /* int $0x81 from CPL3: rt_halt_while */

/* Platform addresses (vmm/x86_platform.h, vdevs/testdev/testdev.c). */
#define RT_LAPIC_BASE  0xfee00000u
#define RT_IOAPIC_BASE 0xfec00000u
#define RT_COM1        0x3f8
#define RT_TESTDEV     0xf4 /* +0 exit, +1 result line, +2 line level, +4 MSI addr, +8 MSI data */
#define RT_PM_SLEEP    0x600

/* LAPIC registers */
#define LAPIC_ID         0x20
#define LAPIC_EOI        0xb0
#define LAPIC_SVR        0xf0
#define LAPIC_ICR_LO     0x300
#define LAPIC_ICR_HI     0x310
#define LAPIC_LVT_TIMER  0x320
#define LAPIC_LVT_LINT0  0x350
#define LAPIC_LVT_ERROR  0x370
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR  0x390
#define LAPIC_TIMER_DIV  0x3e0
#define LAPIC_MASKED     (1u << 16)

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the interrupt stubs save; handlers get a pointer to it. */
struct rt_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

typedef void rt_irq_fn(struct rt_frame *f);

/* ---- port I/O ---- */
static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint64_t rt_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline void rt_pause(void)
{
    __asm__ volatile("pause" ::: "memory");
}

/* ---- output ---- */
/* printf subset: %s %c %d %u %x %lu %lx %ld %llx %llu %p, with an optional 0 and width. */
void rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* testdev line port */
void rt_serial_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* COM1 */

/* Ends the VM with `status` through testdev; does not return. */
__attribute__((noreturn)) void rt_exit(int status);
/* Parks this vCPU (halts at CPL0 with interrupts off); does not return. */
__attribute__((noreturn)) void rt_park(void);
/* Prints "FAIL file:line: what" and ends the VM with RT_EXIT_FAIL. */
__attribute__((noreturn)) void rt_fail(const char *file, int line, const char *what);
#define RT_CHECK(cond) ((cond) ? (void)0 : rt_fail(__FILE__, __LINE__, #cond))

/* ---- interrupts ---- */
/* Number of interrupts taken per vector (all vCPUs). */
extern volatile uint32_t rt_irq_count[256];
/* Installs a handler (CPL0, interrupts off; the runtime sends the EOI after it returns).
 * fn may be NULL: the vector is then only counted. Vectors 0x20..0xfe, not 0x80. */
void rt_on_irq(unsigned vector, rt_irq_fn *fn);
/* Protocol timing (receive slices, retries, deliberate delays): 10 s at 1 GHz, 4 s at 2.4 GHz. */
#define RT_WAIT_TICKS 10000000000ull
/* The bound of a wait that only catches a hang (an interrupt, a reply or a peer that never
 * comes): 12 s at 2.4 GHz. Generous because a loaded host stalls a nested guest for seconds
 * (seen in CI: a 4 s bound failed a healthy shmem round trip). */
#define RT_HANG_TICKS (3 * RT_WAIT_TICKS)
/* Spins (at any CPL, interrupts on) until *counter >= target or about RT_HANG_TICKS TSC
 * ticks pass; true if the target was reached. */
bool rt_wait(volatile uint32_t *counter, uint32_t target);
static inline bool rt_wait_irq(unsigned vector, uint32_t target)
{
    return rt_wait(&rt_irq_count[vector], target);
}
/* From CPL3: halts this vCPU until an interrupt (whose handler has run on return) if *word
 * still equals `value`, checked with interrupts off so a wake-up cannot slip in between. For
 * waiters that must leave the CPU to others (the VMM's threads) instead of spinning; arm a
 * timer if the interrupt may never come. */
void rt_halt_while(volatile uint32_t *word, uint32_t value);
/* Busy-waits `ticks` TSC ticks. */
void rt_delay(uint64_t ticks);

/* ---- local APIC (xAPIC MMIO) ---- */
static inline uint32_t rt_lapic_read(uint32_t reg)
{
    return *(volatile uint32_t *)(uintptr_t)(RT_LAPIC_BASE + reg);
}
static inline void rt_lapic_write(uint32_t reg, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)(RT_LAPIC_BASE + reg) = v;
}
static inline unsigned rt_lapic_id(void)
{
    return rt_lapic_read(LAPIC_ID) >> 24;
}
/* Fixed interrupt `vector` to the LAPIC with id `dest` (physical destination). */
void rt_send_ipi(unsigned dest, unsigned vector);
/* LAPIC timer with divide-by-16. KVM's APIC bus runs at 1 GHz: 62500 counts = 1 ms. */
void rt_timer_start(unsigned vector, uint32_t count, bool periodic);
void rt_timer_stop(void);

/* ---- IOAPIC ---- */
#define RT_IOAPIC_LEVEL      (1u << 15)
#define RT_IOAPIC_MASKED     (1u << 16)
#define RT_IOAPIC_REMOTE_IRR (1u << 14)
#define RT_IOAPIC_ACTIVE_LOW (1u << 13) /* PCI INTx, as ACPI's _PRT describes it */
/* Routes `pin` as a fixed interrupt `vector` to LAPIC `dest`; flags:
 * RT_IOAPIC_LEVEL/MASKED/ACTIVE_LOW. */
void rt_ioapic_route(unsigned pin, unsigned vector, unsigned dest, uint32_t flags);
uint64_t rt_ioapic_redir(unsigned pin);
void rt_ioapic_mask(unsigned pin);

/* ---- testdev ---- */
static inline void rt_testdev_line(uint8_t v)
{
    outb(RT_TESTDEV + 2, v);
} /* 0 low, 1 high, 2 pulse */
void rt_testdev_msi(unsigned dest, unsigned vector);

/* CR3 as the VMM left it (the identity map's PML4), read by the boot vCPU at CPL0: what
 * extends the map beyond 4 GiB (shmem_drv.c) needs it at CPL3. */
extern uint64_t rt_boot_cr3;

/* ---- for checks of the runtime itself ---- */
extern uint64_t rt_gdt[];
extern uint8_t rt_idt[];
extern uint8_t rt_kstacks[RT_MAX_CPUS][RT_STACK_SIZE];

/* The test, provided by each guest. */
int test_main(unsigned cpu, unsigned ncpus);

#endif /* __ASSEMBLER__ */
#endif
