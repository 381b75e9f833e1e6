/* hpet: the HPET driven through its MMIO window as a guest would, on a fake clock set through
 * the module's test seam (vdevs/hpet/hpet.h); its ACPI table through the VMM's builder. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../vdevs/hpet/hpet.h"
#include "acpi_tables.h"
#include "asl_check.h"
#include "fake_embedder.h"
#include <vdev/acpi.h>

extern const struct vdev_type vdev_module_hpet;

#define BASE 0xfed00000ull
#define NS   1000000000LL

static struct fake_embedder fe;
static struct timespec fake_now;

/* The device's timer reads the clock on the event thread: no torn reads. */
static pthread_mutex_t clock_lock = PTHREAD_MUTEX_INITIALIZER;

static void fake_clock(void *opaque, struct timespec *now)
{
    pthread_mutex_lock(&clock_lock);
    *now = fake_now;
    pthread_mutex_unlock(&clock_lock);
}

static void advance_ns(int64_t ns)
{
    pthread_mutex_lock(&clock_lock);
    int64_t t = fake_now.tv_nsec + ns;
    fake_now.tv_sec += t / NS;
    fake_now.tv_nsec = t % NS;
    pthread_mutex_unlock(&clock_lock);
}

static void ticks(uint64_t n) /* 10 ns each */
{
    advance_ns((int64_t)n * 10);
}

static void setup(void)
{
    static bool registered;
    struct vdev_err err;
    if (!registered) {
        ck_assert_msg(vdev_register_type(&vdev_module_hpet, &err) == 0, "%s", err.msg);
        registered = true;
    }
    fake_machine_new(&fe);
}

static void teardown(void)
{
    if (fe.m)
        fake_machine_free(&fe);
}

static struct vdev *hpet(void)
{
    return vdev_machine_device(fe.m, 0);
}

static int try_build(const char *conf, struct vdev_err *err)
{
    return fake_machine_build_string(&fe, conf, err);
}

static void build(const char *extra)
{
    char conf[512];
    struct vdev_err err;
    snprintf(conf, sizeof(conf), "ram 16M vdev hpet %s", extra);
    ck_assert_msg(try_build(conf, &err) == 0, "build failed: %s", err.msg);
    fake_now.tv_sec = 1000;
    fake_now.tv_nsec = 0;
    hpet_set_clock(hpet(), fake_clock, NULL);
}

static uint64_t rd(uint64_t off, unsigned size)
{
    uint64_t v = 0;
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_MEM, BASE + off, size, false, &v),
                     VDEV_ACCESS_OK);
    return v;
}

static void wr(uint64_t off, unsigned size, uint64_t v)
{
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_MEM, BASE + off, size, true, &v),
                     VDEV_ACCESS_OK);
}

static uint64_t rd64(uint64_t off)
{
    return rd(off, 8);
}

static void wr64(uint64_t off, uint64_t v)
{
    wr(off, 8, v);
}

#define TCFG(n)  (HPET_TN(n) + HPET_TN_CFG)
#define TCMP(n)  (HPET_TN(n) + HPET_TN_CMP)
#define ROUTE(l) ((uint64_t)(l) << HPET_TN_ROUTE_SHIFT)

static void enable(void)
{
    wr64(HPET_CFG, rd64(HPET_CFG) | HPET_CFG_ENABLE);
}

/* ---- capabilities and the counter ---- */

START_TEST(capabilities)
{
    build("");
    uint64_t cap = rd64(HPET_CAP);
    ck_assert_uint_eq(cap & 0xff, 1);                      /* REV_ID */
    ck_assert_uint_eq((cap >> 8) & 0x1f, HPET_TIMERS - 1); /* NUM_TIM_CAP */
    ck_assert(cap & HPET_CAP_COUNT_SIZE);
    ck_assert(cap & HPET_CAP_LEG_RT);
    ck_assert_uint_eq((cap >> 16) & 0xffff, 0x8086);
    ck_assert_uint_eq(cap >> 32, 10000000); /* 10 ns in fs */
    ck_assert_uint_eq(rd(HPET_CAP + 4, 4), 10000000);
    ck_assert_uint_eq(rd(HPET_CAP, 4), (uint32_t)cap);
    /* Timer 0 alone is periodic-capable; all are 64-bit; lines 20-23; no FSB. */
    for (unsigned i = 0; i < HPET_TIMERS; i++) {
        uint64_t c = rd64(TCFG(i));
        ck_assert_uint_eq(!!(c & HPET_TN_PER_CAP), i == 0);
        ck_assert(c & HPET_TN_SIZE_CAP);
        ck_assert(!(c & HPET_TN_FSB_CAP));
        ck_assert_uint_eq(c >> 32, 0x00f00000);
        ck_assert_uint_eq(rd64(TCMP(i)), UINT64_MAX);
    }
    ck_assert_uint_eq(rd64(HPET_TN(HPET_TIMERS) + HPET_TN_CFG), 0); /* no timer 3 */
}
END_TEST

START_TEST(lines_option_sets_route_cap)
{
    build("lines 5,21-22");
    ck_assert_uint_eq(rd64(TCFG(1)) >> 32, (1u << 5) | (1u << 21) | (1u << 22));
}
END_TEST

/* qvm's hpet options: frequency, legacy-free; intrmap is refused with a hint. */
START_TEST(qvm_options)
{
    build("frequency 14318180 legacy-free");
    uint64_t cap = rd64(HPET_CAP);
    ck_assert_uint_eq(cap >> 32, 1000000000000000ull / 14318180); /* 69841279 fs */
    ck_assert(!(cap & HPET_CAP_LEG_RT));
    wr64(HPET_CFG, HPET_CFG_LEG_RT); /* not capable: stays clear */
    ck_assert_uint_eq(rd64(HPET_CFG), 0);
    enable();
    advance_ns(1000000000);
    ck_assert_uint_eq(rd64(HPET_COUNTER), 14318180);
    advance_ns(500000000);
    ck_assert_uint_eq(rd64(HPET_COUNTER), 14318180 + 7159090);
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    struct vdev_err err;
    ck_assert_int_ne(try_build("ram 16M vdev hpet intrmap ioapic:2", &err), 0);
    ck_assert_msg(strstr(err.msg, "hint: leave it out"), "%s", err.msg);
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_ne(try_build("ram 16M vdev hpet frequency 1000", &err), 0);
    ck_assert_msg(strstr(err.msg, "frequency"), "%s", err.msg);
}
END_TEST

START_TEST(counter_halted_and_running)
{
    build("");
    ck_assert_uint_eq(rd64(HPET_COUNTER), 0);
    ticks(1000);
    ck_assert_uint_eq(rd64(HPET_COUNTER), 0); /* halted */
    wr64(HPET_COUNTER, 0x123456789ull);
    ck_assert_uint_eq(rd64(HPET_COUNTER), 0x123456789ull);
    wr(HPET_COUNTER + 4, 4, 0x2); /* the high half alone */
    ck_assert_uint_eq(rd64(HPET_COUNTER), 0x223456789ull);
    enable();
    ticks(100);
    ck_assert_uint_eq(rd64(HPET_COUNTER), 0x223456789ull + 100);
    advance_ns(25); /* sub-tick: 2 more ticks */
    ck_assert_uint_eq(rd64(HPET_COUNTER), 0x223456789ull + 102);
    wr64(HPET_COUNTER, 5); /* ignored while running */
    ck_assert_uint_eq(rd64(HPET_COUNTER), 0x223456789ull + 102);
    wr64(HPET_CFG, 0); /* halt: the value stays */
    ticks(1000);
    ck_assert_uint_eq(rd64(HPET_COUNTER), 0x223456789ull + 102);
    enable();
    ticks(1);
    ck_assert_uint_eq(rd64(HPET_COUNTER), 0x223456789ull + 103);
}
END_TEST

START_TEST(counter_on_the_host_clock)
{
    build("");
    hpet_set_clock(hpet(), NULL, NULL); /* back to CLOCK_MONOTONIC */
    enable();
    uint64_t a = rd64(HPET_COUNTER);
    usleep(2000);
    uint64_t b = rd64(HPET_COUNTER);
    ck_assert_uint_ge(b - a, 200000); /* 2 ms at 100 MHz */
    ck_assert_uint_lt(b - a, 100000000);
}
END_TEST

/* ---- comparators and interrupts ---- */

START_TEST(one_shot_edge)
{
    build("");
    wr64(TCMP(2), 1000);
    wr64(TCFG(2), HPET_TN_INT_ENB | ROUTE(20));
    enable();
    ticks(999);
    hpet_timer_run(hpet());
    ck_assert_uint_eq(fe.gsi_raises[20], 0);
    ticks(1);
    hpet_timer_run(hpet());
    ck_assert_uint_eq(fe.gsi_raises[20], 1);
    ck_assert(!fe.gsi_level[20]);
    ck_assert_uint_eq(rd64(HPET_ISR), 0); /* edge timers have no status */
    ticks(100000);
    hpet_timer_run(hpet());
    ck_assert_uint_eq(fe.gsi_raises[20], 1); /* one shot: 64-bit, not again */
    ck_assert_uint_eq(rd64(TCMP(2)), 1000);
}
END_TEST

START_TEST(level_status_and_w1c)
{
    build("");
    wr64(TCMP(1), 500);
    wr64(TCFG(1), HPET_TN_INT_TYPE | HPET_TN_INT_ENB | ROUTE(21));
    enable();
    ticks(600);
    ck_assert_uint_eq(rd64(HPET_ISR), 2); /* a read catches up */
    ck_assert(fe.gsi_level[21]);
    wr64(HPET_ISR, 0x5); /* not its bit: nothing */
    ck_assert_uint_eq(rd64(HPET_ISR), 2);
    ck_assert(fe.gsi_level[21]);
    wr(HPET_ISR, 1, 0x2);
    ck_assert_uint_eq(rd64(HPET_ISR), 0);
    ck_assert(!fe.gsi_level[21]);
    ck_assert_uint_eq(fe.gsi_raises[21], 1);
}
END_TEST

START_TEST(level_without_int_enb_sets_status_only)
{
    build("");
    wr64(TCMP(2), 10);
    wr64(TCFG(2), HPET_TN_INT_TYPE | ROUTE(22));
    enable();
    ticks(20);
    hpet_timer_run(hpet());
    ck_assert_uint_eq(rd64(HPET_ISR), 4);
    ck_assert(!fe.gsi_level[22]);
    wr64(TCFG(2), HPET_TN_INT_TYPE | HPET_TN_INT_ENB | ROUTE(22)); /* enabling shows it */
    ck_assert(fe.gsi_level[22]);
    wr64(HPET_CFG, 0); /* halted: every line drops, the status stays */
    ck_assert(!fe.gsi_level[22]);
    ck_assert_uint_eq(rd64(HPET_ISR), 4);
    wr64(TCFG(2), HPET_TN_INT_ENB | ROUTE(22)); /* edge now: no status */
    ck_assert_uint_eq(rd64(HPET_ISR), 0);
}
END_TEST

START_TEST(two_level_timers_share_a_line)
{
    build("");
    wr64(TCMP(1), 10);
    wr64(TCMP(2), 20);
    wr64(TCFG(1), HPET_TN_INT_TYPE | HPET_TN_INT_ENB | ROUTE(23));
    wr64(TCFG(2), HPET_TN_INT_TYPE | HPET_TN_INT_ENB | ROUTE(23));
    enable();
    ticks(30);
    ck_assert_uint_eq(rd64(HPET_ISR), 6);
    ck_assert(fe.gsi_level[23]);
    wr64(HPET_ISR, 2);
    ck_assert(fe.gsi_level[23]); /* timer 2 still holds it */
    wr64(HPET_ISR, 4);
    ck_assert(!fe.gsi_level[23]);
}
END_TEST

START_TEST(periodic_with_val_set)
{
    build("");
    /* As Linux: VAL_SET, the first comparator write sets the accumulator, the second the
     * period alone. */
    wr64(TCFG(0), HPET_TN_INT_ENB | HPET_TN_PERIODIC | HPET_TN_VAL_SET | ROUTE(20));
    wr64(TCMP(0), 1000);
    ck_assert(!(rd64(TCFG(0)) & HPET_TN_VAL_SET)); /* cleared by the write */
    wr64(TCMP(0), 400);
    ck_assert_uint_eq(rd64(TCMP(0)), 1000);
    enable();
    ticks(1000);
    hpet_timer_run(hpet());
    ck_assert_uint_eq(fe.gsi_raises[20], 1);
    ck_assert_uint_eq(rd64(TCMP(0)), 1400);
    ticks(400);
    hpet_timer_run(hpet());
    ck_assert_uint_eq(fe.gsi_raises[20], 2);
    ck_assert_uint_eq(rd64(TCMP(0)), 1800);
    /* Late by many periods: one interrupt, the comparator past the counter, no loop. */
    ticks(400ull * 1000000);
    hpet_timer_run(hpet());
    ck_assert_uint_eq(fe.gsi_raises[20], 3);
    uint64_t c = rd64(HPET_COUNTER), cmp = rd64(TCMP(0));
    ck_assert_uint_gt(cmp, c);
    ck_assert_uint_le(cmp - c, 400);
    ck_assert_uint_eq((cmp - 1000) % 400, 0);
    /* Without VAL_SET a write changes the period only. */
    wr64(TCMP(0), 100);
    ck_assert_uint_eq(rd64(TCMP(0)), cmp);
    ticks(cmp - c);
    hpet_timer_run(hpet());
    ck_assert_uint_eq(rd64(TCMP(0)), cmp + 100);
}
END_TEST

START_TEST(periodic_only_on_timer_0)
{
    build("");
    wr64(TCFG(1), HPET_TN_PERIODIC | HPET_TN_INT_ENB | ROUTE(20));
    ck_assert(!(rd64(TCFG(1)) & HPET_TN_PERIODIC));
    wr64(TCMP(1), 50);
    ck_assert_uint_eq(rd64(TCMP(1)), 50); /* a one-shot takes the value */
}
END_TEST

START_TEST(thirty_two_bit_mode_wraps)
{
    build("");
    wr64(TCMP(2), 0x100000010ull);
    wr64(TCFG(2), HPET_TN_32BIT | HPET_TN_INT_ENB | ROUTE(21));
    ck_assert_uint_eq(rd64(TCMP(2)), 0x10); /* 32-bit mode truncates the comparator */
    wr64(TCMP(2), 0x300000010ull);
    ck_assert_uint_eq(rd64(TCMP(2)), 0x10); /* and writes */
    wr(TCMP(2) + 4, 4, 0xffffffff);         /* the high half is not there */
    ck_assert_uint_eq(rd64(TCMP(2)), 0x10);
    wr64(HPET_COUNTER, 0x7fffffff0ull);
    enable();
    ticks(0x1f); /* low bits 0xfffffff0 -> 0x0f: not yet */
    hpet_timer_run(hpet());
    ck_assert_uint_eq(fe.gsi_raises[21], 0);
    ticks(1); /* low bits 0x10 after the wrap */
    hpet_timer_run(hpet());
    ck_assert_uint_eq(fe.gsi_raises[21], 1);
    ticks(0x100000000ull); /* a 32-bit one-shot matches again each 2^32 ticks */
    hpet_timer_run(hpet());
    ck_assert_uint_eq(fe.gsi_raises[21], 2);
}
END_TEST

START_TEST(periodic_32bit_accumulator_wraps)
{
    build("");
    wr64(TCFG(0), HPET_TN_32BIT | HPET_TN_PERIODIC | HPET_TN_VAL_SET | HPET_TN_INT_ENB | ROUTE(20));
    wr64(TCMP(0), 0xffffff00ull);
    wr64(TCMP(0), 0x200);
    wr64(HPET_COUNTER, 0xfffffe00ull);
    enable();
    ticks(0x100);
    hpet_timer_run(hpet());
    ck_assert_uint_eq(fe.gsi_raises[20], 1);
    ck_assert_uint_eq(rd64(TCMP(0)), 0x100); /* 0xffffff00 + 0x200, in 32 bits */
    ticks(0x200);
    hpet_timer_run(hpet());
    ck_assert_uint_eq(fe.gsi_raises[20], 2);
    ck_assert_uint_eq(rd64(TCMP(0)), 0x300);
}
END_TEST

START_TEST(legacy_replacement_routes)
{
    build("");
    wr64(TCMP(0), 100);
    wr64(TCMP(1), 200);
    wr64(TCFG(0), HPET_TN_INT_ENB | ROUTE(20));
    wr64(TCFG(1), HPET_TN_INT_TYPE | HPET_TN_INT_ENB | ROUTE(21));
    wr64(HPET_CFG, HPET_CFG_ENABLE | HPET_CFG_LEG_RT);
    ticks(300);
    hpet_timer_run(hpet());
    ck_assert_uint_eq(fe.gsi_raises[0], 1); /* ISA IRQ 0: IOAPIC pin 2 on the x86 VMM */
    ck_assert(fe.gsi_level[8]);             /* ISA IRQ 8 */
    ck_assert_uint_eq(fe.gsi_raises[20], 0);
    ck_assert(!fe.gsi_level[21]);
    wr64(HPET_CFG, HPET_CFG_ENABLE); /* out of legacy mode: the level follows the route */
    ck_assert(!fe.gsi_level[8]);
    ck_assert(fe.gsi_level[21]);
}
END_TEST

START_TEST(route_outside_cap_is_not_taken)
{
    build("");
    wr64(TCFG(2), ROUTE(21));
    wr64(TCFG(2), ROUTE(5) | HPET_TN_INT_ENB);
    uint64_t c = rd64(TCFG(2));
    ck_assert_uint_eq((c & HPET_TN_ROUTE) >> HPET_TN_ROUTE_SHIFT, 21);
    ck_assert(c & HPET_TN_INT_ENB); /* the rest of the write applies */
    ck_assert_ptr_nonnull(strstr(fe.log, "INT_ROUTE_CNF 5 is not in INT_ROUTE_CAP"));
    /* A hostile loop: the log stays bounded (the core's rate limit). */
    for (int i = 0; i < 100000; i++)
        wr64(TCFG(2), ROUTE(i & 15));
    ck_assert_uint_lt(fe.log_len, FAKE_LOG_MAX);
    /* Route 0 (the reset value) is not in the cap: such a timer drives nothing. */
    wr64(TCMP(1), 5);
    wr64(TCFG(1), HPET_TN_INT_ENB);
    enable();
    ticks(10);
    hpet_timer_run(hpet());
    for (unsigned g = 0; g < 24; g++)
        ck_assert_uint_eq(fe.gsi_raises[g], 0);
}
END_TEST

START_TEST(read_only_bits_ignore_writes)
{
    build("");
    uint64_t cap = rd64(HPET_CAP);
    wr64(HPET_CAP, 0);
    wr64(HPET_CAP, UINT64_MAX);
    ck_assert_uint_eq(rd64(HPET_CAP), cap);
    wr64(HPET_CFG, UINT64_MAX & ~(uint64_t)HPET_CFG_ENABLE);
    ck_assert_uint_eq(rd64(HPET_CFG), HPET_CFG_LEG_RT);
    wr64(TCFG(1), ~(uint64_t)HPET_TN_ROUTE);
    uint64_t c = rd64(TCFG(1));
    ck_assert_uint_eq(c >> 32, 0x00f00000); /* INT_ROUTE_CAP */
    ck_assert(!(c & (HPET_TN_FSB_EN | HPET_TN_FSB_CAP | HPET_TN_PER_CAP | HPET_TN_PERIODIC)));
    ck_assert(c & HPET_TN_SIZE_CAP);
    ck_assert_uint_eq(c & 0xffffffffu &
                          ~(uint64_t)(HPET_TN_INT_TYPE | HPET_TN_INT_ENB | HPET_TN_VAL_SET |
                                      HPET_TN_32BIT | HPET_TN_SIZE_CAP),
                      0);
    wr64(HPET_TN(0) + HPET_TN_FSB, UINT64_MAX);
    ck_assert_uint_eq(rd64(HPET_TN(0) + HPET_TN_FSB), 0);
    wr64(0x008, UINT64_MAX);
    ck_assert_uint_eq(rd64(0x008), 0);
    wr64(0x3f8, UINT64_MAX);
    ck_assert_uint_eq(rd64(0x3f8), 0);
}
END_TEST

/* Any size at any offset reads the bytes of the registers it covers; a write changes only
 * its bytes; an access past the window is the bus's (refused, all ones). */
START_TEST(accesses_of_every_size_and_offset)
{
    build("");
    wr64(TCMP(2), 0x1122334455667788ull);
    wr64(HPET_COUNTER, 0x0102030405060708ull);
    uint8_t image[HPET_WINDOW];
    for (unsigned off = 0; off < HPET_WINDOW; off += 8) {
        uint64_t v = rd64(off);
        memcpy(image + off, &v, 8);
    }
    for (unsigned size = 1; size <= 8; size *= 2)
        for (unsigned off = 0; off + size <= HPET_WINDOW; off++) {
            uint64_t want = 0;
            memcpy(&want, image + off, size);
            ck_assert_uint_eq(rd(off, size), want);
        }
    uint64_t v = 0;
    ck_assert_int_eq(
        vdev_machine_access(fe.m, VDEV_SPACE_MEM, BASE + HPET_WINDOW - 4, 8, false, &v),
        VDEV_ACCESS_BAD_SIZE);
    ck_assert_uint_eq(v, UINT64_MAX);
    /* A straddling write: the comparator's top bytes and the FSB register's first. */
    wr(TCMP(2) + 6, 4, 0xaabbccdd);
    ck_assert_uint_eq(rd64(TCMP(2)), 0xccdd334455667788ull);
    ck_assert_uint_eq(rd64(HPET_TN(2) + HPET_TN_FSB), 0);
    /* A byte write to the status register clears that byte's bits only. */
    wr(HPET_COUNTER + 3, 1, 0xee);
    ck_assert_uint_eq(rd64(HPET_COUNTER), 0x01020304ee060708ull);
    wr(HPET_CFG + 1, 1, 0xff); /* reserved bits of a byte */
    ck_assert_uint_eq(rd64(HPET_CFG), 0);
}
END_TEST

START_TEST(reset_to_power_on)
{
    build("");
    wr64(TCMP(2), 10);
    wr64(TCFG(2), HPET_TN_INT_TYPE | HPET_TN_INT_ENB | ROUTE(22));
    enable();
    ticks(20);
    ck_assert_uint_eq(rd64(HPET_ISR), 4);
    ck_assert(fe.gsi_level[22]);
    vdev_machine_reset(fe.m);
    ck_assert(!fe.gsi_level[22]);
    ck_assert_uint_eq(rd64(HPET_ISR), 0);
    ck_assert_uint_eq(rd64(HPET_CFG), 0);
    ck_assert_uint_eq(rd64(HPET_COUNTER), 0);
    ck_assert_uint_eq(rd64(TCMP(2)), UINT64_MAX);
    ck_assert_uint_eq(rd64(TCFG(2)) & 0xffffffff, HPET_TN_SIZE_CAP);
}
END_TEST

/* ---- configuration ---- */

START_TEST(lines_are_claimed)
{
    struct vdev_err err;
    ck_assert_int_eq(try_build("ram 16M vdev hpet\nvdev ser8250 loc io:0x2f8 intr ioapic:21", &err),
                     -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "ioapic:21 is already used by hpet"));
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(try_build("ram 16M vdev ser8250 loc io:0x2f8 intr ioapic:21\nvdev hpet "
                               "lines 20-22",
                               &err),
                     -1);
    ck_assert_str_eq(err.msg, "test.conf:2:17: vdev hpet: ioapic:21 is already used by ser8250");
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    /* The legacy lines are borrowed: the RTC keeps IRQ 8. */
    ck_assert_msg(try_build("ram 16M vdev hpet\nvdev ser8250 loc io:0x2f8 intr ioapic:8", &err) ==
                      0,
                  "%s", err.msg);
}
END_TEST

START_TEST(bad_options_name_their_line)
{
    struct vdev_err err;
    ck_assert_int_eq(try_build("ram 16M\nvdev hpet loc io:0x40", &err), -1);
    ck_assert_str_eq(err.msg, "test.conf:2:15: vdev hpet: option 'loc': hpet cannot sit in I/O "
                              "space (it takes: mem:ADDR) (hint: leave 'loc' out for its "
                              "default, mem:0xfed00000)");
    const char *bad[] = {"40", "20-", "-3", "3-1", "1,,2", "x", "32"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fake_machine_free(&fe);
        fake_machine_new(&fe);
        char conf[128];
        snprintf(conf, sizeof(conf), "ram 16M\nvdev hpet lines %s", bad[i]);
        ck_assert_int_eq(try_build(conf, &err), -1);
        ck_assert_msg(strstr(err.msg, "test.conf:2:"), "%s: %s", bad[i], err.msg);
        ck_assert_msg(strstr(err.msg, "expected IOAPIC lines 0-31"), "%s: %s", bad[i], err.msg);
    }
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_eq(try_build("ram 16M\nvdev hpet lines 24", &err), -1);
    ck_assert_str_eq(err.msg, "test.conf:2:17: vdev hpet: line 24 is out of range for ioapic "
                              "(0-23)");
}
END_TEST

START_TEST(moved_with_loc)
{
    build("loc mem:0xfed10000");
    uint64_t v;
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_MEM, 0xfed10000, 4, false, &v),
                     VDEV_ACCESS_OK);
    ck_assert_uint_eq(v & 0xffff, HPET_BLOCK_ID & 0xffff);
}
END_TEST

START_TEST(dryrun_shows_it)
{
    char dir[] = "/tmp/test_hpet_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128], cmd[512];
    snprintf(path, sizeof(path), "%s/guest.conf", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("ram 64M\nvdev hpet\n", f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "cd %s && VDEVKIT_MODULE_PATH=%s %s run @guest.conf dryrun 2>&1",
             dir, BUILD_MODULE_DIR, VDEVKIT_EXE);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    static char out[16384];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_msg(strstr(out, "0x00000000fed00000-0x00000000fed003ff  device    1 KiB      hpet"),
                  "%s", out);
    ck_assert_msg(strstr(out, "ioapic:20  hpet"), "%s", out);
    ck_assert_msg(strstr(out, "lines      20-23  (default)"), "%s", out);
    ck_assert_msg(strstr(out, "status: counter 0x0000000000000000 (halted)"), "%s", out);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* ---- ACPI ---- */

static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static const char *tmpdir(void)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/test_hpet_XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
    }
    return dir;
}

#define AREA 0x10000
#define GPA  0x80000ull

/* The tables of the VMM's builder for the built machine; returns table `sig` (the nth) */
static const uint8_t *table_of(uint8_t *area, const char *sig, unsigned nth)
{
    struct x86_acpi_config cfg;
    x86_acpi_config_init(&cfg, 1);
    cfg.ioapic_id = 1;
    uint64_t rsdp;
    size_t used;
    struct vdev_err err;
    ck_assert_msg(x86_acpi_build(fe.m, &cfg, area, GPA, AREA, &rsdp, &used, &err) == 0, "%s",
                  err.msg);
    const uint8_t *xsdt = area + (le(area + (rsdp - GPA) + 24, 8) - GPA);
    uint32_t xlen = (uint32_t)le(xsdt + 4, 4);
    for (uint32_t off = 36; off + 8 <= xlen; off += 8) {
        const uint8_t *t = area + (le(xsdt + off, 8) - GPA);
        if (memcmp(t, sig, 4) || nth--)
            continue;
        uint8_t sum = 0;
        for (uint32_t i = 0; i < le(t + 4, 4); i++)
            sum = (uint8_t)(sum + t[i]);
        ck_assert_uint_eq(sum, 0);
        return t;
    }
    return NULL;
}

START_TEST(acpi_hpet_table)
{
    build("");
    uint8_t *area = calloc(1, AREA);
    const uint8_t *t = table_of(area, "HPET", 0);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(le(t + 4, 4), 56);
    ck_assert_uint_eq(t[8], 1);                        /* revision */
    ck_assert_uint_eq(le(t + 36, 4), rd(HPET_CAP, 4)); /* Event Timer Block ID */
    ck_assert_uint_eq(t[40], 0);                       /* GAS: system memory */
    ck_assert_uint_eq(le(t + 44, 8), BASE);
    ck_assert_uint_eq(t[52], 0); /* HPET number */
    ck_assert_uint_eq(le(t + 53, 2), 10000);
    ck_assert_uint_eq(t[55], 0);
    const char *asl = asl_disassemble(tmpdir(), "hpet", t, 56);
    asl_must_contain(asl, "Hardware Block ID : 8086A201");
    asl_must_contain(asl, "Address : 00000000FED00000");
    ck_assert_ptr_null(table_of(area, "HPET", 1));
    free(area);
}
END_TEST

START_TEST(acpi_two_hpets)
{
    build("vdev hpet loc mem:0xfed01000 lines 5");
    uint8_t *area = calloc(1, AREA);
    const uint8_t *t = table_of(area, "HPET", 1);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(le(t + 44, 8), 0xfed01000);
    ck_assert_uint_eq(t[52], 1);
    ck_assert_ptr_nonnull(table_of(area, "FACP", 0)); /* the platform's still there */
    ck_assert_ptr_nonnull(table_of(area, "APIC", 0));
    free(area);
}
END_TEST

START_TEST(acpi_dsdt_node)
{
    build("");
    uint8_t *area = calloc(1, AREA);
    const uint8_t *fadt = table_of(area, "FACP", 0);
    const uint8_t *dsdt = area + (le(fadt + 140, 8) - GPA);
    const char *asl = asl_disassemble(tmpdir(), "dsdt", dsdt, le(dsdt + 4, 4));
    asl_must_contain(asl, "Device (HPET)");
    asl_must_contain(asl, "Name (_HID, EisaId (\"PNP0103\")");
    asl_must_contain(asl, "Memory32Fixed (ReadWrite, 0xFED00000, // Address Base 0x00000400, "
                          "// Address Length");
    free(area);
}
END_TEST

static Suite *hpet_suite(void)
{
    Suite *s = suite_create("hpet");
    TCase *tc = tcase_create("hpet");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, capabilities);
    tcase_add_test(tc, qvm_options);
    tcase_add_test(tc, lines_option_sets_route_cap);
    tcase_add_test(tc, counter_halted_and_running);
    tcase_add_test(tc, counter_on_the_host_clock);
    tcase_add_test(tc, one_shot_edge);
    tcase_add_test(tc, level_status_and_w1c);
    tcase_add_test(tc, level_without_int_enb_sets_status_only);
    tcase_add_test(tc, two_level_timers_share_a_line);
    tcase_add_test(tc, periodic_with_val_set);
    tcase_add_test(tc, periodic_only_on_timer_0);
    tcase_add_test(tc, thirty_two_bit_mode_wraps);
    tcase_add_test(tc, periodic_32bit_accumulator_wraps);
    tcase_add_test(tc, legacy_replacement_routes);
    tcase_add_test(tc, route_outside_cap_is_not_taken);
    tcase_add_test(tc, read_only_bits_ignore_writes);
    tcase_add_test(tc, accesses_of_every_size_and_offset);
    tcase_add_test(tc, reset_to_power_on);
    tcase_add_test(tc, lines_are_claimed);
    tcase_add_test(tc, bad_options_name_their_line);
    tcase_add_test(tc, moved_with_loc);
    tcase_add_test(tc, dryrun_shows_it);
    tcase_add_test(tc, acpi_hpet_table);
    tcase_add_test(tc, acpi_two_hpets);
    tcase_add_test(tc, acpi_dsdt_node);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hpet_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
