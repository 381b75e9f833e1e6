/* mc146818: the PC's CMOS real-time clock (MC146818A), at ports 0x70 (index) and 0x71 (data).
 *
 * 128 bytes of CMOS: the time (0x00-0x09, century at 0x32), the alarms (0x01, 0x03, 0x05),
 * control registers A-D (0x0a-0x0d) and battery-backed RAM (the rest).
 *
 * Options:
 *   base utc|localtime  what the clock shows at start (default utc)
 *   reg OFFSET,VALUE    initial value of a CMOS byte (qvm's option): register A or B, an
 *                       alarm byte or RAM; repeatable
 *
 * Behaviour chosen here:
 * - The time is the host clock plus an offset the guest changes by setting the time; it is
 *   computed at each read, so no thread keeps it. While register B's SET bit is set or
 *   register A's divider is held in reset (DV = 11x) the clock stands still and the time
 *   registers are plain bytes the guest writes; when it runs again they are read back as
 *   the new time (out-of-range fields carry like a calendar; clamped to years 1-9999). After
 *   SET the sub-second phase is kept; after a divider reset the first update comes 500 ms
 *   later, as on the chip. A time byte written while the clock runs sets the time at once.
 * - UIP (register A bit 7) reads 1 for the 244 us before each second boundary.
 * - Register C's flags are computed when they could be observed (a read of C, a write that
 *   changes what matters, the timer): UF at each second boundary the running clock crossed,
 *   AF when one of those seconds matched the alarm (bytes 0xc0-0xff match anything), PF at
 *   each boundary of the periodic rate (register A RS, from the 32.768 kHz time base, while
 *   the divider runs). IRQF = (PF & PIE) | (AF & AIE) | (UF & UIE) is the interrupt line's
 *   level; reading C returns the flags, clears them and drops the line.
 * - One timerfd, watched on the core's event thread, wakes the device for the next enabled
 *   event while the line is low (while it is high the flags can wait for the read of C). It
 *   fires at most every MIN_WAKE_NS: faster periodic rates coalesce into one interrupt.
 * - Register D reads VRT (0x80). Port 0x70 reads 0xff; bit 7 of a written index (the NMI
 *   mask) is ignored. Square-wave output (SQWE) and daylight saving (DSE) are stored only.
 * - Machine reset clears PIE, AIE, UIE, SQWE and the flags; time and RAM survive it.
 * - Described in the DSDT (Device RTC, PNP0B00) and the device tree (motorola,mc146818).
 */
#include <errno.h>
#include <inttypes.h>
#include <libfdt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <vdev/acpi.h>
#include <vdev/events.h>
#include <vdev/fdt.h>
#include <vdev/machine.h>
#include <vdev/module.h>

#include "mc146818.h"

#define NS          1000000000LL
#define UIP_NS      244000LL  /* UIP rises this long before each update */
#define RTC_HZ      32768     /* the time base register A's rate divides */
#define MIN_WAKE_NS 1000000LL /* the timer fires at most every 1 ms */
#define SLACK_NS    20000LL   /* the timer fires this much after the event, never before */

#define PORT_INDEX 0

struct rtc {
    struct vdev *d;
    pthread_mutex_t lock; /* vCPU threads (ports) and the event thread (timer) */
    bool lock_ready;
    mc146818_clock_fn clock;
    void *clock_opaque;
    bool localtime;

    uint8_t index;
    uint8_t cmos[RTC_CMOS_SIZE]; /* RAM, alarms, A, B; the time bytes only while stopped */
    uint8_t flags;               /* register C's PF, AF, UF */
    bool irq_level;

    /* guest time = host clock + off_sec s + off_nsec ns, 0 <= off_nsec < 1 s */
    int64_t off_sec, off_nsec;
    unsigned wday_adj; /* the guest's day of the week minus the calendar's, 0-6 */
    bool wday_written; /* the guest wrote the day of the week while the clock stood */
    bool stopped;      /* SET or divider reset: the time lives in cmos[] */
    int64_t last_sec;  /* running: the guest second the flags are computed up to */
    int64_t last_period;

    int timer_fd;
    struct vdev_watch *watch;
    int64_t armed;     /* host ns the timer is set for; -1 = disarmed */
    int64_t last_fire; /* host ns the timer last ran */
    uint64_t irqs;
};

struct gtime {
    int64_t sec, nsec;
};

/* ---- clocks ---- */

static void realtime_clock(void *opaque, struct timespec *now)
{
    clock_gettime(CLOCK_REALTIME, now);
}

static struct timespec host_now(struct rtc *s)
{
    struct timespec h;
    s->clock(s->clock_opaque, &h);
    return h;
}

static int64_t host_ns(struct timespec h)
{
    return (int64_t)h.tv_sec * NS + h.tv_nsec;
}

static struct gtime guest_time(const struct rtc *s, struct timespec h)
{
    struct gtime g = {h.tv_sec + s->off_sec, h.tv_nsec + s->off_nsec};
    if (g.nsec >= NS) {
        g.nsec -= NS;
        g.sec++;
    }
    return g;
}

/* Makes the guest time at host time h read sec + nsec. */
static void set_guest_time(struct rtc *s, struct timespec h, int64_t sec, int64_t nsec)
{
    s->off_sec = sec - h.tv_sec;
    s->off_nsec = nsec - h.tv_nsec;
    if (s->off_nsec < 0) {
        s->off_nsec += NS;
        s->off_sec--;
    }
}

static bool divider_runs(uint8_t a)
{
    return (a & RTC_A_DV_RESET) != RTC_A_DV_RESET;
}

static bool clock_runs(uint8_t a, uint8_t b)
{
    return divider_runs(a) && !(b & RTC_B_SET);
}

/* Periodic interrupt period in time-base ticks; 0 = none. Rates 1 and 2 repeat 8 and 9. */
static int64_t period_ticks(uint8_t a)
{
    unsigned rs = a & RTC_A_RS;
    if (!rs)
        return 0;
    if (rs <= 2)
        rs += 7;
    return (int64_t)1 << (rs - 1);
}

static int64_t period_index(struct timespec h, int64_t ticks)
{
    int64_t t = (int64_t)h.tv_sec * RTC_HZ + (int64_t)h.tv_nsec * RTC_HZ / NS;
    return t >= 0 ? t / ticks : -((-t + ticks - 1) / ticks);
}

/* Host ns at which time-base tick `tick` begins (rounded up). */
static int64_t tick_ns(int64_t tick)
{
    int64_t sec = tick / RTC_HZ, rem = tick % RTC_HZ;
    return sec * NS + (rem * NS + RTC_HZ - 1) / RTC_HZ;
}

/* ---- stopping and starting the clock ---- */

/* The clock stops: the time registers take the current time, in format reg_b. */
static void freeze(struct rtc *s, struct timespec h, uint8_t reg_b)
{
    rtc_encode_time(guest_time(s, h).sec, reg_b, s->wday_adj, s->cmos);
    s->stopped = true;
    s->wday_written = false;
}

/* The clock runs again from what the time registers hold. */
static void thaw(struct rtc *s, struct timespec h, bool after_divider_reset)
{
    uint8_t b = s->cmos[RTC_REG_B];
    int64_t sec = rtc_decode_time(s->cmos, b);
    unsigned dow = rtc_from_reg(s->cmos[RTC_DAY_OF_WEEK], b);
    struct rtc_tm tm;
    rtc_tm_of(sec, &tm);
    /* A weekday the guest wrote stays (the chip counts it on its own); otherwise the new
     * date's weekday, so a guest that sets only the date (Linux) reads the right one. */
    if (s->wday_written)
        s->wday_adj = dow >= 1 && dow <= 7 ? (dow - 1 + 7 - tm.wday) % 7 : 0;
    s->wday_written = false;
    set_guest_time(s, h, sec, after_divider_reset ? NS / 2 : guest_time(s, h).nsec);
    s->stopped = false;
    s->last_sec = sec;
}

/* ---- interrupts ---- */

static uint8_t irqf(const struct rtc *s)
{
    return (s->flags & s->cmos[RTC_REG_B] & (RTC_C_PF | RTC_C_AF | RTC_C_UF)) ? RTC_C_IRQF : 0;
}

/* Sets the flags for what happened since the last call. */
static void catch_up(struct rtc *s, struct timespec h)
{
    uint8_t b = s->cmos[RTC_REG_B];
    if (!s->stopped) {
        struct gtime g = guest_time(s, h);
        if (g.sec > s->last_sec) {
            s->flags |= RTC_C_UF;
            int64_t at;
            if (!(s->flags & RTC_C_AF) &&
                (g.sec - s->last_sec == 1
                     ? rtc_alarm_matches(s->cmos, b, g.sec)
                     : rtc_alarm_next(s->cmos, b, s->last_sec, &at) && at <= g.sec))
                s->flags |= RTC_C_AF;
        }
        s->last_sec = g.sec; /* also when the host clock went back */
    }
    int64_t ticks = period_ticks(s->cmos[RTC_REG_A]);
    if (ticks && divider_runs(s->cmos[RTC_REG_A])) {
        int64_t idx = period_index(h, ticks);
        if (idx > s->last_period)
            s->flags |= RTC_C_PF;
        s->last_period = idx;
    }
}

static void update_irq(struct rtc *s)
{
    bool level = irqf(s);
    if (level == s->irq_level)
        return;
    s->irq_level = level;
    if (level)
        s->irqs++;
    vdev_irq_set_level(s->d, level);
}

static int64_t min_time(int64_t a, int64_t b)
{
    return a < 0 ? b : (b < 0 || a < b) ? a : b;
}

/* Host ns of the next event that would raise the line; -1 when none can. */
static int64_t next_event(struct rtc *s, struct timespec h)
{
    if (irqf(s))
        return -1; /* the line stays up until C is read, which catches up */
    uint8_t a = s->cmos[RTC_REG_A], b = s->cmos[RTC_REG_B];
    int64_t now = host_ns(h), best = -1;
    if (!s->stopped && (b & (RTC_B_UIE | RTC_B_AIE))) {
        struct gtime g = guest_time(s, h);
        int64_t next_sec = now + (NS - g.nsec);
        int64_t at;
        if (b & RTC_B_UIE)
            best = next_sec;
        else if (rtc_alarm_next(s->cmos, b, g.sec, &at)) /* at most two days on */
            best = next_sec + (at - g.sec - 1) * NS;
    }
    int64_t ticks = period_ticks(a);
    if ((b & RTC_B_PIE) && ticks && divider_runs(a)) {
        int64_t t = tick_ns((period_index(h, ticks) + 1) * ticks);
        /* Faster rates coalesce; a host clock that went back does not hold the timer off. */
        int64_t earliest = (s->last_fire < now ? s->last_fire : now) + MIN_WAKE_NS;
        if (t < earliest)
            t = earliest;
        best = min_time(best, t);
    }
    return best;
}

static void arm_timer(struct rtc *s, struct timespec h)
{
    if (s->timer_fd < 0)
        return;
    int64_t t = next_event(s, h);
    if (t == s->armed)
        return; /* the usual case: a register access that changed nothing */
    struct itimerspec its = {{0, 0}, {0, 0}};
    if (t >= 0) {
        int64_t delay = t - host_ns(h) + SLACK_NS;
        if (delay < SLACK_NS)
            delay = SLACK_NS;
        its.it_value.tv_sec = delay / NS;
        its.it_value.tv_nsec = delay % NS;
    }
    timerfd_settime(s->timer_fd, 0, &its, NULL);
    s->armed = t;
}

static void timer_run_locked(struct rtc *s)
{
    struct timespec h = host_now(s);
    s->armed = -1;
    s->last_fire = host_ns(h);
    catch_up(s, h);
    update_irq(s);
    arm_timer(s, h);
}

static void timer_ready(void *opaque, int fd)
{
    struct rtc *s = opaque;
    uint64_t expirations;
    if (read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
        vdev_warn(s->d, "timer: %s", strerror(errno));
    pthread_mutex_lock(&s->lock);
    timer_run_locked(s);
    pthread_mutex_unlock(&s->lock);
}

/* ---- registers ---- */

static bool is_time_reg(unsigned r)
{
    return r == RTC_SECONDS || r == RTC_MINUTES || r == RTC_HOURS ||
           (r >= RTC_DAY_OF_WEEK && r <= RTC_YEAR) || r == RTC_CENTURY;
}

/* New values of registers A and B: the clock stops or starts with them. */
static void set_control(struct rtc *s, struct timespec h, uint8_t a, uint8_t b)
{
    uint8_t old_a = s->cmos[RTC_REG_A], old_b = s->cmos[RTC_REG_B];
    if (b & RTC_B_SET)
        b &= (uint8_t)~RTC_B_UIE; /* SET clears UIE (datasheet) */
    bool runs = clock_runs(a, b);
    if (!s->stopped && !runs)
        freeze(s, h, old_b);
    s->cmos[RTC_REG_A] = a;
    s->cmos[RTC_REG_B] = b;
    if (s->stopped && runs)
        thaw(s, h, !divider_runs(old_a));
    int64_t ticks = period_ticks(a);
    if (ticks && (a ^ old_a) & (RTC_A_RS | RTC_A_DV))
        s->last_period = period_index(h, ticks); /* a new rate counts from now */
}

static uint8_t data_read(struct rtc *s, unsigned r)
{
    struct timespec h = host_now(s);
    if (is_time_reg(r) && !s->stopped) {
        uint8_t now[RTC_CMOS_SIZE];
        rtc_encode_time(guest_time(s, h).sec, s->cmos[RTC_REG_B], s->wday_adj, now);
        return now[r];
    }
    switch (r) {
    case RTC_REG_A: {
        uint8_t v = s->cmos[RTC_REG_A] & 0x7f;
        if (!s->stopped && guest_time(s, h).nsec >= NS - UIP_NS)
            v |= RTC_A_UIP;
        return v;
    }
    case RTC_REG_C: {
        catch_up(s, h);
        uint8_t v = s->flags | irqf(s);
        s->flags = 0;
        update_irq(s);
        arm_timer(s, h);
        return v;
    }
    case RTC_REG_D:
        return RTC_D_VRT;
    default:
        return s->cmos[r];
    }
}

static void data_write(struct rtc *s, unsigned r, uint8_t v)
{
    struct timespec h = host_now(s);
    catch_up(s, h); /* flags for the time before this write, by the rules before it */
    if (is_time_reg(r)) {
        bool running = !s->stopped;
        if (running)
            freeze(s, h, s->cmos[RTC_REG_B]);
        s->cmos[r] = v;
        if (r == RTC_DAY_OF_WEEK)
            s->wday_written = true;
        if (running)
            thaw(s, h, false); /* written while running: the new time applies at once */
    } else if (r == RTC_REG_A) {
        set_control(s, h, v & 0x7f, s->cmos[RTC_REG_B]); /* UIP is read-only */
    } else if (r == RTC_REG_B) {
        set_control(s, h, s->cmos[RTC_REG_A], v);
    } else if (r != RTC_REG_C && r != RTC_REG_D) { /* C and D are read-only */
        s->cmos[r] = v;
    }
    update_irq(s);
    arm_timer(s, h);
}

static uint64_t rtc_read(struct vdev *d, uint64_t offset, unsigned size)
{
    struct rtc *s = vdev_state(d);
    if (offset == PORT_INDEX)
        return 0xff; /* the index register is write-only */
    pthread_mutex_lock(&s->lock);
    uint8_t v = data_read(s, s->index);
    pthread_mutex_unlock(&s->lock);
    return v;
}

static void rtc_write(struct vdev *d, uint64_t offset, unsigned size, uint64_t value)
{
    struct rtc *s = vdev_state(d);
    pthread_mutex_lock(&s->lock);
    if (offset == PORT_INDEX)
        s->index = (uint8_t)value & 0x7f; /* bit 7 masks NMIs on a PC: nothing to mask here */
    else
        data_write(s, s->index, (uint8_t)value);
    pthread_mutex_unlock(&s->lock);
}

/* ---- test seams ---- */

void mc146818_set_clock(struct vdev *d, mc146818_clock_fn fn, void *opaque)
{
    struct rtc *s = vdev_state(d);
    pthread_mutex_lock(&s->lock);
    s->clock = fn ? fn : realtime_clock;
    s->clock_opaque = opaque;
    struct timespec h = host_now(s);
    s->last_sec = guest_time(s, h).sec;
    int64_t ticks = period_ticks(s->cmos[RTC_REG_A]);
    if (ticks)
        s->last_period = period_index(h, ticks);
    s->last_fire = 0;
    s->armed = -2; /* whatever was armed, arm again */
    arm_timer(s, h);
    pthread_mutex_unlock(&s->lock);
}

void mc146818_timer_run(struct vdev *d)
{
    struct rtc *s = vdev_state(d);
    pthread_mutex_lock(&s->lock);
    timer_run_locked(s);
    pthread_mutex_unlock(&s->lock);
}

/* ---- options and life-cycle ---- */

static const char *const base_choices[] = {"utc", "localtime", NULL};

static const struct vdev_option rtc_options[] = {
    {.name = "base",
     .kind = VDEV_OPT_CHOICE,
     .arg = "utc|localtime",
     .def = "utc",
     .help = "what the clock shows at start: the host's UTC or its local time",
     .choices = base_choices},
    {.name = "reg",
     .kind = VDEV_OPT_STRING,
     .flags = VDEV_OPT_REPEAT,
     .arg = "OFFSET,VALUE",
     .help = "initial value of a CMOS byte: register A or B, an alarm, or RAM 0x0e-0x7f"},
    {.name = NULL},
};

static int rtc_options_start(struct vdev *d)
{
    struct rtc *s = vdev_state(d);
    s->d = d;
    if (pthread_mutex_init(&s->lock, NULL))
        return vdev_error(d, vdev_pos(d), NULL, "cannot create a mutex");
    s->lock_ready = true;
    s->clock = realtime_clock;
    s->timer_fd = -1;
    s->armed = -1;
    s->cmos[RTC_REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz periodic rate: a PC BIOS's */
    s->cmos[RTC_REG_B] = RTC_B_24H;
    return 0;
}

static int parse_reg(struct vdev *d, const struct vdev_optval *v, unsigned *off, unsigned *val)
{
    char *end;
    errno = 0;
    unsigned long o = strtoul(v->text, &end, 0);
    if (errno || end == v->text || *end != ',')
        return -1;
    const char *p = end + 1;
    unsigned long x = strtoul(p, &end, 0);
    if (errno || end == p || *end || o >= RTC_CMOS_SIZE || x > 0xff)
        return -1;
    *off = (unsigned)o;
    *val = (unsigned)x;
    return 0;
}

static int rtc_option(struct vdev *d, const struct vdev_optval *v)
{
    struct rtc *s = vdev_state(d);
    if (!strcmp(v->opt->name, "base")) {
        s->localtime = v->choice == 1;
        return 0;
    }
    if (strcmp(v->opt->name, "reg"))
        return 0;
    unsigned off, val;
    if (parse_reg(d, v, &off, &val))
        return vdev_error(d, v->pos, "reg 0x0b,0x02",
                          "reg '%s': expected OFFSET,VALUE with "
                          "OFFSET 0x00-0x7f and VALUE 0x00-0xff",
                          v->text);
    if (is_time_reg(off))
        return vdev_error(d, v->pos, "use `base` or let the guest set the time",
                          "reg 0x%02x: the time comes from the host clock", off);
    if (off == RTC_REG_C || off == RTC_REG_D)
        return vdev_error(d, v->pos, NULL, "reg 0x%02x: register %c is read-only", off,
                          off == RTC_REG_C ? 'C' : 'D');
    s->cmos[off] = (uint8_t)(off == RTC_REG_A ? val & 0x7f : val);
    return 0;
}

static int rtc_options_end(struct vdev *d)
{
    struct rtc *s = vdev_state(d);
    struct timespec h = host_now(s);
    if (s->localtime) {
        struct tm lt;
        time_t t = h.tv_sec;
        if (localtime_r(&t, &lt))
            s->off_sec = lt.tm_gmtoff; /* once, at start: the guest keeps its own time */
    }
    uint8_t a = s->cmos[RTC_REG_A], b = s->cmos[RTC_REG_B];
    s->cmos[RTC_REG_B] = b & (uint8_t)~RTC_B_SET;
    s->cmos[RTC_REG_A] &= (uint8_t)~RTC_A_DV_RESET; /* running; then as configured */
    s->last_sec = guest_time(s, h).sec;
    set_control(s, h, a, b);
    int64_t ticks = period_ticks(a);
    if (ticks)
        s->last_period = period_index(h, ticks);
    return 0;
}

static int rtc_configured(struct vdev *d)
{
    struct rtc *s = vdev_state(d);
    s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (s->timer_fd < 0)
        return vdev_error(d, vdev_pos(d), NULL, "timerfd: %s", strerror(errno));
    struct vdev_err err;
    s->watch = vdev_watch_fd(d, s->timer_fd, timer_ready, s, &err);
    if (!s->watch)
        return vdev_error(d, vdev_pos(d), NULL, "timer: %s", err.msg);
    pthread_mutex_lock(&s->lock);
    arm_timer(s, host_now(s));
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void rtc_reset(struct vdev *d)
{
    struct rtc *s = vdev_state(d);
    pthread_mutex_lock(&s->lock);
    struct timespec h = host_now(s);
    catch_up(s, h);
    s->cmos[RTC_REG_B] &= (uint8_t) ~(RTC_B_PIE | RTC_B_AIE | RTC_B_UIE | RTC_B_SQWE);
    s->flags = 0;
    update_irq(s);
    arm_timer(s, h);
    pthread_mutex_unlock(&s->lock);
}

static void rtc_status(struct vdev *d, FILE *out)
{
    struct rtc *s = vdev_state(d);
    pthread_mutex_lock(&s->lock);
    struct timespec h = host_now(s);
    int64_t t = s->stopped ? rtc_decode_time(s->cmos, s->cmos[RTC_REG_B]) : guest_time(s, h).sec;
    struct rtc_tm tm;
    rtc_tm_of(t, &tm);
    fprintf(out,
            "%04" PRId64 "-%02u-%02u %02u:%02u:%02u%s; A 0x%02x B 0x%02x C 0x%02x; "
            "%" PRIu64 " interrupts",
            tm.year, tm.mon, tm.mday, tm.hour, tm.min, tm.sec, s->stopped ? " (stopped)" : "",
            s->cmos[RTC_REG_A], s->cmos[RTC_REG_B], s->flags | irqf(s), s->irqs);
    pthread_mutex_unlock(&s->lock);
}

static void rtc_terminate(struct vdev *d)
{
    struct rtc *s = vdev_state(d);
    if (!s->lock_ready)
        return;
    vdev_unwatch_fd(s->watch);
    s->watch = NULL;
    if (s->timer_fd >= 0)
        close(s->timer_fd);
    s->timer_fd = -1;
    pthread_mutex_destroy(&s->lock);
    s->lock_ready = false;
}

/* ---- ACPI ---- */

/* Device (RTC) { _HID PNP0B00, _CRS { IO, IRQ } }: what Linux's rtc-cmos binds to. A second
 * clock (unusual) is RTC1, and so on. */
static int rtc_gen_acpi(struct vdev *d, struct vdev_aml *dsdt)
{
    struct vdev_machine *m = vdev_machine_of(d);
    unsigned nth = 0;
    for (size_t i = 0, n = vdev_machine_device_count(m); i < n; i++) {
        struct vdev *o = vdev_machine_device(m, i);
        if (o == d)
            break;
        nth += !strcmp(vdev_type_name(o), vdev_type_name(d));
    }
    if (nth > 9)
        return vdev_error(d, vdev_pos(d), NULL, "ACPI: too many clocks to name");
    char name[8] = "RTC";
    if (nth)
        snprintf(name, sizeof(name), "RTC%u", nth);
    uint32_t line = vdev_intr(d)->line; /* the x86 platform maps ioapic line N to GSI N */

    vdev_aml_device_begin(dsdt, name);
    vdev_aml_name_eisaid(dsdt, "_HID", "PNP0B00");
    vdev_aml_name_begin(dsdt, "_CRS");
    vdev_aml_crs_begin(dsdt);
    vdev_aml_res_io(dsdt, vdev_loc(d)->addr, 2);
    /* An ISA line is edge-triggered, active-high (IRQ8 on a PC); a higher one a level. */
    if (line < 16)
        vdev_aml_res_irq(dsdt, line);
    else
        vdev_aml_res_interrupt(dsdt, line, true, true, false);
    vdev_aml_crs_end(dsdt);
    vdev_aml_end(dsdt);
    return vdev_aml_error(dsdt) ? -1 : 0;
}

/* ---- Device tree ---- */

/* rtc@PORT { compatible "motorola,mc146818"; reg <PORT 2>; interrupts }: Linux's binding; the
 * port number as `reg` and `vdevkit,port-io`, as ser8250 does. The ISA line is edge-rising. */
static int rtc_gen_fdt(struct vdev *d, void *fdt, int parent)
{
    const struct vdev_loc *loc = vdev_loc(d);
    char name[32];
    snprintf(name, sizeof(name), "rtc@%llx", (unsigned long long)loc->addr);
    int node = fdt_add_subnode(fdt, parent, name);
    if (node < 0)
        return node;
    fdt64_t reg[2] = {cpu_to_fdt64(loc->addr), cpu_to_fdt64(2)};
    int rc = fdt_setprop_string(fdt, node, "compatible", "motorola,mc146818");
    if (!rc)
        rc = fdt_setprop(fdt, node, "reg", reg, sizeof(reg));
    if (!rc)
        rc = fdt_setprop_empty(fdt, node, "vdevkit,port-io");
    if (!rc)
        rc = vdev_fdt_set_interrupt(d, fdt, node, vdev_intr(d)->line >= 16);
    return rc;
}

VDEV_MODULE(mc146818, .name = "mc146818", .summary = "MC146818A CMOS real-time clock (PC RTC)",
            .options = rtc_options, .state_size = sizeof(struct rtc), .places = VDEV_PLACE_IO,
            .default_loc = "io:0x70", .window_size = 2, .has_intr = true,
            .default_intr = "ioapic:8",
            .window = {.read = rtc_read, .write = rtc_write, .sizes = 0x1},
            .options_start = rtc_options_start, .option = rtc_option,
            .options_end = rtc_options_end, .configured = rtc_configured, .reset = rtc_reset,
            .status = rtc_status, .terminate = rtc_terminate, .gen_acpi = rtc_gen_acpi,
            .gen_fdt = rtc_gen_fdt);
