/* mc146818: the CMOS RTC driven through ports 0x70/0x71 as a guest would, on the host clock
 * or on a fake clock set through the module's test seam (vdevs/mc146818/mc146818.h). */
#include <check.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../vdevs/mc146818/mc146818.h"
#include "asl_check.h"
#include "fake_embedder.h"
#include <vdev/fdt.h>

extern const struct vdev_type vdev_module_mc146818;

#define PORT 0x70
#define GSI  8
#define NS   1000000000LL

static struct fake_embedder fe;
static struct timespec fake_now;

static void fake_clock(void *opaque, struct timespec *now)
{
    *now = fake_now;
}

static void advance_ns(int64_t ns)
{
    int64_t t = fake_now.tv_nsec + ns;
    fake_now.tv_sec += t / NS;
    fake_now.tv_nsec = t % NS;
}

static void setup(void)
{
    static bool registered;
    struct vdev_err err;
    if (!registered) {
        ck_assert_msg(vdev_register_type(&vdev_module_mc146818, &err) == 0, "%s", err.msg);
        registered = true;
    }
    fake_machine_new(&fe);
}

static void teardown(void)
{
    if (fe.m)
        fake_machine_free(&fe);
}

static struct vdev *rtc(void)
{
    return vdev_machine_device(fe.m, 0);
}

static void build(const char *extra)
{
    char conf[512];
    struct vdev_err err;
    snprintf(conf, sizeof(conf), "ram 16M vdev mc146818 %s", extra);
    int rc = fake_machine_build_string(&fe, conf, &err);
    ck_assert_msg(rc == 0, "build failed: %s", err.msg);
}

/* Builds and switches to the fake clock, at `t` + nsec (UTC seconds). */
static void build_fake(const char *extra, time_t t, long nsec)
{
    build(extra);
    fake_now.tv_sec = t;
    fake_now.tv_nsec = nsec;
    mc146818_set_clock(rtc(), fake_clock, NULL);
}

static uint8_t port_rd(unsigned port)
{
    uint64_t v = 0;
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_IO, port, 1, false, &v), VDEV_ACCESS_OK);
    ck_assert_uint_le(v, 0xff);
    return (uint8_t)v;
}

static void port_wr(unsigned port, uint8_t val)
{
    uint64_t v = val;
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_IO, port, 1, true, &v), VDEV_ACCESS_OK);
}

static uint8_t rd(unsigned reg)
{
    port_wr(PORT, (uint8_t)reg);
    return port_rd(PORT + 1);
}

static void wr(unsigned reg, uint8_t v)
{
    port_wr(PORT, (uint8_t)reg);
    port_wr(PORT + 1, v);
}

/* Register C without PF, which the default 1024 Hz rate sets whatever PIE says. */
static uint8_t rdc(void)
{
    return rd(RTC_REG_C) & (uint8_t)~RTC_C_PF;
}

static unsigned bcd(uint8_t v)
{
    return (v >> 4) * 10u + (v & 15);
}

/* 2026-12-07 13:45:59 UTC, a Monday. */
static time_t test_time(void)
{
    struct tm tm = {
        .tm_year = 126, .tm_mon = 11, .tm_mday = 7, .tm_hour = 13, .tm_min = 45, .tm_sec = 59};
    return timegm(&tm);
}

/* Reads the clock as Linux's mc146818_get_time does: wait for UIP to clear, read, and retry
 * when an update came in between (UIP seen again or the seconds moved). BCD, 24-hour. */
static time_t read_clock_linux(void)
{
    for (int tries = 0; tries < 100; tries++) {
        for (int spin = 0; spin < 100000 && (rd(RTC_REG_A) & RTC_A_UIP); spin++)
            ;
        uint8_t sec = rd(RTC_SECONDS);
        struct tm tm = {.tm_sec = (int)bcd(sec),
                        .tm_min = (int)bcd(rd(RTC_MINUTES)),
                        .tm_hour = (int)bcd(rd(RTC_HOURS)),
                        .tm_mday = (int)bcd(rd(RTC_DAY_OF_MONTH)),
                        .tm_mon = (int)bcd(rd(RTC_MONTH)) - 1,
                        .tm_year = (int)(bcd(rd(RTC_CENTURY)) * 100 + bcd(rd(RTC_YEAR))) - 1900};
        if ((rd(RTC_REG_A) & RTC_A_UIP) || rd(RTC_SECONDS) != sec)
            continue;
        return timegm(&tm);
    }
    ck_abort_msg("the clock never settled");
    return 0;
}

/* ---- time ---- */

START_TEST(time_is_the_host_time)
{
    build("");
    for (int i = 0; i < 3; i++) {
        time_t before = time(NULL);
        time_t t = read_clock_linux();
        time_t after = time(NULL);
        ck_assert_msg(t >= before && t <= after, "rtc %lld, host %lld-%lld", (long long)t,
                      (long long)before, (long long)after);
    }
    ck_assert_uint_eq(rd(RTC_REG_D), RTC_D_VRT);
    ck_assert_uint_eq(rd(RTC_REG_A), 0x26);
    ck_assert_uint_eq(rd(RTC_REG_B), RTC_B_24H);
}
END_TEST

START_TEST(localtime_base_adds_the_zone_offset)
{
    setenv("TZ", "UTC-3", 1); /* POSIX: three hours east of UTC */
    tzset();
    build_fake("base localtime", test_time(), 0);
    ck_assert_uint_eq(rd(RTC_HOURS), 0x16);
    unsetenv("TZ");
    tzset();
}
END_TEST

START_TEST(bcd_and_binary)
{
    build_fake("", test_time(), 0);
    ck_assert_uint_eq(rd(RTC_SECONDS), 0x59);
    ck_assert_uint_eq(rd(RTC_MINUTES), 0x45);
    ck_assert_uint_eq(rd(RTC_HOURS), 0x13);
    ck_assert_uint_eq(rd(RTC_DAY_OF_WEEK), 0x02); /* Sunday = 1 */
    ck_assert_uint_eq(rd(RTC_DAY_OF_MONTH), 0x07);
    ck_assert_uint_eq(rd(RTC_MONTH), 0x12);
    ck_assert_uint_eq(rd(RTC_YEAR), 0x26);
    ck_assert_uint_eq(rd(RTC_CENTURY), 0x20);

    wr(RTC_REG_B, RTC_B_24H | RTC_B_DM);
    ck_assert_uint_eq(rd(RTC_SECONDS), 59);
    ck_assert_uint_eq(rd(RTC_MINUTES), 45);
    ck_assert_uint_eq(rd(RTC_HOURS), 13);
    ck_assert_uint_eq(rd(RTC_DAY_OF_MONTH), 7);
    ck_assert_uint_eq(rd(RTC_MONTH), 12);
    ck_assert_uint_eq(rd(RTC_YEAR), 26);
    ck_assert_uint_eq(rd(RTC_CENTURY), 20);

    advance_ns(NS); /* 13:46:00 */
    ck_assert_uint_eq(rd(RTC_SECONDS), 0);
    ck_assert_uint_eq(rd(RTC_MINUTES), 46);
}
END_TEST

START_TEST(twelve_hour_mode)
{
    time_t midnight = test_time() - (13 * 3600 + 45 * 60 + 59);
    build_fake("", midnight + 13 * 3600, 0);
    wr(RTC_REG_B, 0);                       /* BCD, 12-hour */
    ck_assert_uint_eq(rd(RTC_HOURS), 0x81); /* 1 PM */
    fake_now.tv_sec = midnight;
    ck_assert_uint_eq(rd(RTC_HOURS), 0x12); /* 12 AM */
    fake_now.tv_sec = midnight + 12 * 3600;
    ck_assert_uint_eq(rd(RTC_HOURS), 0x92); /* 12 PM */
    fake_now.tv_sec = midnight + 23 * 3600;
    ck_assert_uint_eq(rd(RTC_HOURS), 0x91); /* 11 PM */
    wr(RTC_REG_B, RTC_B_DM);                /* binary, 12-hour */
    ck_assert_uint_eq(rd(RTC_HOURS), 0x80 | 11);
    fake_now.tv_sec = midnight;
    ck_assert_uint_eq(rd(RTC_HOURS), 12);

    /* Setting 3 PM in 12-hour BCD reads back as 15 in 24-hour mode. */
    wr(RTC_REG_B, RTC_B_SET);
    wr(RTC_HOURS, 0x83);
    wr(RTC_REG_B, 0);
    wr(RTC_REG_B, RTC_B_24H);
    ck_assert_uint_eq(rd(RTC_HOURS), 0x15);
}
END_TEST

/* Linux's mc146818_set_time: SET (and the divider in reset), the fields, then both back. */
START_TEST(set_time_then_it_runs)
{
    build_fake("", test_time(), 250000000);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_SET);
    wr(RTC_REG_A, 0x26 | 0x70);
    wr(RTC_SECONDS, 0x00);
    wr(RTC_MINUTES, 0x30);
    wr(RTC_HOURS, 0x08);
    wr(RTC_DAY_OF_MONTH, 0x15);
    wr(RTC_MONTH, 0x06);
    wr(RTC_YEAR, 0x30);
    wr(RTC_CENTURY, 0x20);
    advance_ns(5 * NS); /* stopped: reads return what is being set */
    ck_assert_uint_eq(rd(RTC_SECONDS), 0x00);
    ck_assert_uint_eq(rd(RTC_MINUTES), 0x30);
    ck_assert_uint_eq(rd(RTC_REG_A) & RTC_A_UIP, 0);
    wr(RTC_REG_B, RTC_B_24H);
    wr(RTC_REG_A, 0x26); /* divider out of reset: the first update 500 ms later */
    advance_ns(NS / 2 - 1000);
    ck_assert_uint_eq(rd(RTC_SECONDS), 0x00);
    advance_ns(2000);
    ck_assert_uint_eq(rd(RTC_SECONDS), 0x01);
    advance_ns(61 * NS);
    ck_assert_uint_eq(rd(RTC_SECONDS), 0x02);
    ck_assert_uint_eq(rd(RTC_MINUTES), 0x31);
    ck_assert_uint_eq(rd(RTC_HOURS), 0x08);
    ck_assert_uint_eq(rd(RTC_DAY_OF_MONTH), 0x15);
    ck_assert_uint_eq(rd(RTC_MONTH), 0x06);
    ck_assert_uint_eq(rd(RTC_YEAR), 0x30);
    ck_assert_uint_eq(rd(RTC_CENTURY), 0x20);
    ck_assert_uint_eq(rd(RTC_DAY_OF_WEEK), 0x07); /* 2030-06-15 is a Saturday */
}
END_TEST

START_TEST(set_time_keeps_the_phase_and_the_weekday)
{
    build_fake("", test_time(), 600000000);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_SET | RTC_B_UIE);
    ck_assert_uint_eq(rd(RTC_REG_B), RTC_B_24H | RTC_B_SET); /* SET clears UIE */
    wr(RTC_SECONDS, 0x10);
    wr(RTC_DAY_OF_WEEK, 0x05);
    wr(RTC_REG_B, RTC_B_24H);
    advance_ns(399000000); /* .999: not yet */
    ck_assert_uint_eq(rd(RTC_SECONDS), 0x10);
    advance_ns(1000000);
    ck_assert_uint_eq(rd(RTC_SECONDS), 0x11);
    ck_assert_uint_eq(rd(RTC_DAY_OF_WEEK), 0x05); /* the guest's weekday stays */

    /* A time byte written while the clock runs applies at once. */
    wr(RTC_MINUTES, 0x01);
    ck_assert_uint_eq(rd(RTC_MINUTES), 0x01);
    ck_assert_uint_eq(rd(RTC_SECONDS), 0x11);
}
END_TEST

START_TEST(garbage_time_is_survivable)
{
    build_fake("", test_time(), 0);
    wr(RTC_REG_B, RTC_B_SET);
    for (unsigned r = 0; r <= 9; r++)
        wr(r, 0xff);
    wr(RTC_CENTURY, 0xff);
    wr(RTC_REG_B, RTC_B_24H);
    ck_assert_uint_eq(rd(RTC_CENTURY), 0x99); /* clamped to 9999-12-31 23:59:59 */
    ck_assert_uint_eq(rd(RTC_YEAR), 0x99);
    for (int step = 0; step < 3; step++) {
        ck_assert_uint_le(bcd(rd(RTC_SECONDS)), 59);
        ck_assert_uint_le(bcd(rd(RTC_MINUTES)), 59);
        ck_assert_uint_le(bcd(rd(RTC_HOURS)), 23);
        unsigned mon = bcd(rd(RTC_MONTH));
        ck_assert(mon >= 1 && mon <= 12);
        advance_ns(NS);
    }
    ck_assert_uint_eq(rd(RTC_CENTURY), 0x00); /* and on: four digits wrap */
}
END_TEST

START_TEST(uip_before_each_second)
{
    build_fake("", test_time(), 999755000);
    ck_assert_uint_eq(rd(RTC_REG_A), 0x26);
    advance_ns(2000); /* .999757: within 244 us of the update */
    ck_assert_uint_eq(rd(RTC_REG_A), 0x26 | RTC_A_UIP);
    ck_assert_uint_eq(rd(RTC_SECONDS), 0x59);
    advance_ns(243000); /* the next second */
    ck_assert_uint_eq(rd(RTC_REG_A), 0x26);
    ck_assert_uint_eq(rd(RTC_SECONDS), 0x00);
    advance_ns(999800000);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_SET);
    ck_assert_uint_eq(rd(RTC_REG_A), 0x26); /* stopped: no updates */
}
END_TEST

/* ---- registers ---- */

START_TEST(index_is_masked_and_ram_holds)
{
    build("");
    port_wr(PORT, 0x8e); /* NMI-mask bit set: still register 0x0e */
    port_wr(PORT + 1, 0x5a);
    ck_assert_uint_eq(rd(0x0e), 0x5a);
    port_wr(PORT, 0xff);
    port_wr(PORT + 1, 0xa5);
    ck_assert_uint_eq(rd(0x7f), 0xa5);
    ck_assert_uint_eq(port_rd(PORT), 0xff);
    for (unsigned r = 0x0e; r < 0x80; r++)
        if (r != RTC_CENTURY)
            wr(r, (uint8_t)(r ^ 0x3c));
    for (unsigned r = 0x0e; r < 0x80; r++)
        if (r != RTC_CENTURY)
            ck_assert_uint_eq(rd(r), r ^ 0x3c);
    for (unsigned r = RTC_SECONDS_ALARM; r <= RTC_HOURS_ALARM; r += 2) {
        wr(r, 0xc7);
        ck_assert_uint_eq(rd(r), 0xc7);
    }
}
END_TEST

START_TEST(read_only_bits)
{
    build_fake("", test_time(), 0);
    wr(RTC_REG_D, 0x00);
    ck_assert_uint_eq(rd(RTC_REG_D), RTC_D_VRT);
    wr(RTC_REG_C, 0xff);
    ck_assert_uint_eq(rd(RTC_REG_C), 0x00);
    wr(RTC_REG_A, 0xa3); /* UIP is read-only */
    ck_assert_uint_eq(rd(RTC_REG_A), 0x23);
    wr(RTC_REG_B, 0x7f);
    ck_assert_uint_eq(rd(RTC_REG_B), 0x7f);
}
END_TEST

START_TEST(reg_option_presets_cmos)
{
    build("reg 0x0e,0x55 reg 0x0b,0x06 reg 0x01,0xc0 reg 0x0a,0x2f");
    ck_assert_uint_eq(rd(0x0e), 0x55);
    ck_assert_uint_eq(rd(RTC_REG_B), 0x06);
    ck_assert_uint_eq(rd(RTC_SECONDS_ALARM), 0xc0);
    ck_assert_uint_eq(rd(RTC_REG_A) & 0x7f, 0x2f);
    ck_assert_uint_le(rd(RTC_SECONDS), 59); /* binary, as register B says */
}
END_TEST

static void build_fails(const char *conf, const char *want)
{
    struct vdev_err err;
    ck_assert_int_ne(fake_machine_build_string(&fe, conf, &err), 0);
    ck_assert_msg(strstr(err.msg, want), "error '%s' lacks '%s'", err.msg, want);
}

START_TEST(bad_options_name_their_line)
{
    build_fails("ram 16M\nvdev mc146818 reg 0x80,1", "test.conf:2:");
}
END_TEST

START_TEST(bad_reg_values)
{
    build_fails("ram 16M vdev mc146818 reg 0x0e", "expected OFFSET,VALUE");
}
END_TEST

START_TEST(reg_refuses_the_time)
{
    build_fails("ram 16M vdev mc146818 reg 0x00,1", "the time comes from the host clock");
}
END_TEST

START_TEST(reg_refuses_c_and_d)
{
    build_fails("ram 16M vdev mc146818 reg 0x0d,0", "read-only");
}
END_TEST

START_TEST(unknown_option)
{
    build_fails("ram 16M\n\nvdev mc146818 utc", "test.conf:3:");
}
END_TEST

START_TEST(only_byte_accesses)
{
    build("");
    uint64_t v = 0;
    vdev_machine_access(fe.m, VDEV_SPACE_IO, PORT, 2, false, &v); /* must not crash */
    ck_assert_uint_eq(rd(RTC_REG_D), RTC_D_VRT);
}
END_TEST

/* ---- interrupts ---- */

START_TEST(update_interrupt_and_read_to_clear)
{
    build_fake("", test_time(), 500000000);
    rd(RTC_REG_C);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_UIE);
    mc146818_timer_run(rtc());
    ck_assert(!fe.gsi_level[GSI]);
    advance_ns(NS / 2);
    mc146818_timer_run(rtc());
    ck_assert(fe.gsi_level[GSI]);
    ck_assert_uint_eq(fe.gsi_raises[GSI], 1);
    ck_assert_uint_eq(rdc(), RTC_C_IRQF | RTC_C_UF);
    ck_assert(!fe.gsi_level[GSI]);
    ck_assert_uint_eq(rdc(), 0);
    /* Flags set while disabled raise the line as soon as their enable is written. */
    wr(RTC_REG_B, RTC_B_24H);
    advance_ns(NS);
    mc146818_timer_run(rtc());
    ck_assert(!fe.gsi_level[GSI]);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_UIE);
    ck_assert(fe.gsi_level[GSI]);
    ck_assert_uint_eq(rdc(), RTC_C_IRQF | RTC_C_UF);
}
END_TEST

START_TEST(alarm_fires_at_its_second)
{
    build_fake("", test_time(), 0); /* 13:45:59 */
    wr(RTC_SECONDS_ALARM, 0x01);
    wr(RTC_MINUTES_ALARM, 0x46);
    wr(RTC_HOURS_ALARM, 0x13);
    rd(RTC_REG_C);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_AIE);
    advance_ns(NS); /* 13:46:00 */
    mc146818_timer_run(rtc());
    ck_assert(!fe.gsi_level[GSI]);
    ck_assert_uint_eq(rdc(), RTC_C_UF);
    advance_ns(NS); /* 13:46:01 */
    mc146818_timer_run(rtc());
    ck_assert(fe.gsi_level[GSI]);
    ck_assert_uint_eq(rdc(), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
    ck_assert(!fe.gsi_level[GSI]);
    advance_ns(NS);
    mc146818_timer_run(rtc());
    ck_assert(!fe.gsi_level[GSI]);
    /* A day later, without looking in between: the flag is there. */
    advance_ns(86400 * NS);
    ck_assert_uint_eq(rdc(), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
}
END_TEST

START_TEST(alarm_dont_care_and_twelve_hour)
{
    build_fake("", test_time(), 0); /* 13:45:59 */
    wr(RTC_REG_B, RTC_B_DM);        /* binary, 12-hour */
    wr(RTC_SECONDS_ALARM, 30);
    wr(RTC_MINUTES_ALARM, 0xff); /* any minute */
    wr(RTC_HOURS_ALARM, 0x81);   /* 1 PM */
    rd(RTC_REG_C);
    wr(RTC_REG_B, RTC_B_DM | RTC_B_AIE);
    advance_ns(30 * NS); /* 13:46:29 */
    mc146818_timer_run(rtc());
    ck_assert(!fe.gsi_level[GSI]);
    advance_ns(NS);
    mc146818_timer_run(rtc());
    ck_assert(fe.gsi_level[GSI]);
    ck_assert_uint_eq(rd(RTC_REG_C) & RTC_C_AF, RTC_C_AF);
    advance_ns(60 * NS); /* 13:47:30 */
    mc146818_timer_run(rtc());
    ck_assert(fe.gsi_level[GSI]);
}
END_TEST

/* The real path: the timerfd on the core's event loop raises the line at the alarm. */
START_TEST(alarm_on_the_host_clock)
{
    build("");
    wr(RTC_REG_B, RTC_B_24H | RTC_B_SET); /* 00:00:00, then run: the alarm 2 s on */
    wr(RTC_SECONDS, 0x00);
    wr(RTC_MINUTES, 0x00);
    wr(RTC_HOURS, 0x00);
    wr(RTC_REG_B, RTC_B_24H);
    wr(RTC_SECONDS_ALARM, 0x02);
    wr(RTC_MINUTES_ALARM, 0x00);
    wr(RTC_HOURS_ALARM, 0x00);
    rd(RTC_REG_C);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_AIE);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 400 && !fe.gsi_level[GSI]; i++)
        vdev_machine_poll(fe.m, 10);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert(fe.gsi_level[GSI]);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(waited > 1.0 && waited < 3.9, "waited %.3f s",
                  waited); /* load: late, never early */
    ck_assert_uint_eq(rd(RTC_SECONDS), 0x02);
    ck_assert_uint_eq(rd(RTC_REG_C) & (RTC_C_IRQF | RTC_C_AF), RTC_C_IRQF | RTC_C_AF);
}
END_TEST

/* Polls the event loop for `ms`, acknowledging each interrupt as a guest does; returns how
 * many it saw. */
static unsigned count_interrupts(int ms, uint8_t want_flag)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned n = 0;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= ms)
            return n;
        vdev_machine_poll(fe.m, 2);
        if (fe.gsi_level[GSI]) {
            n++;
            ck_assert_uint_eq(rd(RTC_REG_C) & want_flag, want_flag);
        }
    }
}

START_TEST(periodic_interrupt_rate)
{
    build("");
    wr(RTC_REG_A, 0x20 | 10); /* 64 Hz */
    rd(RTC_REG_C);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_PIE);
    unsigned n = count_interrupts(250, RTC_C_PF);
    /* 16 expected; a loaded host may deliver some late, never more than the rate allows. */
    ck_assert_msg(n >= 8 && n <= 17, "%u periodic interrupts in 250 ms at 64 Hz", n);
    wr(RTC_REG_B, RTC_B_24H);
    rd(RTC_REG_C);
    n = count_interrupts(100, RTC_C_PF);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(fastest_periodic_rate_is_coalesced)
{
    build("");
    wr(RTC_REG_A, 0x20 | 3); /* 8192 Hz */
    rd(RTC_REG_C);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_PIE);
    unsigned n = count_interrupts(200, RTC_C_PF);
    ck_assert_msg(n >= 20 && n <= 260, "%u interrupts in 200 ms: not coalesced to 1 kHz", n);
}
END_TEST

START_TEST(periodic_flag_on_the_fake_clock)
{
    build_fake("", test_time(), 0);
    wr(RTC_REG_A, 0x20 | 15); /* 2 Hz */
    rd(RTC_REG_C);
    advance_ns(NS / 2 + 1);
    ck_assert_uint_eq(rd(RTC_REG_C) & RTC_C_PF, RTC_C_PF); /* set even without PIE */
    ck_assert(!fe.gsi_level[GSI]);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_PIE);
    advance_ns(NS / 2);
    mc146818_timer_run(rtc());
    ck_assert(fe.gsi_level[GSI]);
    wr(RTC_REG_A, 0x60 | 15); /* divider reset: no periodic flag */
    rd(RTC_REG_C);
    advance_ns(2 * NS);
    ck_assert_uint_eq(rd(RTC_REG_C), 0);
}
END_TEST

START_TEST(reset_disables_interrupts)
{
    build_fake("", test_time(), 500000000);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_UIE | RTC_B_PIE | RTC_B_AIE | RTC_B_SQWE);
    advance_ns(NS);
    mc146818_timer_run(rtc());
    ck_assert(fe.gsi_level[GSI]);
    wr(0x20, 0x77);
    vdev_machine_reset(fe.m);
    ck_assert(!fe.gsi_level[GSI]);
    ck_assert_uint_eq(rd(RTC_REG_B), RTC_B_24H);
    ck_assert_uint_eq(rd(RTC_REG_C), 0);
    ck_assert_uint_eq(rd(0x20), 0x77); /* battery-backed */
}
END_TEST

START_TEST(other_interrupt_line)
{
    build_fake("intr ioapic:5", test_time(), 500000000);
    wr(RTC_REG_B, RTC_B_24H | RTC_B_UIE);
    advance_ns(NS);
    mc146818_timer_run(rtc());
    ck_assert(fe.gsi_level[5]);
    ck_assert(!fe.gsi_level[GSI]);
}
END_TEST

/* ---- ACPI ---- */

static const char *dsdt_of_machine(void)
{
    struct vdev_aml *a = vdev_aml_new();
    struct vdev_err err;
    ck_assert_msg(vdev_machine_gen_acpi(fe.m, a, &err) == 0, "%s", err.msg);
    size_t len;
    const uint8_t *aml = vdev_aml_data(a, &len);
    ck_assert_ptr_nonnull(aml);
    static uint8_t table[4096];
    ck_assert_uint_le(36 + len, sizeof(table));
    memset(table, 0, 36);
    memcpy(table, "DSDT", 4);
    uint32_t total = (uint32_t)(36 + len);
    memcpy(table + 4, &total, 4);
    table[8] = 2;
    memcpy(table + 10, "VDEVKT", 6);
    memcpy(table + 16, "VDEVKIT ", 8);
    memcpy(table + 36, aml, len);
    uint8_t sum = 0;
    for (uint32_t i = 0; i < total; i++)
        sum = (uint8_t)(sum + table[i]);
    table[9] = (uint8_t)-sum;
    vdev_aml_free(a);
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/test_mc146818_XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
    }
    return asl_disassemble(dir, "dsdt", table, total);
}

START_TEST(acpi_node)
{
    build("");
    const char *dsl = dsdt_of_machine();
    asl_must_contain(dsl, "Device (RTC)");
    asl_must_contain(dsl, "Name (_HID, EisaId (\"PNP0B00\")");
    asl_must_contain(dsl, "IO (Decode16, 0x0070, // Range Minimum 0x0070, // Range Maximum "
                          "0x01, // Alignment 0x02, // Length");
    asl_must_contain(dsl, "IRQNoFlags () {8}");
}
END_TEST

START_TEST(acpi_node_other_line)
{
    build("intr ioapic:20");
    const char *dsl = dsdt_of_machine();
    asl_must_contain(dsl, "Device (RTC)");
    asl_must_contain(dsl, "Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive, ,, )");
}
END_TEST

START_TEST(fdt_node)
{
    build("");
    static const uint64_t ioapic_reg[2] = {0xfec00000, 0x1000};
    struct vdev_fdt_platform p = {.compatible = "vdevkit,x86",
                                  .model = "test",
                                  .intc = {.name = "interrupt-controller@fec00000",
                                           .compatible = "intel,ce4100-ioapic",
                                           .reg = ioapic_reg,
                                           .nreg = 1,
                                           .interrupt_cells = 2}};
    static uint8_t buf[65536];
    struct vdev_err err;
    ck_assert_msg(vdev_machine_gen_fdt(fe.m, &p, buf, sizeof(buf), &err) == 0, "%s", err.msg);
    int node = fdt_path_offset(buf, "/rtc@70");
    ck_assert_int_ge(node, 0);
    ck_assert_str_eq(fdt_getprop(buf, node, "compatible", NULL), "motorola,mc146818");
    int len;
    const fdt32_t *reg = fdt_getprop(buf, node, "reg", &len);
    ck_assert_int_eq(len, 16);
    ck_assert_uint_eq(fdt32_to_cpu(reg[1]), 0x70);
    ck_assert_uint_eq(fdt32_to_cpu(reg[3]), 2);
    const fdt32_t *irq = fdt_getprop(buf, node, "interrupts", &len);
    ck_assert_int_eq(len, 8);
    ck_assert_uint_eq(fdt32_to_cpu(irq[0]), GSI);
    ck_assert_uint_eq(fdt32_to_cpu(irq[1]), VDEV_FDT_IRQ_EDGE_RISING);
}
END_TEST

START_TEST(status_line)
{
    build_fake("", test_time(), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    vdev_machine_print(fe.m, f);
    fclose(f);
    ck_assert_msg(strstr(buf, "2026-12-07 13:45:59; A 0x26 B 0x02 C 0x00"), "%s", buf);
    free(buf);
}
END_TEST

static Suite *mc146818_suite(void)
{
    Suite *s = suite_create("mc146818");
    TCase *tc = tcase_create("rtc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, time_is_the_host_time);
    tcase_add_test(tc, localtime_base_adds_the_zone_offset);
    tcase_add_test(tc, bcd_and_binary);
    tcase_add_test(tc, twelve_hour_mode);
    tcase_add_test(tc, set_time_then_it_runs);
    tcase_add_test(tc, set_time_keeps_the_phase_and_the_weekday);
    tcase_add_test(tc, garbage_time_is_survivable);
    tcase_add_test(tc, uip_before_each_second);
    tcase_add_test(tc, index_is_masked_and_ram_holds);
    tcase_add_test(tc, read_only_bits);
    tcase_add_test(tc, reg_option_presets_cmos);
    tcase_add_test(tc, bad_options_name_their_line);
    tcase_add_test(tc, bad_reg_values);
    tcase_add_test(tc, reg_refuses_the_time);
    tcase_add_test(tc, reg_refuses_c_and_d);
    tcase_add_test(tc, unknown_option);
    tcase_add_test(tc, only_byte_accesses);
    tcase_add_test(tc, update_interrupt_and_read_to_clear);
    tcase_add_test(tc, alarm_fires_at_its_second);
    tcase_add_test(tc, alarm_dont_care_and_twelve_hour);
    tcase_add_test(tc, alarm_on_the_host_clock);
    tcase_add_test(tc, periodic_interrupt_rate);
    tcase_add_test(tc, fastest_periodic_rate_is_coalesced);
    tcase_add_test(tc, periodic_flag_on_the_fake_clock);
    tcase_add_test(tc, reset_disables_interrupts);
    tcase_add_test(tc, other_interrupt_line);
    tcase_add_test(tc, acpi_node);
    tcase_add_test(tc, acpi_node_other_line);
    tcase_add_test(tc, fdt_node);
    tcase_add_test(tc, status_line);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mc146818_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
