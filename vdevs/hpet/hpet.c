/* hpet: the IA-PC High Precision Event Timer (spec 1.0a): a 1 KiB MMIO block, by default at
 * 0xfed00000, with a 64-bit main counter at 100 MHz and 3 comparators ("timers").
 *
 * Options:
 *   lines LIST  IOAPIC lines the timers may be routed to (INT_ROUTE_CAP), e.g. 20-23 or
 *               5,20-23 (lines 0-31); they are claimed, so no other device gets them
 *
 * Behaviour chosen here:
 * - The main counter is derived from the host's CLOCK_MONOTONIC while ENABLE_CNF is set, so
 *   no thread ticks it; halted, it holds its value and takes writes. A write while it runs
 *   is ignored (the spec leaves it undefined), so a running counter never goes back.
 * - A comparator matches when the counter's low 32 (32BIT_MODE) or 64 bits pass its value;
 *   a one-shot comparator therefore fires again each 2^32 ticks in 32-bit mode. A periodic
 *   one (timer 0 only) then adds its period, as many times as the counter has passed: a
 *   late check fires once and does not loop. In periodic mode a comparator write sets the
 *   period, and also the comparator when VAL_SET was set first (which the write clears).
 * - Matches are computed when they could be observed: at each register access and on the
 *   device's timerfd (the core's event thread), armed for the next match that would change
 *   a line, at most every MIN_WAKE_NS: faster interrupts coalesce.
 * - Level-triggered timers set their status bit on a match (also with INT_ENB clear, as the
 *   spec says); the line is the OR of the enabled, pending level timers routed to it, and
 *   writing 1 to a status bit clears it. Edge-triggered timers pulse their line (not one a
 *   level timer holds high) and never set a status bit. ENABLE_CNF clear drops every line.
 * - Routes: in legacy replacement mode (LEG_RT_CNF) timer 0 drives ISA IRQ 0 (ioapic line 0,
 *   which the x86 VMM wires to IOAPIC pin 2) and timer 1 IRQ 8; these two lines are the
 *   platform's (PIT, RTC) and borrowed, not owned. Otherwise a timer drives the line in its
 *   INT_ROUTE_CNF; a value outside INT_ROUTE_CAP is not taken (the register keeps its old
 *   route, as the spec allows) and logged, rate-limited. FSB delivery is not supported.
 * - Accesses of any size (1, 2, 4, 8) at any offset: a read returns the bytes of the
 *   registers it covers, a write changes only the bytes it covers of each register (an
 *   8-byte write at 0x0c touches General Configuration's high half and the reserved
 *   0x018). Reserved bytes and absent timers read 0 and ignore writes.
 * - Machine reset: everything to power-on values (counter 0, halted, comparators all ones).
 * - Described in the DSDT (Device HPET, PNP0103) and the ACPI "HPET" table (hpet_acpi.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <vdev/events.h>
#include <vdev/machine.h>
#include <vdev/module.h>

#include "hpet.h"

#define NS          1000000000LL
#define MIN_WAKE_NS 100000LL  /* the timer fires at most every 100 us */
#define MAX_WAKE_NS (10 * NS) /* and at least every 10 s while something is armed */
#define SLACK_NS    20000LL   /* the timer fires this much after the event, never before */
#define NLINES      (HPET_MAX_LINE + 1)

struct hpet_timer {
    uint64_t cfg; /* the writable bits of Tn_CFG; the capabilities are added when read */
    uint64_t cmp;
    uint64_t period;
};

struct hpet {
    struct vdev *d;
    pthread_mutex_t lock; /* vCPU threads (registers) and the event thread (timer) */
    bool lock_ready;
    hpet_clock_fn clock;
    void *clock_opaque;

    uint32_t route_cap; /* INT_ROUTE_CAP: bit n = ioapic line n */
    uint64_t freq_hz;   /* `frequency`: the main counter's rate */
    bool legacy_free;   /* `legacy-free`: no LEG_RT_CAP, LEG_RT_CNF stays 0 */
    struct vdev_srcpos lines_pos;
    bool claimed[NLINES];
    uint32_t gsi[NLINES];
    bool level[NLINES];

    uint64_t config; /* ENABLE_CNF, LEG_RT_CNF */
    uint64_t isr;
    uint64_t counter; /* halted: its value; running: its value at host time base_ns */
    int64_t base_ns;
    uint64_t last; /* running: the counter value matches are computed up to */
    struct hpet_timer t[HPET_TIMERS];

    int timer_fd;
    struct vdev_watch *watch;
    int64_t armed;     /* host ns the timer is set for; -1 = disarmed */
    int64_t last_fire; /* host ns the timer last ran */
    uint64_t irqs;
};

/* ---- the counter ---- */

static void monotonic_clock(void *opaque, struct timespec *now)
{
    clock_gettime(CLOCK_MONOTONIC, now);
}

static int64_t host_ns(struct hpet *s)
{
    struct timespec h;
    s->clock(s->clock_opaque, &h);
    return (int64_t)h.tv_sec * NS + h.tv_nsec;
}

static bool enabled(const struct hpet *s)
{
    return s->config & HPET_CFG_ENABLE;
}

static uint64_t counter_at(const struct hpet *s, int64_t now)
{
    if (!enabled(s))
        return s->counter;
    int64_t elapsed = now > s->base_ns ? now - s->base_ns : 0; /* a clock that went back */
    return s->counter + hpet_ns_to_ticks(s->freq_hz, elapsed);
}

/* ---- comparators ---- */

static uint64_t width(const struct hpet_timer *t)
{
    return (t->cfg & HPET_TN_32BIT) ? UINT32_MAX : UINT64_MAX;
}

/* Ticks after `from` of the comparator's next match; UINT64_MAX for "not within 2^64 - 1". */
static uint64_t ticks_to_match(const struct hpet_timer *t, uint64_t from)
{
    uint64_t w = width(t), d = (t->cmp - from) & w;
    if (d == 0) /* matched at `from`: next time round */
        d = w == UINT64_MAX ? UINT64_MAX : w + 1;
    return d;
}

/* The counter moved on by `delta` ticks from `from`: true when timer t matched on the way;
 * a periodic comparator then moves past the counter. */
static bool advance(struct hpet_timer *t, uint64_t from, uint64_t delta)
{
    uint64_t d = ticks_to_match(t, from);
    if (d > delta)
        return false;
    if ((t->cfg & HPET_TN_PERIODIC) && t->period) {
        uint64_t n = (delta - d) / t->period + 1; /* the products wrap as the comparator does */
        t->cmp = (t->cmp + n * t->period) & width(t);
    }
    return true;
}

/* ---- lines ---- */

static int route_of(const struct hpet *s, unsigned i)
{
    if ((s->config & HPET_CFG_LEG_RT) && i < 2)
        return i == 0 ? HPET_LEGACY_LINE0 : HPET_LEGACY_LINE1;
    unsigned r = (unsigned)(s->t[i].cfg & HPET_TN_ROUTE) >> HPET_TN_ROUTE_SHIFT;
    return (s->route_cap >> r) & 1 ? (int)r : -1;
}

static void set_line(struct hpet *s, int r, bool level)
{
    s->level[r] = level;
    vdev_irq_set_line(s->d, s->gsi[r], level);
}

/* Lines to the OR of the pending level timers routed to them. */
static void update_lines(struct hpet *s)
{
    bool want[NLINES] = {false};
    for (unsigned i = 0; i < HPET_TIMERS && enabled(s); i++) {
        const struct hpet_timer *t = &s->t[i];
        int r = route_of(s, i);
        if (r >= 0 && (t->cfg & HPET_TN_INT_TYPE) && (t->cfg & HPET_TN_INT_ENB) &&
            (s->isr >> i & 1))
            want[r] = true;
    }
    for (int r = 0; r < NLINES; r++) {
        if (!s->claimed[r] || want[r] == s->level[r])
            continue;
        if (want[r])
            s->irqs++;
        set_line(s, r, want[r]);
    }
}

/* Matches since the last call: status bits, lines, edges. */
static void catch_up(struct hpet *s, int64_t now)
{
    if (!enabled(s))
        return;
    uint64_t cur = counter_at(s, now), delta = cur - s->last;
    if (!delta || delta > INT64_MAX)
        return; /* a clock read older than the last one: nothing new */
    unsigned edges = 0;
    for (unsigned i = 0; i < HPET_TIMERS; i++) {
        struct hpet_timer *t = &s->t[i];
        if (!advance(t, s->last, delta))
            continue;
        if (t->cfg & HPET_TN_INT_TYPE)
            s->isr |= 1u << i;
        else if (t->cfg & HPET_TN_INT_ENB)
            edges |= 1u << i;
    }
    s->last = cur;
    update_lines(s);
    for (unsigned i = 0; i < HPET_TIMERS; i++) {
        int r = route_of(s, i);
        if (!(edges >> i & 1) || r < 0 || !s->claimed[r] || s->level[r])
            continue; /* a line held high shows no edge */
        s->irqs++;
        set_line(s, r, true);
        set_line(s, r, false);
    }
}

/* Host ns of the next match that would change a line; -1 when none can. */
static int64_t next_event(const struct hpet *s, int64_t now)
{
    if (!enabled(s))
        return -1;
    uint64_t cur = counter_at(s, now), best = UINT64_MAX;
    for (unsigned i = 0; i < HPET_TIMERS; i++) {
        const struct hpet_timer *t = &s->t[i];
        bool level = t->cfg & HPET_TN_INT_TYPE;
        if (!(t->cfg & HPET_TN_INT_ENB) || route_of(s, i) < 0 || (level && (s->isr >> i & 1)))
            continue; /* nothing to show, or the line already up until the guest clears it */
        uint64_t d = ticks_to_match(t, cur);
        if (d < best)
            best = d;
    }
    if (best == UINT64_MAX)
        return -1;
    int64_t delay = best > hpet_ns_to_ticks(s->freq_hz, MAX_WAKE_NS)
                        ? MAX_WAKE_NS
                        : (int64_t)((unsigned __int128)best * NS / s->freq_hz);
    int64_t at = now + delay;
    int64_t earliest = (s->last_fire < now ? s->last_fire : now) + MIN_WAKE_NS;
    return at < earliest ? earliest : at;
}

static void arm_timer(struct hpet *s, int64_t now)
{
    if (s->timer_fd < 0)
        return;
    int64_t t = next_event(s, now);
    if (t == s->armed)
        return;
    struct itimerspec its = {{0, 0}, {0, 0}};
    if (t >= 0) {
        int64_t delay = t - now + SLACK_NS;
        if (delay < SLACK_NS)
            delay = SLACK_NS;
        its.it_value.tv_sec = delay / NS;
        its.it_value.tv_nsec = delay % NS;
    }
    timerfd_settime(s->timer_fd, 0, &its, NULL);
    s->armed = t;
}

static void timer_run_locked(struct hpet *s)
{
    int64_t now = host_ns(s);
    s->armed = -1;
    s->last_fire = now;
    catch_up(s, now);
    arm_timer(s, now);
}

static void timer_ready(void *opaque, int fd)
{
    struct hpet *s = opaque;
    uint64_t expirations;
    if (read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
        vdev_warn(s->d, "timer: %s", strerror(errno));
    pthread_mutex_lock(&s->lock);
    timer_run_locked(s);
    pthread_mutex_unlock(&s->lock);
}

/* ---- registers: 64-bit each, reached through byte masks ---- */

static uint64_t reg_read(struct hpet *s, uint64_t reg, int64_t now)
{
    switch (reg) {
    case HPET_CAP:
        return hpet_block_id(s->legacy_free) | (uint64_t)(HPET_FS / s->freq_hz) << 32;
    case HPET_CFG:
        return s->config;
    case HPET_ISR:
        return s->isr;
    case HPET_COUNTER:
        return counter_at(s, now);
    }
    if (reg < HPET_TN(0) || reg >= HPET_TN(HPET_TIMERS))
        return 0;
    unsigned i = (unsigned)(reg - HPET_TN(0)) / 0x20;
    const struct hpet_timer *t = &s->t[i];
    switch ((reg - HPET_TN(0)) % 0x20) {
    case HPET_TN_CFG:
        return t->cfg | (i == 0 ? HPET_TN_PER_CAP : 0) | HPET_TN_SIZE_CAP |
               (uint64_t)s->route_cap << 32;
    case HPET_TN_CMP:
        return t->cmp;
    default:
        return 0; /* FSB route (not supported), reserved */
    }
}

static void write_config(struct hpet *s, uint64_t v, int64_t now)
{
    uint64_t old = s->config;
    v &= HPET_CFG_ENABLE | (s->legacy_free ? 0 : HPET_CFG_LEG_RT);
    if (!(old & HPET_CFG_ENABLE) && (v & HPET_CFG_ENABLE)) {
        s->base_ns = now; /* counts on from the halted value */
        s->last = s->counter;
    } else if ((old & HPET_CFG_ENABLE) && !(v & HPET_CFG_ENABLE)) {
        s->counter = counter_at(s, now);
    }
    s->config = v;
}

#define TN_WRITABLE                                                                                \
    (HPET_TN_INT_TYPE | HPET_TN_INT_ENB | HPET_TN_PERIODIC | HPET_TN_VAL_SET | HPET_TN_32BIT |     \
     HPET_TN_ROUTE)

static void write_timer_cfg(struct hpet *s, unsigned i, uint64_t val, uint64_t mask)
{
    struct hpet_timer *t = &s->t[i];
    uint64_t m = mask & TN_WRITABLE & (i == 0 ? ~0ull : ~(uint64_t)HPET_TN_PERIODIC);
    uint64_t v = (t->cfg & ~m) | (val & m);
    unsigned route = (unsigned)(v & HPET_TN_ROUTE) >> HPET_TN_ROUTE_SHIFT;
    if ((m & HPET_TN_ROUTE) && (v ^ t->cfg) & HPET_TN_ROUTE && !(s->route_cap >> route & 1)) {
        vdev_warn(s->d,
                  "timer %u: INT_ROUTE_CNF %u is not in INT_ROUTE_CAP 0x%08" PRIx32 " (ignored)", i,
                  route, s->route_cap);
        v = (v & ~(uint64_t)HPET_TN_ROUTE) | (t->cfg & HPET_TN_ROUTE);
    }
    if (!(v & HPET_TN_INT_TYPE))
        s->isr &= ~(1ull << i); /* edge timers have no status */
    if (v & HPET_TN_32BIT) {
        t->cmp &= UINT32_MAX;
        t->period &= UINT32_MAX;
    }
    t->cfg = v;
}

static void write_timer_cmp(struct hpet_timer *t, uint64_t val, uint64_t mask)
{
    uint64_t m = mask & width(t);
    if (!m)
        return; /* the high half in 32-bit mode */
    if (!(t->cfg & HPET_TN_PERIODIC) || (t->cfg & HPET_TN_VAL_SET))
        t->cmp = (t->cmp & ~m) | (val & m);
    if (t->cfg & HPET_TN_PERIODIC)
        t->period = (t->period & ~m) | (val & m);
    t->cfg &= ~(uint64_t)HPET_TN_VAL_SET;
}

static void reg_write(struct hpet *s, uint64_t reg, uint64_t val, uint64_t mask, int64_t now)
{
    switch (reg) {
    case HPET_CFG:
        write_config(s, (s->config & ~mask) | (val & mask), now);
        return;
    case HPET_ISR:
        s->isr &= ~(val & mask); /* write 1 to clear */
        return;
    case HPET_COUNTER:
        if (!enabled(s)) /* writes to a running counter are ignored */
            s->counter = (s->counter & ~mask) | (val & mask);
        return;
    }
    if (reg < HPET_TN(0) || reg >= HPET_TN(HPET_TIMERS))
        return; /* read-only or reserved */
    unsigned i = (unsigned)(reg - HPET_TN(0)) / 0x20;
    switch ((reg - HPET_TN(0)) % 0x20) {
    case HPET_TN_CFG:
        write_timer_cfg(s, i, val, mask);
        break;
    case HPET_TN_CMP:
        write_timer_cmp(&s->t[i], val, mask);
        break;
    }
}

static uint64_t byte_mask(unsigned n)
{
    return n >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * n)) - 1;
}

static uint64_t hpet_read(struct vdev *d, uint64_t offset, unsigned size)
{
    struct hpet *s = vdev_state(d);
    if (size > 8 || offset >= HPET_WINDOW || size > HPET_WINDOW - offset)
        return 0; /* the bus never sends these; a defence only */
    pthread_mutex_lock(&s->lock);
    int64_t now = host_ns(s);
    catch_up(s, now);
    uint64_t v = 0;
    /* At most two registers: the one holding the first byte and the next. */
    for (unsigned done = 0; done < size;) {
        uint64_t at = offset + done, reg = at & ~7ull;
        unsigned shift = (unsigned)(at & 7), n = 8 - shift < size - done ? 8 - shift : size - done;
        uint64_t part = (reg_read(s, reg, now) >> (8 * shift)) & byte_mask(n);
        v |= part << (8 * done);
        done += n;
    }
    arm_timer(s, now);
    pthread_mutex_unlock(&s->lock);
    return v;
}

static void hpet_write(struct vdev *d, uint64_t offset, unsigned size, uint64_t value)
{
    struct hpet *s = vdev_state(d);
    if (size > 8 || offset >= HPET_WINDOW || size > HPET_WINDOW - offset)
        return;
    pthread_mutex_lock(&s->lock);
    int64_t now = host_ns(s);
    catch_up(s, now); /* matches before this write, by the rules before it */
    for (unsigned done = 0; done < size;) {
        uint64_t at = offset + done, reg = at & ~7ull;
        unsigned shift = (unsigned)(at & 7), n = 8 - shift < size - done ? 8 - shift : size - done;
        uint64_t mask = byte_mask(n) << (8 * shift);
        uint64_t val = ((value >> (8 * done)) & byte_mask(n)) << (8 * shift);
        reg_write(s, reg, val, mask, now);
        done += n;
    }
    update_lines(s);
    arm_timer(s, now);
    pthread_mutex_unlock(&s->lock);
}

/* ---- test seams ---- */

void hpet_set_clock(struct vdev *d, hpet_clock_fn fn, void *opaque)
{
    struct hpet *s = vdev_state(d);
    pthread_mutex_lock(&s->lock);
    s->counter = counter_at(s, host_ns(s));
    s->clock = fn ? fn : monotonic_clock;
    s->clock_opaque = opaque;
    int64_t now = host_ns(s);
    s->base_ns = now;
    s->last_fire = 0;
    s->armed = -2; /* whatever was armed, arm again */
    arm_timer(s, now);
    pthread_mutex_unlock(&s->lock);
}

bool hpet_legacy_free(struct vdev *d)
{
    return ((struct hpet *)vdev_state(d))->legacy_free;
}

void hpet_timer_run(struct vdev *d)
{
    struct hpet *s = vdev_state(d);
    pthread_mutex_lock(&s->lock);
    timer_run_locked(s);
    pthread_mutex_unlock(&s->lock);
}

/* ---- options and life-cycle ---- */

static const struct vdev_option hpet_options[] = {
    {.name = "frequency",
     .kind = VDEV_OPT_U64,
     .arg = "HZ",
     .def = "100000000",
     .help = "the main counter's rate, 10 MHz to 1 GHz (qvm's default is 14318180)",
     .min = HPET_MIN_HZ,
     .max = HPET_MAX_HZ},
    {.name = "legacy-free",
     .kind = VDEV_OPT_FLAG,
     .help = "no legacy replacement (LEG_RT_CAP clear): timers 0 and 1 use their routes only"},
    {.name = "intrmap",
     .kind = VDEV_OPT_STRING,
     .arg = "PIC:LINE",
     .help = "qvm 7's fixed routing: refused with a hint (the guest routes among 'lines')"},
    {.name = "lines",
     .kind = VDEV_OPT_STRING,
     .arg = "N[-M][,...]",
     .def = "20-23",
     .help = "IOAPIC lines the timers may be routed to (INT_ROUTE_CAP), 0-31; claimed"},
    {.name = NULL},
};

static void power_on(struct hpet *s)
{
    s->config = 0;
    s->isr = 0;
    s->counter = 0;
    s->last = 0;
    for (unsigned i = 0; i < HPET_TIMERS; i++)
        s->t[i] = (struct hpet_timer){.cfg = 0, .cmp = UINT64_MAX, .period = 0};
}

static int hpet_options_start(struct vdev *d)
{
    struct hpet *s = vdev_state(d);
    s->d = d;
    if (pthread_mutex_init(&s->lock, NULL))
        return vdev_error(d, vdev_pos(d), NULL, "cannot create a mutex");
    s->lock_ready = true;
    s->clock = monotonic_clock;
    s->timer_fd = -1;
    s->armed = -1;
    s->route_cap = 0x00f00000; /* lines 20-23: above the PCI INTx lines 16-19 */
    s->freq_hz = HPET_DEFAULT_HZ;
    s->lines_pos = vdev_pos(d);
    power_on(s);
    return 0;
}

/* "20-23" or "5,20-23": a mask of lines 0-31; -1 when malformed. */
static int parse_lines(const char *text, uint32_t *mask)
{
    uint32_t m = 0;
    const char *p = text;
    for (;;) {
        char *end;
        if (*p < '0' || *p > '9')
            return -1;
        unsigned long a = strtoul(p, &end, 10), b = a;
        if (*end == '-') {
            p = end + 1;
            if (*p < '0' || *p > '9')
                return -1;
            b = strtoul(p, &end, 10);
        }
        if (a > HPET_MAX_LINE || b > HPET_MAX_LINE || b < a)
            return -1;
        for (unsigned long l = a; l <= b; l++)
            m |= 1u << l;
        if (!*end)
            break;
        if (*end != ',')
            return -1;
        p = end + 1;
    }
    *mask = m;
    return 0;
}

static int hpet_option(struct vdev *d, const struct vdev_optval *v)
{
    struct hpet *s = vdev_state(d);
    if (!strcmp(v->opt->name, "frequency")) {
        s->freq_hz = v->num;
        return 0;
    }
    if (!strcmp(v->opt->name, "legacy-free")) {
        s->legacy_free = true;
        return 0;
    }
    if (!strcmp(v->opt->name, "intrmap"))
        return vdev_error(d, v->pos,
                          "leave it out: the guest routes each timer to one of the 'lines' "
                          "(default 20-23), or in legacy mode to ISA IRQ 0 and 8",
                          "option 'intrmap': fixed timer routing is not how this HPET works");
    if (strcmp(v->opt->name, "lines"))
        return 0;
    if (parse_lines(v->text, &s->route_cap))
        return vdev_error(d, v->pos, "lines 20-23, or lines 5,20-23",
                          "lines '%s': expected IOAPIC lines 0-31 as N or N-M, comma-separated",
                          v->text);
    s->lines_pos = v->pos;
    return 0;
}

/* The lines in INT_ROUTE_CAP become the device's; the legacy ones are borrowed. */
static int hpet_assign(struct vdev *d)
{
    struct hpet *s = vdev_state(d);
    for (unsigned r = 0; r < NLINES; r++) {
        if (!(s->route_cap >> r & 1))
            continue;
        if (vdev_irq_claim_line(d, "ioapic", r, 0, s->lines_pos, &s->gsi[r]))
            return -1;
        s->claimed[r] = true;
    }
    const unsigned legacy[2] = {HPET_LEGACY_LINE0, HPET_LEGACY_LINE1};
    for (unsigned i = 0; i < 2; i++) {
        unsigned r = legacy[i];
        if (s->claimed[r])
            continue;
        if (vdev_irq_claim_line(d, "ioapic", r, VDEV_LINE_BORROW, vdev_pos(d), &s->gsi[r]))
            return -1;
        s->claimed[r] = true;
    }
    return 0;
}

static int hpet_configured(struct vdev *d)
{
    struct hpet *s = vdev_state(d);
    s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (s->timer_fd < 0)
        return vdev_error(d, vdev_pos(d), NULL, "timerfd: %s", strerror(errno));
    struct vdev_err err;
    s->watch = vdev_watch_fd(d, s->timer_fd, timer_ready, s, &err);
    if (!s->watch)
        return vdev_error(d, vdev_pos(d), NULL, "timer: %s", err.msg);
    return 0;
}

static void hpet_reset(struct vdev *d)
{
    struct hpet *s = vdev_state(d);
    pthread_mutex_lock(&s->lock);
    power_on(s);
    update_lines(s);
    arm_timer(s, host_ns(s));
    pthread_mutex_unlock(&s->lock);
}

static void hpet_status(struct vdev *d, FILE *out)
{
    struct hpet *s = vdev_state(d);
    pthread_mutex_lock(&s->lock);
    int64_t now = host_ns(s);
    catch_up(s, now);
    fprintf(out,
            "counter 0x%016" PRIx64 " (%s%s); status 0x%" PRIx64 "; lines 0x%08" PRIx32 "; %" PRIu64
            " interrupts",
            counter_at(s, now), enabled(s) ? "running" : "halted",
            (s->config & HPET_CFG_LEG_RT) ? ", legacy replacement" : "", s->isr, s->route_cap,
            s->irqs);
    pthread_mutex_unlock(&s->lock);
}

static void hpet_terminate(struct vdev *d)
{
    struct hpet *s = vdev_state(d);
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

unsigned hpet_number(struct vdev *d)
{
    struct vdev_machine *m = vdev_machine_of(d);
    unsigned nth = 0;
    for (size_t i = 0, n = vdev_machine_device_count(m); i < n; i++) {
        struct vdev *o = vdev_machine_device(m, i);
        if (o == d)
            break;
        nth += !strcmp(vdev_type_name(o), vdev_type_name(d));
    }
    return nth;
}

VDEV_MODULE(hpet, .name = "hpet", .summary = "IA-PC High Precision Event Timer (3 timers, 100 MHz)",
            .options = hpet_options, .state_size = sizeof(struct hpet), .places = VDEV_PLACE_MEM,
            .default_loc = "mem:0xfed00000", .window_size = HPET_WINDOW,
            .window = {.read = hpet_read, .write = hpet_write, .sizes = 0xf},
            .options_start = hpet_options_start, .option = hpet_option, .assign = hpet_assign,
            .configured = hpet_configured, .reset = hpet_reset, .status = hpet_status,
            .terminate = hpet_terminate, .gen_acpi = hpet_gen_acpi,
            .gen_acpi_tables = hpet_gen_acpi_tables);
