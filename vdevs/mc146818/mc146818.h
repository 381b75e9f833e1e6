/* mc146818 internals shared by the device, its time arithmetic and the tests (not part of the
 * public module API: nothing outside vdevs/mc146818 and tests/ includes this). */
#ifndef VDEV_MC146818_H
#define VDEV_MC146818_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct vdev;

/* ---- Register map ---- */
#define RTC_SECONDS       0x00
#define RTC_SECONDS_ALARM 0x01
#define RTC_MINUTES       0x02
#define RTC_MINUTES_ALARM 0x03
#define RTC_HOURS         0x04
#define RTC_HOURS_ALARM   0x05
#define RTC_DAY_OF_WEEK   0x06
#define RTC_DAY_OF_MONTH  0x07
#define RTC_MONTH         0x08
#define RTC_YEAR          0x09
#define RTC_REG_A         0x0a
#define RTC_REG_B         0x0b
#define RTC_REG_C         0x0c
#define RTC_REG_D         0x0d
#define RTC_CENTURY       0x32 /* the FADT's CENTURY field names it */
#define RTC_CMOS_SIZE     128

#define RTC_A_UIP      0x80
#define RTC_A_DV       0x70 /* divider select */
#define RTC_A_DV_RESET 0x60 /* DV = 11x: divider chain held in reset */
#define RTC_A_RS       0x0f /* periodic rate select */

#define RTC_B_SET  0x80
#define RTC_B_PIE  0x40
#define RTC_B_AIE  0x20
#define RTC_B_UIE  0x10
#define RTC_B_SQWE 0x08
#define RTC_B_DM   0x04 /* 1 = binary, 0 = BCD */
#define RTC_B_24H  0x02
#define RTC_B_DSE  0x01

#define RTC_C_IRQF 0x80
#define RTC_C_PF   0x40
#define RTC_C_AF   0x20
#define RTC_C_UF   0x10

#define RTC_D_VRT 0x80

#define RTC_ALARM_DONT_CARE 0xc0 /* an alarm byte >= this matches every value */

/* ---- Time arithmetic (mc146818_time.c): pure functions, no device state ---- */

/* Oldest and newest second a guest can set: 0001-01-01 00:00:00 .. 9999-12-31 23:59:59. */
extern const int64_t rtc_min_time, rtc_max_time;

/* The calendar of a second since 1970-01-01 00:00:00 (proleptic Gregorian, no leap seconds). */
struct rtc_tm {
    int64_t year;
    unsigned mon, mday, hour, min, sec; /* 1-12, 1-31, 0-23, 0-59, 0-59 */
    unsigned wday;                      /* 0 = Sunday */
};
void rtc_tm_of(int64_t t, struct rtc_tm *tm);
/* Days since 1970-01-01 of year-mon-1, for any month (months outside 1-12 carry into years). */
int64_t rtc_days_of(int64_t year, int64_t mon);

/* One field in the register format of register B: BCD unless DM (binary). */
uint8_t rtc_to_reg(unsigned v, uint8_t reg_b);
unsigned rtc_from_reg(uint8_t r, uint8_t reg_b);
/* The hour: 24-hour, or 12-hour (1-12, bit 7 = PM) when 24/12 is clear. */
uint8_t rtc_hour_to_reg(unsigned hour, uint8_t reg_b);
unsigned rtc_hour_from_reg(uint8_t r, uint8_t reg_b);

/* Writes the time registers (0x00-0x09 but the alarms, and the century) of second t into
 * cmos, in reg_b's format; the day of the week is shifted by wday_adj (0-6). */
void rtc_encode_time(int64_t t, uint8_t reg_b, unsigned wday_adj, uint8_t cmos[RTC_CMOS_SIZE]);
/* The second the time registers in cmos hold, read in reg_b's format; out-of-range fields
 * carry as a calendar does, and the result is clamped to [rtc_min_time, rtc_max_time]. */
int64_t rtc_decode_time(const uint8_t cmos[RTC_CMOS_SIZE], uint8_t reg_b);

/* True when second t matches the alarm bytes (cmos 0x01, 0x03, 0x05) in reg_b's format. */
bool rtc_alarm_matches(const uint8_t cmos[RTC_CMOS_SIZE], uint8_t reg_b, int64_t t);
/* The first second after `after` that matches the alarm; false when none ever does. */
bool rtc_alarm_next(const uint8_t cmos[RTC_CMOS_SIZE], uint8_t reg_b, int64_t after, int64_t *at);

/* ---- Test seams (tests/unit/test_mc146818.c, tests/fuzz/fuzz_mc146818.c) ---- */

/* The host clock an instance reads (default: CLOCK_REALTIME). Replacing it keeps the guest's
 * offset from the host clock and restarts the interrupt bookkeeping at the new clock's now. */
typedef void (*mc146818_clock_fn)(void *opaque, struct timespec *now);
void mc146818_set_clock(struct vdev *d, mc146818_clock_fn fn, void *opaque);
/* Runs what the device's timer runs: catches up with the clock, drives the line, re-arms. */
void mc146818_timer_run(struct vdev *d);

#endif
