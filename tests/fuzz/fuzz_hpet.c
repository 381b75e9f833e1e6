/* The HPET (vdevs/hpet) under any sequence of MMIO accesses (any size, any offset), clock
 * steps from nanoseconds to hours, timer runs and resets, on a fake clock (the module's test
 * seam). Asserted after every step:
 *   - General Capabilities and the timers' capability bits never change;
 *   - the status register has bits of level-triggered timers only;
 *   - every line is up exactly when an enabled, pending level timer is routed to it (legacy
 *     replacement: timer 0 to line 0, timer 1 to line 8; else INT_ROUTE_CNF within the cap);
 *   - the main counter never goes back while it runs, nor further than the clock moved
 *     (modulo 2^64: a counter set near the top wraps).
 * Input: u32 start (seconds), then steps: op (bits 0-2: read, write, typed write, clock,
 * timer run, reset) and its arguments. */
/* FUZZ_ARGS: -max_len=4096 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../vdevs/hpet/hpet.h"
#include "fuzz_common.h"

extern const struct vdev_type vdev_module_hpet;

#define BASE 0xfed00000ull
#define NS   1000000000LL
#define CAP  ((1u << 3) | 0x00f00000u) /* lines 3,20-23 */
#define NGSI 24

static bool level[NGSI];
static struct timespec fake;

static int track_line(void *ctx, uint32_t gsi, bool l)
{
    if (gsi >= NGSI)
        abort(); /* a line the device never claimed */
    level[gsi] = l;
    return 0;
}

/* The device's timer reads the clock on the event thread: no torn reads. */
static pthread_mutex_t clock_lock = PTHREAD_MUTEX_INITIALIZER;

static void fake_clock(void *opaque, struct timespec *now)
{
    pthread_mutex_lock(&clock_lock);
    *now = fake;
    pthread_mutex_unlock(&clock_lock);
}

static void advance(int64_t ns)
{
    pthread_mutex_lock(&clock_lock);
    int64_t t = fake.tv_nsec + ns;
    fake.tv_sec += t / NS;
    fake.tv_nsec = t % NS;
    pthread_mutex_unlock(&clock_lock);
}

static void fail(const char *what, unsigned step, uint64_t got)
{
    fprintf(stderr, "step %u: %s (0x%llx)\n", step, what, (unsigned long long)got);
    abort();
}

static uint64_t rd(struct fz_machine *fm, uint64_t off, unsigned size)
{
    uint64_t v = 0;
    vdev_machine_access(fm->m, VDEV_SPACE_MEM, BASE + off, size, false, &v);
    return v;
}

static const uint16_t regs[] = {HPET_CFG,       HPET_ISR,       HPET_COUNTER,    HPET_COUNTER + 4,
                                HPET_TN(0),     HPET_TN(0) + 8, HPET_TN(0) + 12, HPET_TN(1),
                                HPET_TN(1) + 8, HPET_TN(2),     HPET_TN(2) + 8,  HPET_TN(2) + 16};

struct counter_watch {
    bool valid;     /* a reading of the running counter to compare with */
    uint64_t value; /* that reading */
    int64_t at;     /* fake ns when it was taken */
};

static int64_t now_ns(void)
{
    return (int64_t)fake.tv_sec * NS + fake.tv_nsec;
}

static void check(struct fz_machine *fm, uint64_t cap, struct counter_watch *w, unsigned step)
{
    if (rd(fm, HPET_CAP, 8) != cap)
        fail("General Capabilities changed", step, rd(fm, HPET_CAP, 8));
    uint64_t cfg = rd(fm, HPET_CFG, 8), isr = rd(fm, HPET_ISR, 8);
    if (cfg & ~3ull)
        fail("General Configuration has reserved bits", step, cfg);
    bool want[NGSI] = {false};
    for (unsigned i = 0; i < HPET_TIMERS; i++) {
        uint64_t t = rd(fm, HPET_TN(i), 8);
        uint64_t caps = HPET_TN_SIZE_CAP | (i == 0 ? HPET_TN_PER_CAP : 0) | (uint64_t)CAP << 32;
        if ((t & (0xffffffff00000000ull | HPET_TN_SIZE_CAP | HPET_TN_PER_CAP | HPET_TN_FSB_CAP |
                  HPET_TN_FSB_EN)) != caps)
            fail("timer capabilities changed", step, t);
        bool lvl = t & HPET_TN_INT_TYPE;
        if ((isr >> i & 1) && !lvl)
            fail("status bit of an edge timer", step, isr);
        unsigned route = (unsigned)(t & HPET_TN_ROUTE) >> HPET_TN_ROUTE_SHIFT;
        int r = (cfg & HPET_CFG_LEG_RT) && i < 2 ? (i ? 8 : 0)
                : (CAP >> route & 1)             ? (int)route
                                                 : -1;
        if (r >= 0 && (cfg & HPET_CFG_ENABLE) && lvl && (t & HPET_TN_INT_ENB) && (isr >> i & 1))
            want[r] = true;
    }
    if (isr >> HPET_TIMERS)
        fail("status bits of absent timers", step, isr);
    for (unsigned g = 0; g < NGSI; g++)
        if (want[g] != level[g])
            fail("a line disagrees with the status bits", step, g);
    if (cfg & HPET_CFG_ENABLE) {
        uint64_t c = rd(fm, HPET_COUNTER, 8);
        int64_t now = now_ns();
        if (w->valid) {
            uint64_t most = (uint64_t)(now - w->at) / 10 + 1;
            if (c - w->value > most) /* modulo 2^64: the counter may wrap */
                fail("the running counter went back or ran ahead", step, c);
        }
        *w = (struct counter_watch){true, c, now};
    } else {
        w->valid = false;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool registered;
    struct vdev_err err;
    if (!registered) {
        if (vdev_register_type(&vdev_module_hpet, &err))
            abort();
        registered = true;
    }
    struct fz_in in = {data, size};
    fake.tv_sec = 1 + (time_t)fz_u32(&in);
    fake.tv_nsec = 0;

    struct fz_machine fm;
    fz_machine_build(&fm, "ram 64K vdev hpet lines 3,20-23");
    fm.ops.set_irq_line = track_line;
    memset(level, 0, sizeof(level));
    struct vdev *d = vdev_machine_device(fm.m, 0);
    hpet_set_clock(d, fake_clock, NULL);
    uint64_t cap = rd(&fm, HPET_CAP, 8);
    struct counter_watch w = {false, 0, 0};

    for (unsigned step = 0; fz_left(&in) >= 1; step++) {
        uint8_t op = fz_u8(&in);
        unsigned sz = 1u << ((op >> 3) & 3);
        switch (op & 7) {
        case 0: { /* a read anywhere */
            uint64_t v = 0;
            vdev_machine_access(fm.m, VDEV_SPACE_MEM, BASE + (fz_u16(&in) & 0x7ff), sz, false, &v);
            break;
        }
        case 1: { /* a write anywhere */
            uint64_t off = fz_u16(&in) & 0x7ff, v = fz_u64(&in);
            vdev_machine_access(fm.m, VDEV_SPACE_MEM, BASE + off, sz, true, &v);
            if (off <= HPET_COUNTER + 7 && off + sz > HPET_COUNTER)
                w.valid = false; /* a halted counter may have been set */
            break;
        }
        case 2: { /* a write to a register that matters, 4 or 8 bytes */
            uint64_t off = regs[fz_u8(&in) % (sizeof(regs) / sizeof(regs[0]))], v = fz_u64(&in);
            unsigned n = (op & 8) || (off & 4) ? 4 : 8;
            vdev_machine_access(fm.m, VDEV_SPACE_MEM, BASE + off, n, true, &v);
            if (off >= HPET_COUNTER && off < HPET_COUNTER + 8)
                w.valid = false;
            break;
        }
        case 3: { /* the clock: ns, us, ms or s */
            static const int64_t scale[4] = {1, 1000, 1000000, NS};
            advance((int64_t)fz_u16(&in) * scale[(op >> 3) & 3]);
            break;
        }
        case 4:
            hpet_timer_run(d);
            break;
        case 5:
            if (op & 0x80) {
                vdev_machine_reset(fm.m);
                w.valid = false;
            }
            break;
        default: { /* enable quickly with a timer armed: reach matches often */
            unsigned i = fz_u8(&in) % HPET_TIMERS;
            uint64_t cfg = fz_u16(&in), cmp = fz_u16(&in);
            uint64_t v = cfg;
            vdev_machine_access(fm.m, VDEV_SPACE_MEM, BASE + HPET_TN(i), 4, true, &v);
            v = rd(&fm, HPET_COUNTER, 8) + cmp;
            vdev_machine_access(fm.m, VDEV_SPACE_MEM, BASE + HPET_TN(i) + 8, 8, true, &v);
            v = HPET_CFG_ENABLE | (op >> 7);
            vdev_machine_access(fm.m, VDEV_SPACE_MEM, BASE + HPET_CFG, 8, true, &v);
            break;
        }
        }
        check(&fm, cap, &w, step);
    }
    fz_machine_free(&fm);
    return 0;
}
