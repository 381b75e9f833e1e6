/* The tiny-guest runtime (see rt.h): CPL0 setup, interrupt dispatch, the CPL3 helpers. */
#include <stdarg.h>
#include <stddef.h>

#include "rt.h"

/* ---- what the compiler may call even in freestanding code ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

void *memset(void *d, int c, size_t n)
{
    unsigned char *p = d;
    while (n--)
        *p++ = (unsigned char)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

/* ---- descriptor tables and stacks ---- */
struct tss {
    uint32_t reserved0;
    uint64_t rsp[3]; /* rsp[0]: the stack for interrupts taken at CPL3 */
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3, iomap_base;
} __attribute__((packed));

struct dtr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

uint64_t rt_gdt[5 + 2 * RT_MAX_CPUS] __attribute__((aligned(16))) = {
    0,
    0x00af9b000000ffffull, /* 0x08 kernel code, 64-bit */
    0x00cf93000000ffffull, /* 0x10 kernel data */
    0x00cff3000000ffffull, /* 0x18 user data, DPL 3 */
    0x00affb000000ffffull, /* 0x20 user code, 64-bit, DPL 3 */
    /* 0x28...: a 16-byte TSS descriptor per vCPU, written by that vCPU */
};
uint8_t rt_idt[256 * 16] __attribute__((aligned(16)));
static struct tss tss[RT_MAX_CPUS] __attribute__((aligned(16)));
uint8_t rt_kstacks[RT_MAX_CPUS][RT_STACK_SIZE] __attribute__((aligned(16)));
static uint8_t ustacks[RT_MAX_CPUS][RT_STACK_SIZE] __attribute__((aligned(16)));

volatile uint32_t rt_irq_count[256];
uint64_t rt_boot_cr3;
static rt_irq_fn *volatile handlers[256];
static volatile int boot_done; /* the boot vCPU has built the shared tables */

/* entry.S */
extern char rt_isr_stubs[];
void rt_load_gdt(const struct dtr *gdtr, unsigned tss_sel);
__attribute__((noreturn)) void rt_enter_user(void (*fn)(unsigned, unsigned), void *rsp, uint64_t a0,
                                             uint64_t a1);
/* called from entry.S */
__attribute__((noreturn)) void rt_cpu_start(unsigned cpu, unsigned ncpus);
void rt_trap(struct rt_frame *f);

/* ---- output ---- */
static volatile int out_lock;

/* Bounded: a handler may print while the code it interrupted holds the lock. */
static void out_acquire(void)
{
    uint64_t t0 = rt_rdtsc();
    while (__atomic_exchange_n(&out_lock, 1, __ATOMIC_ACQUIRE))
        if (rt_rdtsc() - t0 > 1000000000ull)
            return;
        else
            rt_pause();
}

static void out_release(void)
{
    __atomic_store_n(&out_lock, 0, __ATOMIC_RELEASE);
}

static void testdev_putc(char c)
{
    outb(RT_TESTDEV + 1, (uint8_t)c);
}

static void serial_putc(char c)
{
    for (int i = 0; i < 100000 && !(inb(RT_COM1 + 5) & 0x20); i++) /* LSR: THR empty */
        rt_pause();
    outb(RT_COM1, (uint8_t)c);
}

static void serial_init(void)
{
    outb(RT_COM1 + 1, 0x00); /* no interrupts */
    outb(RT_COM1 + 3, 0x80); /* DLAB: divisor 1, 115200 baud */
    outb(RT_COM1 + 0, 0x01);
    outb(RT_COM1 + 1, 0x00);
    outb(RT_COM1 + 3, 0x03); /* 8N1 */
    outb(RT_COM1 + 2, 0x07); /* FIFOs on and cleared */
    outb(RT_COM1 + 4, 0x03); /* DTR, RTS; OUT2 off */
}

static void put_num(void (*put)(char), uint64_t v, unsigned base, bool neg, int width, char pad)
{
    char buf[24];
    int n = 0;
    do {
        buf[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (neg)
        buf[n++] = '-';
    for (; width > n; width--)
        put(pad);
    while (n)
        put(buf[--n]);
}

static void vformat(void (*put)(char), const char *f, va_list ap)
{
    for (; *f; f++) {
        if (*f != '%') {
            put(*f);
            continue;
        }
        char pad = ' ';
        int width = 0, longs = 0;
        if (*++f == '0')
            pad = *f++;
        while (*f >= '0' && *f <= '9')
            width = width * 10 + (*f++ - '0');
        while (*f == 'l')
            longs++, f++;
        switch (*f) {
        case 's':
            for (const char *s = va_arg(ap, const char *); s && *s; s++)
                put(*s);
            break;
        case 'c':
            put((char)va_arg(ap, int));
            break;
        case 'd': {
            int64_t v = longs ? va_arg(ap, long) : va_arg(ap, int);
            put_num(put, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, v < 0, width, pad);
            break;
        }
        case 'u':
        case 'x': {
            uint64_t v = longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
            put_num(put, v, *f == 'x' ? 16 : 10, false, width, pad);
            break;
        }
        case 'p':
            put('0'), put('x');
            put_num(put, (uintptr_t)va_arg(ap, void *), 16, false, 0, ' ');
            break;
        case '\0':
            return;
        default:
            put(*f);
        }
    }
}

void rt_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    out_acquire();
    vformat(testdev_putc, fmt, ap);
    out_release();
    va_end(ap);
}

void rt_serial_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    out_acquire();
    vformat(serial_putc, fmt, ap);
    out_release();
    va_end(ap);
}

void rt_exit(int status)
{
    outb(RT_TESTDEV, (uint8_t)status);
    for (;;) /* the VMM stops this vCPU at the write; in case it does not, stay here */
        rt_pause();
}

void rt_park(void)
{
    __asm__ volatile("int %0" ::"i"(RT_SYSCALL_VECTOR));
    for (;;)
        rt_pause();
}

void rt_fail(const char *file, int line, const char *what)
{
    rt_printf("FAIL %s:%d: %s\n", file, line, what);
    rt_exit(RT_EXIT_FAIL);
}

/* ---- interrupts ---- */
static void count_only(struct rt_frame *f)
{
    (void)f;
}

void rt_on_irq(unsigned vector, rt_irq_fn *fn)
{
    RT_CHECK(vector >= 0x20 && vector < RT_SPURIOUS_VECTOR && vector != RT_SYSCALL_VECTOR &&
             vector != RT_HALT_VECTOR);
    handlers[vector] = fn ? fn : count_only;
}

bool rt_wait(volatile uint32_t *counter, uint32_t target)
{
    uint64_t t0 = rt_rdtsc();
    while (*counter < target) {
        if (rt_rdtsc() - t0 > RT_HANG_TICKS)
            return false;
        rt_pause();
    }
    return true;
}

void rt_halt_while(volatile uint32_t *word, uint32_t value)
{
    __asm__ volatile("int %0" ::"i"(RT_HALT_VECTOR), "D"(word), "S"(value) : "memory");
}

void rt_delay(uint64_t ticks)
{
    uint64_t t0 = rt_rdtsc();
    while (rt_rdtsc() - t0 < ticks)
        rt_pause();
}

/* Runs at CPL0 with interrupts off, on this vCPU's kernel stack. Kept short: under a
 * software KVM every instruction here is emulated. */
void rt_trap(struct rt_frame *f)
{
    unsigned v = (unsigned)f->vector;
    if (v < 32) {
        uint64_t cr2;
        __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
        rt_printf("FAIL exception %u (error 0x%lx) on cpu %u at %lx:%lx, rsp %lx, cr2 %lx\n", v,
                  f->error, rt_lapic_id(), f->cs, f->rip, f->rsp, cr2);
        rt_exit(RT_EXIT_EXCEPTION(v));
    }
    if (v == RT_SYSCALL_VECTOR)
        for (;;) /* rt_park: a parked vCPU takes no more interrupts */
            __asm__ volatile("cli; hlt");
    if (v == RT_HALT_VECTOR) { /* rt_halt_while: a software interrupt, no EOI */
        if (*(volatile uint32_t *)(uintptr_t)f->rdi == (uint32_t)f->rsi)
            __asm__ volatile("sti; hlt; cli" ::: "memory"); /* the interrupt nests here */
        return;
    }
    if (v == RT_SPURIOUS_VECTOR) { /* no EOI for the spurious vector */
        __atomic_fetch_add(&rt_irq_count[v], 1, __ATOMIC_SEQ_CST);
        return;
    }
    rt_irq_fn *fn = handlers[v];
    if (!fn) {
        rt_printf("FAIL unexpected interrupt, vector 0x%x on cpu %u at %lx:%lx\n", v, rt_lapic_id(),
                  f->cs, f->rip);
        rt_exit(RT_EXIT_STRAY);
    }
    fn(f);
    rt_lapic_write(LAPIC_EOI, 0);
    /* last: a waiter that sees the count also sees the handler's effects and the EOI */
    __atomic_fetch_add(&rt_irq_count[v], 1, __ATOMIC_SEQ_CST);
}

/* ---- LAPIC, IOAPIC, testdev ---- */
void rt_send_ipi(unsigned dest, unsigned vector)
{
    rt_lapic_write(LAPIC_ICR_HI, dest << 24);
    rt_lapic_write(LAPIC_ICR_LO, vector | (1u << 14)); /* fixed, physical, assert */
}

void rt_timer_start(unsigned vector, uint32_t count, bool periodic)
{
    rt_lapic_write(LAPIC_TIMER_DIV, 0x3); /* divide by 16 */
    rt_lapic_write(LAPIC_LVT_TIMER, vector | (periodic ? 1u << 17 : 0));
    rt_lapic_write(LAPIC_TIMER_INIT, count);
}

void rt_timer_stop(void)
{
    rt_lapic_write(LAPIC_LVT_TIMER, LAPIC_MASKED);
    rt_lapic_write(LAPIC_TIMER_INIT, 0);
}

static uint32_t ioapic_read(unsigned reg)
{
    *(volatile uint32_t *)(uintptr_t)RT_IOAPIC_BASE = reg;
    return *(volatile uint32_t *)(uintptr_t)(RT_IOAPIC_BASE + 0x10);
}

static void ioapic_write(unsigned reg, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)RT_IOAPIC_BASE = reg;
    *(volatile uint32_t *)(uintptr_t)(RT_IOAPIC_BASE + 0x10) = v;
}

void rt_ioapic_route(unsigned pin, unsigned vector, unsigned dest, uint32_t flags)
{
    ioapic_write(0x10 + 2 * pin, RT_IOAPIC_MASKED); /* masked while half written */
    ioapic_write(0x11 + 2 * pin, dest << 24);
    ioapic_write(0x10 + 2 * pin, vector | flags); /* fixed, physical destination, active high */
}

uint64_t rt_ioapic_redir(unsigned pin)
{
    return ioapic_read(0x10 + 2 * pin) | (uint64_t)ioapic_read(0x11 + 2 * pin) << 32;
}

void rt_ioapic_mask(unsigned pin)
{
    ioapic_write(0x10 + 2 * pin, RT_IOAPIC_MASKED);
}

void rt_testdev_msi(unsigned dest, unsigned vector)
{
    outl(RT_TESTDEV + 4, RT_LAPIC_BASE | dest << 12);
    outl(RT_TESTDEV + 8, vector); /* fixed, edge */
}

/* ---- boot ---- */
static void set_gate(unsigned v, unsigned dpl)
{
    uint64_t a = (uintptr_t)(rt_isr_stubs + 16 * v);
    uint64_t *g = (uint64_t *)(rt_idt + 16 * v);
    /* 64-bit interrupt gate (IF cleared on entry), present */
    g[0] = (a & 0xffff) | (uint64_t)RT_KCODE << 16 | (uint64_t)(0x8e | dpl << 5) << 40 |
           (a >> 16 & 0xffff) << 48;
    g[1] = a >> 32;
}

static void user_main(unsigned cpu, unsigned ncpus)
{
    int rc = test_main(cpu, ncpus);
    if (cpu == 0 || rc != 0)
        rt_exit(rc);
    rt_park();
}

void rt_cpu_start(unsigned cpu, unsigned ncpus)
{
    if (cpu == 0) {
        __asm__ volatile("mov %%cr3, %0" : "=r"(rt_boot_cr3));
        serial_init();
        for (unsigned v = 0; v < 256; v++)
            set_gate(v, v == RT_SYSCALL_VECTOR || v == RT_HALT_VECTOR ? 3 : 0);
        /* KVM's 8259s come up unmasked with vector base 0 and the boot vCPU's LINT0 is ExtINT:
         * a device line below 16 would also arrive as vector N through them. */
        outb(0x21, 0xff);
        outb(0xa1, 0xff);
        unsigned pins = (ioapic_read(1) >> 16 & 0xff) + 1;
        for (unsigned p = 0; p < pins; p++)
            rt_ioapic_mask(p);
        __atomic_store_n(&boot_done, 1, __ATOMIC_RELEASE);
    } else {
        while (!__atomic_load_n(&boot_done, __ATOMIC_ACQUIRE))
            rt_pause();
    }

    struct tss *t = &tss[cpu];
    t->rsp[0] = (uintptr_t)rt_kstacks[cpu] + RT_STACK_SIZE;
    t->iomap_base = sizeof(*t); /* no I/O bitmap: IOPL 3 decides */
    uint64_t base = (uintptr_t)t, limit = sizeof(*t) - 1;
    rt_gdt[5 + 2 * cpu] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ull << 40 |
                          (limit >> 16 & 0xf) << 48 | (base >> 24 & 0xff) << 56; /* 64-bit TSS */
    rt_gdt[6 + 2 * cpu] = base >> 32;
    struct dtr gdtr = {sizeof(rt_gdt) - 1, (uintptr_t)rt_gdt};
    rt_load_gdt(&gdtr, RT_TSS_SEL(cpu));
    struct dtr idtr = {sizeof(rt_idt) - 1, (uintptr_t)rt_idt};
    __asm__ volatile("lidt %0" ::"m"(idtr));

    rt_lapic_write(LAPIC_SVR, 0x100 | RT_SPURIOUS_VECTOR); /* software-enable */
    rt_lapic_write(0x80, 0);                               /* TPR: accept every class */
    rt_lapic_write(LAPIC_LVT_LINT0, LAPIC_MASKED);
    rt_lapic_write(LAPIC_LVT_TIMER, LAPIC_MASKED);
    rt_lapic_write(LAPIC_LVT_ERROR, LAPIC_MASKED);

    rt_enter_user(user_main, ustacks[cpu] + RT_STACK_SIZE - 8, cpu, ncpus); /* -8: as if called */
}
