/* shmem_bench (pair: shmem_bench.conf + .peer.conf; figures, not a timing test): two VMs on
 * PCI shmem devices share region "shmbench". A measures, B answers; the roles come from the
 * policy as in shmem_pair.h (A denies "role-b").
 *
 * In one run, on A (all bodies at CPL3, TSC deltas around each sample):
 * - the cost of a plain VM exit to the VMM: a port read of testdev (I/O exit) and a read of
 *   the factory signature (MMIO exit, the path of the control page);
 * - the notification round trip: A notifies B, B sees it and notifies A, A sees it; B and A
 *   "see" it through the interrupt (the handler reads the control status; the body spins on
 *   what it read), or by polling the control status with the line masked; beside them the
 *   same ping-pong on a flag in the shared pages (no VM exit, the memory's own latency);
 * - copy bandwidth (rep movsq, the same routine each time): guest RAM to guest RAM (memcpy),
 *   guest RAM to the region, the region to guest RAM.
 * Phases are sequenced through words in the region's first data page. Prints medians and
 * percentiles; bench/shmem-bench.sh runs it and collects the lines. */
#include "rt.h"
#include "shmem_drv.h"

#define VEC_SHM    0x53
#define SAMPLES    1000
#define WARMUP     50
#define COPY_BYTES (1u << 20)
#define COPY_REPS  9
#define PAGES      (1 + COPY_BYTES / SHM_PAGE) /* sequencing page + the copy area */

enum { MODE_IDLE, MODE_IRQ, MODE_POLL, MODE_MEM, MODE_DONE };

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
        RT_CHECK(rt_rdtsc() - t0 < RT_WAIT_TICKS);
}

static unsigned peer_idx(void)
{
    uint64_t t0 = rt_rdtsc();
    uint32_t others;
    while (!(others = __atomic_load_n(&reg.attached, __ATOMIC_SEQ_CST) & ~(1u << reg.idx)))
        RT_CHECK(rt_rdtsc() - t0 < RT_WAIT_TICKS);
    return (unsigned)__builtin_ctz(others);
}

/* Waits for `bit` by the handler's accounting (MODE_IRQ) or by polling the status. */
static bool wait_bit(uint32_t bit, bool poll, const volatile uint32_t *mode, uint32_t cur)
{
    uint64_t t0 = rt_rdtsc();
    for (;;) {
        if (poll) {
            if (shm_read_status(&reg) & bit)
                return true;
        } else if (__atomic_load_n(&reg.pending, __ATOMIC_SEQ_CST) & bit) {
            shm_take_pending(&reg);
            return true;
        }
        if (mode && *mode != cur)
            return false;
        RT_CHECK(rt_rdtsc() - t0 < RT_WAIT_TICKS);
    }
}

static uint64_t round_trips(const char *what, uint32_t mode, unsigned b)
{
    bool poll = mode == MODE_POLL;
    if (poll)
        rt_ioapic_mask(dev.line);
    set_mode(mode);
    shm_take_pending(&reg);
    for (unsigned i = 0; i < WARMUP + SAMPLES; i++) {
        uint64_t t0 = rt_rdtsc();
        if (mode == MODE_MEM) {
            __atomic_store_n(&sq->ping, i + 1, __ATOMIC_SEQ_CST);
            while (__atomic_load_n(&sq->pong, __ATOMIC_SEQ_CST) != i + 1)
                RT_CHECK(rt_rdtsc() - t0 < RT_WAIT_TICKS);
        } else {
            shm_notify(&reg, 1u << b);
            RT_CHECK(wait_bit(1u << b, poll, 0, 0));
        }
        uint64_t t1 = rt_rdtsc();
        if (i >= WARMUP)
            samples[i - WARMUP] = t1 - t0;
    }
    set_mode(MODE_IDLE);
    if (poll) {
        shm_read_status(&reg); /* nothing left to raise the line */
        shm_irq_setup(&dev, VEC_SHM);
    }
    return report(what, SAMPLES);
}

/* Median MB/s of COPY_REPS copies of COPY_BYTES. */
static uint64_t bandwidth(void *d, const void *s)
{
    copy(d, s, COPY_BYTES); /* first touch (shadow page faults) */
    for (unsigned i = 0; i < COPY_REPS; i++) {
        uint64_t t0 = rt_rdtsc();
        copy(d, s, COPY_BYTES);
        samples[i] = rt_rdtsc() - t0;
    }
    sort(samples, COPY_REPS);
    return (uint64_t)COPY_BYTES * tsc_khz / 1000 / samples[COPY_REPS / 2]; /* bytes/us = MB/s */
}

static int run_a(void)
{
    calibrate();
    unsigned b = peer_idx();
    rt_printf("shmem_bench: region %u pages at %lx (BAR 2 %lx), idx %u, peer %u, INTx line %u\n",
              reg.pages, reg.gpa, dev.bar2, reg.idx, b, dev.line);

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

    char r1[24], r2[24];
    uint64_t irq = round_trips("round trip, interrupt", MODE_IRQ, b);
    ratio(r1, irq, 2 * mmio), ratio(r2, irq, 2 * pio);
    rt_printf("shmem_bench: round trip, interrupt = %s x two MMIO exits, %s x two port exits\n", r1,
              r2);
    uint64_t poll = round_trips("round trip, polling", MODE_POLL, b);
    ratio(r1, poll, 2 * mmio), ratio(r2, poll, 2 * pio);
    rt_printf("shmem_bench: round trip, polling = %s x two MMIO exits, %s x two port exits\n", r1,
              r2);
    round_trips("round trip, shared flag (no exit)", MODE_MEM, b);

    for (unsigned i = 0; i < COPY_BYTES; i++)
        ram_src[i] = (uint8_t)(i * 7 + 1);
    volatile uint8_t *area = reg.data + SHM_PAGE;
    uint64_t mem = bandwidth(ram_dst, ram_src);
    uint64_t to = bandwidth((void *)area, ram_src);
    uint64_t from = bandwidth(ram_dst, (const void *)area);
    RT_CHECK(area[12345] == ram_src[12345] && ram_dst[COPY_BYTES - 1] == ram_src[COPY_BYTES - 1]);
    ratio(r1, to * 100, mem), ratio(r2, from * 100, mem);
    rt_printf("shmem_bench: copy %u KiB (rep movsq): RAM to RAM %lu MB/s; RAM to region %lu MB/s "
              "(%s%% of RAM to RAM); region to RAM %lu MB/s (%s%%)\n",
              COPY_BYTES >> 10, mem, to, r1, from, r2);
    __atomic_store_n(&sq->mode, MODE_DONE, __ATOMIC_SEQ_CST);
    rt_printf("PASS shmem_bench\n");
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
            rt_ioapic_mask(dev.line);
        shm_take_pending(&reg);
        __atomic_store_n(&sq->ack, m, __ATOMIC_SEQ_CST);
        if (m == MODE_IRQ || m == MODE_POLL) {
            while (wait_bit(1u << a, m == MODE_POLL, &sq->mode, m))
                shm_notify(&reg, 1u << a);
        } else if (m == MODE_MEM) {
            while (__atomic_load_n(&sq->mode, __ATOMIC_SEQ_CST) == m) {
                uint32_t p = __atomic_load_n(&sq->ping, __ATOMIC_SEQ_CST);
                if (p != seen)
                    __atomic_store_n(&sq->pong, seen = p, __ATOMIC_SEQ_CST);
            }
        } else {
            uint64_t t0 = rt_rdtsc();
            while (__atomic_load_n(&sq->mode, __ATOMIC_SEQ_CST) == m)
                RT_CHECK(rt_rdtsc() - t0 < 10 * RT_WAIT_TICKS); /* A copies meanwhile */
        }
        if (m == MODE_POLL) {
            shm_read_status(&reg);
            shm_irq_setup(&dev, VEC_SHM);
        }
    }
    rt_printf("shmem_bench: B: done\n");
    return 0;
}

int test_main(unsigned cpu, unsigned ncpus)
{
    RT_CHECK(shm_find_pci(&dev));
    struct shm_region probe;
    unsigned st = shm_attach(&dev, "role-b", 1, true, &probe);
    RT_CHECK(st == SHM_ST_NO_PERMISSION || st == SHM_ST_DOES_NOT_EXIST);
    bool is_a = st == SHM_ST_NO_PERMISSION;
    st = shm_attach(&dev, "shmbench", PAGES, !is_a, &reg);
    for (unsigned i = 0; !is_a && st == SHM_ST_DOES_NOT_EXIST && i < 200; i++) {
        rt_delay(50000000);
        st = shm_attach(&dev, "shmbench", PAGES, true, &reg);
    }
    RT_CHECK(st == SHM_ST_OK && reg.pages == PAGES);
    reg.attached = shm_read_status(&reg) >> 16;
    sq = (struct seq *)(uintptr_t)reg.data;
    shm_irq_add(&reg);
    shm_irq_setup(&dev, VEC_SHM);
    return is_a ? run_a() : run_b();
}
