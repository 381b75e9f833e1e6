/* shmem_bench (pair: shmem_bench.conf + .peer.conf; figures, not a timing test): two VMs on
 * PCI shmem devices share region "shmbench". A measures, B answers; the roles come from the
 * policy as in shmem_pair.h (A denies "role-b"). Interrupts by MSI-X when the device has the
 * capability, else INTx; the line "shmem_bench: interrupt: ..." says which.
 * shmem_bench_mmio is this file built with SHMEM_BENCH_MMIO: the devices at `loc` SHM_LOC with
 * `intr ioapic:SHM_LINE` on both VMs (a level line through the IOAPIC), the same figures;
 * shmem_bench_intx with SHMEM_BENCH_INTX: PCI devices with MSI-X left off (INTx, level).
 *
 * In one run, on A (all bodies at CPL3, TSC deltas around each sample):
 * - the cost of a plain VM exit to the VMM: a port read of testdev (I/O exit) and a read of
 *   the factory signature (MMIO exit, the path of the control page); and for scale, testdev
 *   sending us an MSI (two port writes, an injected interrupt, its handler and EOI);
 * - the notification round trip: A notifies B, B sees it and notifies A, A sees it. "See":
 *   through the interrupt (the handler reads the control status) with the waiter halted
 *   (rt_halt_while: its vCPU thread leaves the CPU to the VMMs' other threads) or spinning
 *   on what the handler read; or by polling the control status with the line masked; beside
 *   them the same ping-pong on a flag in the shared pages (no VM exit at all);
 * - copy bandwidth (rep movsq, the same routine each time, the three kinds interleaved):
 *   guest RAM to guest RAM (memcpy), guest RAM to the region, the region to guest RAM.
 * Then one leg alone: A notifies itself (its own bit), B halted. Each round-trip kind stops
 * at SAMPLES or after BUDGET_MS; B halts between ticks while idle. Phases are sequenced through
 * words in the region's first data page. bench/shmem-bench.sh runs it and collects the lines. */
#include "pci.h"
#include "rt.h"
#include "shmem_drv.h"

#ifdef SHMEM_BENCH_MMIO
#define TEST     "shmem_bench_mmio"
#define REGION   "shmbenchmmio"
#define SHM_LOC  0xd1000000u /* the .conf files' loc */
#define SHM_LINE 11          /* and intr ioapic:11 */
#elif defined SHMEM_BENCH_INTX
#define TEST   "shmem_bench_intx"
#define REGION "shmbenchintx"
#else
#define TEST   "shmem_bench"
#define REGION "shmbench"
#endif

#define VEC_SHM    0x53
#define VEC_TICK   0x54 /* a 100 ms tick: halted waiters check their deadlines */
#define VEC_SELF   0x55 /* testdev's MSI to ourselves */
#define SAMPLES    1000
#define BUDGET_MS  1500 /* per round-trip kind */
#define RT_WARMUP  5
#define WARMUP     50
#define COPY_BYTES (1u << 20)
#define COPY_REPS  31
#define PAGES      (1 + COPY_BYTES / SHM_PAGE) /* sequencing page + the copy area */

enum { MODE_IDLE, MODE_IRQ_HALT, MODE_IRQ_SPIN, MODE_POLL, MODE_MEM, MODE_DONE };

/* The sequencing page: A writes `mode`, B acknowledges in `ack`; ping/pong for MODE_MEM. */
struct seq {
    volatile uint32_t mode;
    uint32_t pad0[15];
    volatile uint32_t ack;
    uint32_t pad1[15];
    volatile uint32_t ping;
    uint32_t pad2[15];
    volatile uint32_t pong;
};

static struct shm_dev dev;
static struct shm_region reg;
static struct seq *sq;
static uint64_t samples[SAMPLES];
static uint8_t ram_src[COPY_BYTES] __attribute__((aligned(4096)));
static uint8_t ram_dst[COPY_BYTES] __attribute__((aligned(4096)));
static uint64_t tsc_khz;

static void copy(void *d, const void *s, uint64_t bytes)
{
    uint64_t n = bytes / 8;
    __asm__ volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

static bool memcmp_ok(const uint8_t *a, const uint8_t *b, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

static void sort(uint64_t *v, unsigned n)
{
    for (unsigned i = 1; i < n; i++) {
        uint64_t x = v[i];
        unsigned j = i;
        for (; j && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

static uint64_t ns(uint64_t ticks)
{
    return ticks * 1000000 / tsc_khz;
}

/* Sorts samples[0..n) and prints "WHAT: median M ns (p10 .. p90 .. p99 ..)"; returns M in
 * ticks. */
static uint64_t report(const char *what, unsigned n)
{
    sort(samples, n);
    uint64_t med = samples[n / 2];
    rt_printf("shmem_bench: %s: median %lu ns (p10 %lu, p90 %lu, p99 %lu; %u samples)\n", what,
              ns(med), ns(samples[n / 10]), ns(samples[n * 9 / 10]), ns(samples[n * 99 / 100]), n);
    return med;
}

/* "X.YY" of a / b. */
static void ratio(char *out, uint64_t a, uint64_t b)
{
    uint64_t r = b ? (a * 100 + b / 2) / b : 0;
    char tmp[24];
    int n = 0;
    for (uint64_t v = r / 100; n == 0 || v; v /= 10)
        tmp[n++] = (char)('0' + v % 10);
    while (n)
        *out++ = tmp[--n];
    *out++ = '.';
    *out++ = (char)('0' + r / 10 % 10);
    *out++ = (char)('0' + r % 10);
    *out = 0;
}

/* TSC rate against the LAPIC timer (divide by 16: 62.5 MHz on KVM's 1 GHz APIC bus). */
static void calibrate(void)
{
    rt_timer_start(0x40, 0xffffffffu, false); /* the vector is never reached */
    uint32_t c0 = rt_lapic_read(LAPIC_TIMER_CUR);
    uint64_t t0 = rt_rdtsc();
    while (c0 - rt_lapic_read(LAPIC_TIMER_CUR) < 1250000) /* 20 ms */
        rt_pause();
    uint32_t c1 = rt_lapic_read(LAPIC_TIMER_CUR);
    uint64_t t1 = rt_rdtsc();
    rt_timer_stop();
    uint64_t us = (uint64_t)(c0 - c1) * 16 / 1000; /* 1 count = 16 ns */
    tsc_khz = (t1 - t0) * 1000 / us;
    rt_printf("shmem_bench: TSC %lu MHz (against the LAPIC timer)\n", tsc_khz / 1000);
}

static void set_mode(uint32_t m)
{
    __atomic_store_n(&sq->mode, m, __ATOMIC_SEQ_CST);
    uint64_t t0 = rt_rdtsc();
    while (__atomic_load_n(&sq->ack, __ATOMIC_SEQ_CST) != m)
        RT_CHECK(rt_rdtsc() - t0 < RT_HANG_TICKS);
}

static unsigned peer_idx(void)
{
    uint64_t t0 = rt_rdtsc();
    uint32_t others;
    while (!(others = __atomic_load_n(&reg.attached, __ATOMIC_SEQ_CST) & ~(1u << reg.idx)))
        RT_CHECK(rt_rdtsc() - t0 < RT_HANG_TICKS);
    return (unsigned)__builtin_ctz(others);
}

/* Waits for `bit`: by the handler's accounting (halted or spinning) or by polling the status.
 * With `mode`, gives up (false) when *mode is no longer `cur`. */
static bool wait_bit(uint32_t bit, uint32_t how, const volatile uint32_t *mode, uint32_t cur)
{
    uint64_t t0 = rt_rdtsc();
    for (;;) {
        uint32_t irqs = shm_irqs;
        if (how == MODE_POLL) {
            if (shm_read_status(&reg) & bit)
                return true;
        } else if (__atomic_load_n(&reg.pending, __ATOMIC_SEQ_CST) & bit) {
            shm_take_pending(&reg);
            return true;
        }
        if (mode && *mode != cur)
            return false;
        RT_CHECK(rt_rdtsc() - t0 < RT_HANG_TICKS);
        if (how == MODE_IRQ_HALT)
            rt_halt_while(&shm_irqs, irqs); /* the tick bounds it */
    }
}

static uint64_t round_trips(const char *what, uint32_t mode, unsigned b)
{
    if (mode == MODE_POLL)
        shm_irq_mask(&dev);
    set_mode(mode);
    shm_take_pending(&reg);
    uint64_t start = rt_rdtsc(), budget = BUDGET_MS * tsc_khz;
    unsigned n = 0;
    for (unsigned i = 0; n < SAMPLES && (i < RT_WARMUP || rt_rdtsc() - start < budget); i++) {
        uint64_t t0 = rt_rdtsc();
        if (mode == MODE_MEM) {
            __atomic_store_n(&sq->ping, i + 1, __ATOMIC_SEQ_CST);
            while (__atomic_load_n(&sq->pong, __ATOMIC_SEQ_CST) != i + 1)
                RT_CHECK(rt_rdtsc() - t0 < RT_HANG_TICKS);
        } else {
            shm_notify(&reg, 1u << b);
            RT_CHECK(wait_bit(1u << b, mode, 0, 0));
        }
        uint64_t t1 = rt_rdtsc();
        if (i >= RT_WARMUP)
            samples[n++] = t1 - t0;
    }
    set_mode(MODE_IDLE);
    if (mode == MODE_POLL) {
        shm_read_status(&reg); /* nothing left to raise the line */
        shm_irq_unmask(&dev);
    }
    return report(what, n);
}

/* COPY_REPS copies of COPY_BYTES for each kind, interleaved; median and best MB/s of each. */
static void bandwidth(void *dst[3], const void *src[3], uint64_t mbs[3], uint64_t best[3])
{
    static uint64_t t[3][COPY_REPS];
    for (unsigned k = 0; k < 3; k++)
        copy(dst[k], src[k], COPY_BYTES); /* first touch (shadow page faults) */
    for (unsigned i = 0; i < COPY_REPS; i++)
        for (unsigned k = 0; k < 3; k++) {
            uint64_t t0 = rt_rdtsc();
            copy(dst[k], src[k], COPY_BYTES);
            t[k][i] = rt_rdtsc() - t0;
        }
    for (unsigned k = 0; k < 3; k++) {
        sort(t[k], COPY_REPS);
        mbs[k] = (uint64_t)COPY_BYTES * tsc_khz / 1000 / t[k][COPY_REPS / 2]; /* bytes/us */
        best[k] = (uint64_t)COPY_BYTES * tsc_khz / 1000 / t[k][0];
    }
}

static int run_a(void)
{
    unsigned b = peer_idx();
    if (dev.pci)
        rt_printf("shmem_bench: region %u pages at %lx (BAR 2 %lx), idx %u, peer %u\n", reg.pages,
                  reg.gpa, dev.bar2, reg.idx, b);
    else
        rt_printf("shmem_bench: region %u pages at %lx (MMIO device), idx %u, peer %u\n", reg.pages,
                  reg.gpa, reg.idx, b);

    for (unsigned i = 0; i < WARMUP + SAMPLES; i++) {
        uint64_t t0 = rt_rdtsc();
        (void)inb(RT_TESTDEV);
        uint64_t t1 = rt_rdtsc();
        if (i >= WARMUP)
            samples[i - WARMUP] = t1 - t0;
    }
    uint64_t pio = report("exit: port read (testdev)", SAMPLES);
    for (unsigned i = 0; i < WARMUP + SAMPLES; i++) {
        uint64_t t0 = rt_rdtsc();
        (void)shm_factory32(&dev, SHM_F_SIGNATURE);
        uint64_t t1 = rt_rdtsc();
        if (i >= WARMUP)
            samples[i - WARMUP] = t1 - t0;
    }
    uint64_t mmio = report("exit: MMIO read (factory page)", SAMPLES);
    /* An interrupt's own cost: a port write whose device sends an MSI back to us. */
    rt_on_irq(VEC_SELF, NULL);
    for (unsigned i = 0; i < WARMUP + SAMPLES; i++) {
        uint64_t t0 = rt_rdtsc();
        rt_testdev_msi(0, VEC_SELF);
        RT_CHECK(rt_wait_irq(VEC_SELF, i + 1));
        uint64_t t1 = rt_rdtsc();
        if (i >= WARMUP)
            samples[i - WARMUP] = t1 - t0;
    }
    report("exit + MSI to self (testdev)", SAMPLES);

    char r1[24], r2[24];
    static const struct {
        uint32_t mode;
        const char *what;
    } kinds[] = {
        {MODE_IRQ_HALT, "round trip, interrupt, waiter halted"},
        {MODE_IRQ_SPIN, "round trip, interrupt, waiter spinning"},
        {MODE_POLL, "round trip, polling the status"},
    };
    for (unsigned k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        uint64_t med = round_trips(kinds[k].what, kinds[k].mode, b);
        ratio(r1, med, 2 * mmio), ratio(r2, med, 2 * pio);
        rt_printf("shmem_bench: %s = %s x two MMIO exits, %s x two port exits\n", kinds[k].what, r1,
                  r2);
    }
    round_trips("round trip, shared flag (no exit)", MODE_MEM, b);

    /* One leg alone, inside one VM (B halted): notify our own bit, the interrupt comes back. */
    shm_take_pending(&reg);
    unsigned n = 0;
    for (uint64_t start = rt_rdtsc(); n < SAMPLES && rt_rdtsc() - start < BUDGET_MS * tsc_khz;) {
        uint64_t t0 = rt_rdtsc();
        shm_notify(&reg, 1u << reg.idx);
        RT_CHECK(wait_bit(1u << reg.idx, MODE_IRQ_HALT, 0, 0));
        samples[n++] = rt_rdtsc() - t0;
    }
    report("one leg: notify self, interrupt, waiter halted", n);

    for (unsigned i = 0; i < COPY_BYTES; i++)
        ram_src[i] = (uint8_t)(i * 7 + 1);
    void *area = (void *)(reg.data + SHM_PAGE);
    void *dst[3] = {ram_dst, area, ram_dst};
    const void *src[3] = {ram_src, ram_src, area};
    uint64_t mbs[3], best[3];
    bandwidth(dst, src, mbs, best);
    RT_CHECK(memcmp_ok(ram_dst, ram_src, COPY_BYTES));
    ratio(r1, mbs[1] * 100, mbs[0]), ratio(r2, mbs[2] * 100, mbs[0]);
    rt_printf("shmem_bench: copy %u KiB (rep movsq): RAM to RAM %lu MB/s; RAM to region %lu MB/s "
              "(%s%% of RAM to RAM); region to RAM %lu MB/s (%s%%)\n",
              COPY_BYTES >> 10, mbs[0], mbs[1], r1, mbs[2], r2);
    ratio(r1, best[1] * 100, best[0]), ratio(r2, best[2] * 100, best[0]);
    rt_printf("shmem_bench: copy, best of %u: RAM to RAM %lu MB/s; RAM to region %lu MB/s (%s%%); "
              "region to RAM %lu MB/s (%s%%)\n",
              COPY_REPS, best[0], best[1], r1, best[2], r2);
    __atomic_store_n(&sq->mode, MODE_DONE, __ATOMIC_SEQ_CST);
    rt_printf("PASS " TEST "\n");
    return 0;
}

/* Follows A's modes until MODE_DONE. */
static int run_b(void)
{
    unsigned a = peer_idx();
    uint32_t seen = 0;
    for (;;) {
        uint32_t m = __atomic_load_n(&sq->mode, __ATOMIC_SEQ_CST);
        if (m == MODE_DONE)
            break;
        if (m == MODE_POLL)
            shm_irq_mask(&dev);
        shm_take_pending(&reg);
        __atomic_store_n(&sq->ack, m, __ATOMIC_SEQ_CST);
        if (m == MODE_IRQ_HALT || m == MODE_IRQ_SPIN || m == MODE_POLL) {
            while (wait_bit(1u << a, m, &sq->mode, m))
                shm_notify(&reg, 1u << a);
        } else if (m == MODE_MEM) {
            while (__atomic_load_n(&sq->mode, __ATOMIC_SEQ_CST) == m) {
                uint32_t p = __atomic_load_n(&sq->ping, __ATOMIC_SEQ_CST);
                if (p != seen)
                    __atomic_store_n(&sq->pong, seen = p, __ATOMIC_SEQ_CST);
            }
        } else { /* halted between ticks: A's VMM threads get this CPU meanwhile */
            static volatile uint32_t never;
            uint64_t t0 = rt_rdtsc();
            while (__atomic_load_n(&sq->mode, __ATOMIC_SEQ_CST) == m) {
                RT_CHECK(rt_rdtsc() - t0 < 10 * RT_WAIT_TICKS);
                rt_halt_while(&never, 0);
            }
        }
        if (m == MODE_POLL) {
            shm_read_status(&reg);
            shm_irq_unmask(&dev);
        }
    }
    rt_printf("shmem_bench: B: done\n");
    return 0;
}

/* "shmem_bench: interrupt: MODE (how)": bench/shmem-bench.sh reports it. */
static void print_interrupt(void)
{
    if (dev.msix)
        rt_printf("shmem_bench: interrupt: MSI-X (vector 0 -> LAPIC vector %x, table in BAR %u)\n",
                  dev.vector, pci_msix_table_bar(dev.bdf, dev.msix_cap));
    else
        rt_printf("shmem_bench: interrupt: %s (IOAPIC line %u, level, active %s)\n",
                  shm_irq_mode(&dev), dev.line, dev.pci ? "low" : "high");
}

int test_main(unsigned cpu, unsigned ncpus)
{
#ifdef SHMEM_BENCH_MMIO
    shm_at(&dev, SHM_LOC, SHM_LINE);
#else
    RT_CHECK(shm_find_pci(&dev));
#endif
    struct shm_region probe;
    unsigned st = shm_attach(&dev, "role-b", 1, true, &probe);
    RT_CHECK(st == SHM_ST_NO_PERMISSION || st == SHM_ST_DOES_NOT_EXIST);
    bool is_a = st == SHM_ST_NO_PERMISSION;
    st = shm_attach(&dev, REGION, PAGES, !is_a, &reg);
    for (unsigned i = 0; !is_a && st == SHM_ST_DOES_NOT_EXIST && i < 200; i++) {
        rt_delay(50000000);
        st = shm_attach(&dev, REGION, PAGES, true, &reg);
    }
    RT_CHECK(st == SHM_ST_OK && reg.pages == PAGES);
    reg.attached = shm_read_status(&reg) >> 16;
    sq = (struct seq *)(uintptr_t)reg.data;
    shm_irq_add(&reg);
#ifdef SHMEM_BENCH_INTX
    bool msix = false;
#else
    bool msix = dev.msix_cap != 0; /* MSI-X if the device has it */
#endif
    RT_CHECK(shm_irq_setup(&dev, VEC_SHM, msix));
    if (is_a) {
        print_interrupt();
        calibrate(); /* before the tick takes the LAPIC timer */
    }
    rt_on_irq(VEC_TICK, NULL);
    rt_timer_start(VEC_TICK, 6250000, true); /* 100 ms */
    return is_a ? run_a() : run_b();
}
