/* mc146818 time arithmetic: the calendar, the register formats (BCD/binary, 12/24-hour) and
 * the alarm match. Pure functions of their arguments, so the device, the tests and the fuzz
 * target agree on one definition. The calendar is computed here (days from civil dates and
 * back) rather than with timegm/gmtime: no time zone, no 32-bit year limits, no errors. */
#include "mc146818.h"

#define DAY 86400

/* 0001-01-01 and 9999-12-31 23:59:59 as seconds since 1970. */
const int64_t rtc_min_time = -62135596800LL;
const int64_t rtc_max_time = 253402300799LL;

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

/* Days since 1970-01-01 of a valid date (month 1-12); the era arithmetic of the proleptic
 * Gregorian calendar (400-year cycles of 146097 days). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int64_t rtc_days_of(int64_t year, int64_t mon)
{
    int64_t m0 = mon - 1;
    return days_from_civil(year + floor_div(m0, 12), (unsigned)floor_mod(m0, 12) + 1, 1);
}

void rtc_tm_of(int64_t t, struct rtc_tm *tm)
{
    int64_t days = floor_div(t, DAY);
    int64_t secs = t - days * DAY;
    tm->hour = (unsigned)(secs / 3600);
    tm->min = (unsigned)(secs / 60 % 60);
    tm->sec = (unsigned)(secs % 60);
    tm->wday = (unsigned)floor_mod(days + 4, 7); /* 1970-01-01 was a Thursday */

    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    tm->mday = doy - (153 * mp + 2) / 5 + 1;
    tm->mon = mp < 10 ? mp + 3 : mp - 9;
    tm->year = (int64_t)yoe + era * 400 + (tm->mon <= 2);
}

uint8_t rtc_to_reg(unsigned v, uint8_t reg_b)
{
    if (reg_b & RTC_B_DM)
        return (uint8_t)v;
    return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

/* BCD digits above 9 (a guest's garbage) count as their value: 0x1f reads as 25. */
unsigned rtc_from_reg(uint8_t r, uint8_t reg_b)
{
    if (reg_b & RTC_B_DM)
        return r;
    return (r >> 4) * 10u + (r & 0x0f);
}

uint8_t rtc_hour_to_reg(unsigned hour, uint8_t reg_b)
{
    if (reg_b & RTC_B_24H)
        return rtc_to_reg(hour, reg_b);
    unsigned h12 = hour % 12 ? hour % 12 : 12;
    return (uint8_t)(rtc_to_reg(h12, reg_b) | (hour >= 12 ? 0x80 : 0));
}

unsigned rtc_hour_from_reg(uint8_t r, uint8_t reg_b)
{
    if (reg_b & RTC_B_24H)
        return rtc_from_reg(r, reg_b);
    return rtc_from_reg(r & 0x7f, reg_b) % 12 + ((r & 0x80) ? 12 : 0);
}

void rtc_encode_time(int64_t t, uint8_t reg_b, unsigned wday_adj, uint8_t cmos[RTC_CMOS_SIZE])
{
    struct rtc_tm tm;
    rtc_tm_of(t, &tm);
    int64_t year = tm.year < 0 ? 0 : tm.year % 10000; /* four digits, whatever the host says */
    cmos[RTC_SECONDS] = rtc_to_reg(tm.sec, reg_b);
    cmos[RTC_MINUTES] = rtc_to_reg(tm.min, reg_b);
    cmos[RTC_HOURS] = rtc_hour_to_reg(tm.hour, reg_b);
    cmos[RTC_DAY_OF_WEEK] = rtc_to_reg((tm.wday + wday_adj) % 7 + 1, reg_b);
    cmos[RTC_DAY_OF_MONTH] = rtc_to_reg(tm.mday, reg_b);
    cmos[RTC_MONTH] = rtc_to_reg(tm.mon, reg_b);
    cmos[RTC_YEAR] = rtc_to_reg((unsigned)(year % 100), reg_b);
    cmos[RTC_CENTURY] = rtc_to_reg((unsigned)(year / 100), reg_b);
}

int64_t rtc_decode_time(const uint8_t cmos[RTC_CMOS_SIZE], uint8_t reg_b)
{
    /* Every field is at most 255, so none of this can overflow. */
    int64_t year =
        (int64_t)rtc_from_reg(cmos[RTC_CENTURY], reg_b) * 100 + rtc_from_reg(cmos[RTC_YEAR], reg_b);
    int64_t days = rtc_days_of(year, rtc_from_reg(cmos[RTC_MONTH], reg_b)) +
                   rtc_from_reg(cmos[RTC_DAY_OF_MONTH], reg_b) - 1;
    int64_t t = days * DAY + rtc_hour_from_reg(cmos[RTC_HOURS], reg_b) * 3600LL +
                rtc_from_reg(cmos[RTC_MINUTES], reg_b) * 60LL +
                rtc_from_reg(cmos[RTC_SECONDS], reg_b);
    if (t < rtc_min_time)
        return rtc_min_time;
    return t > rtc_max_time ? rtc_max_time : t;
}

static bool field_matches(uint8_t alarm, uint8_t value)
{
    return alarm >= RTC_ALARM_DONT_CARE || alarm == value;
}

bool rtc_alarm_matches(const uint8_t cmos[RTC_CMOS_SIZE], uint8_t reg_b, int64_t t)
{
    int64_t tod = floor_mod(t, DAY);
    return field_matches(cmos[RTC_SECONDS_ALARM], rtc_to_reg((unsigned)(tod % 60), reg_b)) &&
           field_matches(cmos[RTC_MINUTES_ALARM], rtc_to_reg((unsigned)(tod / 60 % 60), reg_b)) &&
           field_matches(cmos[RTC_HOURS_ALARM], rtc_hour_to_reg((unsigned)(tod / 3600), reg_b));
}

/* The byte comparison makes the matching times of day a product of allowed hours, minutes
 * and seconds, so the next match is found by walking those sets (at most two days). */
bool rtc_alarm_next(const uint8_t cmos[RTC_CMOS_SIZE], uint8_t reg_b, int64_t after, int64_t *at)
{
    bool hours[24], mins[60], secs[60];
    bool any_h = false, any_m = false, any_s = false;
    for (unsigned i = 0; i < 60; i++) {
        if (i < 24)
            any_h |= hours[i] = field_matches(cmos[RTC_HOURS_ALARM], rtc_hour_to_reg(i, reg_b));
        any_m |= mins[i] = field_matches(cmos[RTC_MINUTES_ALARM], rtc_to_reg(i, reg_b));
        any_s |= secs[i] = field_matches(cmos[RTC_SECONDS_ALARM], rtc_to_reg(i, reg_b));
    }
    if (!any_h || !any_m || !any_s)
        return false;
    int64_t day0 = floor_div(after, DAY) * DAY;
    int64_t tod = after - day0;
    for (int64_t day = 0; day < 2; day++) {
        for (unsigned h = 0; h < 24; h++) {
            if (!hours[h])
                continue;
            for (unsigned m = 0; m < 60; m++) {
                int64_t base = day * DAY + h * 3600 + m * 60;
                if (!mins[m] || base + 59 <= tod)
                    continue;
                for (unsigned s = 0; s < 60; s++) {
                    if (secs[s] && base + s > tod) {
                        *at = day0 + base + s;
                        return true;
                    }
                }
            }
        }
    }
    return false; /* not reached: the next day always has a match */
}
