/* The CMOS RTC (vdevs/mc146818) under any sequence of port accesses, clock steps, timer runs
 * and resets, on a fake clock (the module's test seam). Asserted after every step:
 *   - port 0x70 reads 0xff; register D reads VRT (0x80); A and B read what was written
 *     (UIP read-only, SET clearing UIE, a reset clearing the interrupt enables); RAM and
 *     alarm bytes read what was written; UIP is never set while the clock stands;
 *   - while the clock runs every time field is valid for register B's mode (BCD digits,
 *     12/24-hour); while it stands a field the guest wrote reads back as written;
 *   - register C: IRQF is set exactly when an enabled flag is; a raised line means IRQF;
 *     after the read the line is down, and a second read with the clock unmoved is 0;
 *   - the line is never up without an enable bit in B, and a reset drops it.
 * Input: u32 start (seconds after 2000-01-01), u32 nanoseconds, then steps of 2 bytes: op
 * (bits 0-1: index write/read, data read, data write, clock; bits 2-5 refine) and value. */
/* FUZZ_ARGS: -max_len=4096 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../vdevs/mc146818/mc146818.h"
#include "fuzz_common.h"

extern const struct vdev_type vdev_module_mc146818;

#define PORT 0x70
#define GSI  8
#define NS   1000000000LL

static bool line;
static struct timespec fake;

static int track_line(void *ctx, uint32_t gsi, bool level)
{
    if (gsi == GSI)
        line = level;
    return 0;
}

static void fake_clock(void *opaque, struct timespec *now)
{
    *now = fake;
}

static void advance(int64_t ns)
{
    int64_t t = fake.tv_nsec + ns;
    fake.tv_sec += t / NS;
    fake.tv_nsec = t % NS;
}

struct model {
    uint8_t index, a, b;
    uint8_t cmos[RTC_CMOS_SIZE];
    bool written[RTC_CMOS_SIZE]; /* a time byte written while the clock stands */
    bool moved;                  /* the clock moved since the last read of C */
};

static bool is_time(unsigned r)
{
    return r == 0 || r == 2 || r == 4 || (r >= 6 && r <= 9) || r == RTC_CENTURY;
}

static bool runs(const struct model *s)
{
    return (s->a & 0x60) != 0x60 && !(s->b & RTC_B_SET);
}

static void set_ab(struct model *s, uint8_t a, uint8_t b)
{
    if (b & RTC_B_SET)
        b &= (uint8_t)~RTC_B_UIE;
    bool was = runs(s);
    s->a = a;
    s->b = b;
    if (was && !runs(s))
        memset(s->written, 0, sizeof(s->written)); /* a new snapshot */
}

static void fail(const char *what, unsigned step, unsigned reg, unsigned got)
{
    fprintf(stderr, "step %u: %s (register 0x%02x read 0x%02x)\n", step, what, reg, got);
    abort();
}

/* A field of the running clock in register B's format, within [lo, hi]. */
static bool field_ok(uint8_t v, uint8_t b, unsigned lo, unsigned hi)
{
    if (!(b & RTC_B_DM) && ((v & 0x0f) > 9 || (v >> 4) > 9))
        return false;
    unsigned x = rtc_from_reg(v, b);
    return x >= lo && x <= hi;
}

static bool time_ok(unsigned r, uint8_t v, uint8_t b)
{
    switch (r) {
    case RTC_SECONDS:
    case RTC_MINUTES:
        return field_ok(v, b, 0, 59);
    case RTC_HOURS:
        return (b & RTC_B_24H) ? field_ok(v, b, 0, 23) : field_ok(v & 0x7f, b, 1, 12);
    case RTC_DAY_OF_WEEK:
        return field_ok(v, b, 1, 7);
    case RTC_DAY_OF_MONTH:
        return field_ok(v, b, 1, 31);
    case RTC_MONTH:
        return field_ok(v, b, 1, 12);
    default: /* year, century */
        return field_ok(v, b, 0, 99);
    }
}

static uint8_t port(struct fz_machine *fm, unsigned p, bool write, uint8_t v, unsigned step)
{
    uint64_t val = v;
    if (vdev_machine_access(fm->m, VDEV_SPACE_IO, p, 1, write, &val) != VDEV_ACCESS_OK)
        fail("access refused", step, p, 0);
    return (uint8_t)val;
}

static void check_read(struct model *s, unsigned r, uint8_t v, bool before, unsigned step)
{
    if (is_time(r)) {
        if (runs(s) && !time_ok(r, v, s->b))
            fail("time field invalid for the mode", step, r, v);
        if (!runs(s) && s->written[r] && v != s->cmos[r])
            fail("a time byte written while stopped", step, r, v);
        return;
    }
    switch (r) {
    case RTC_REG_A:
        if ((v & 0x7f) != s->a || ((v & RTC_A_UIP) && !runs(s)))
            fail("register A", step, r, v);
        break;
    case RTC_REG_B:
        if (v != s->b)
            fail("register B", step, r, v);
        break;
    case RTC_REG_C:
        if ((bool)(v & RTC_C_IRQF) != (bool)(v & s->b & 0x70) || (v & 0x0f))
            fail("register C: IRQF disagrees with the flags", step, r, v);
        if (before && !(v & RTC_C_IRQF))
            fail("register C: the line was up without IRQF", step, r, v);
        if (line)
            fail("register C: the line stays up after the read", step, r, v);
        if (!s->moved && v)
            fail("register C: flags without the clock moving", step, r, v);
        s->moved = false;
        break;
    case RTC_REG_D:
        if (v != RTC_D_VRT)
            fail("register D", step, r, v);
        break;
    default:
        if (v != s->cmos[r])
            fail("RAM", step, r, v);
    }
}

static void model_write(struct model *s, unsigned r, uint8_t v)
{
    if (is_time(r)) {
        if (!runs(s)) {
            s->cmos[r] = v;
            s->written[r] = true;
        }
    } else if (r == RTC_REG_A) {
        set_ab(s, v & 0x7f, s->b);
    } else if (r == RTC_REG_B) {
        set_ab(s, s->a, v);
    } else if (r != RTC_REG_C && r != RTC_REG_D) {
        s->cmos[r] = v;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool registered;
    struct vdev_err err;
    if (!registered) {
        if (vdev_register_type(&vdev_module_mc146818, &err))
            abort();
        registered = true;
    }
    struct fz_in in = {data, size};
    fake.tv_sec = 946684800 + (time_t)fz_u32(&in); /* 2000-01-01 + up to 136 years */
    fake.tv_nsec = fz_u32(&in) % NS;

    struct fz_machine fm;
    fz_machine_build(&fm, "ram 64K vdev mc146818");
    fm.ops.set_irq_line = track_line;
    line = false;
    struct vdev *d = vdev_machine_device(fm.m, 0);
    mc146818_set_clock(d, fake_clock, NULL);

    struct model s = {.a = 0x26, .b = RTC_B_24H, .moved = true};
    for (unsigned step = 0; fz_left(&in) >= 2; step++) {
        uint8_t op = fz_u8(&in), v = fz_u8(&in);
        bool before = line;
        switch (op & 3) {
        case 0:
            if (op & 4) {
                if (port(&fm, PORT, false, 0, step) != 0xff)
                    fail("port 0x70 reads", step, PORT, 0);
            } else {
                port(&fm, PORT, true, v, step);
                s.index = v & 0x7f;
            }
            break;
        case 1:
            check_read(&s, s.index, port(&fm, PORT + 1, false, 0, step), before, step);
            break;
        case 2:
            port(&fm, PORT + 1, true, v, step);
            model_write(&s, s.index, v);
            break;
        case 3:
            switch ((op >> 2) & 3) {
            case 0:
                advance((int64_t)v * 1000 * ((op >> 4) + 1)); /* up to 4 ms in us */
                break;
            case 1:
                advance((int64_t)v * 1000000 * ((op >> 4) + 1)); /* up to 4 s in ms */
                break;
            case 2:
                advance((int64_t)v * NS * ((op >> 4) * 60 + 1)); /* up to 64 h in s */
                break;
            default:
                if (v & 1) {
                    vdev_machine_reset(fm.m);
                    s.b &= (uint8_t) ~(RTC_B_PIE | RTC_B_AIE | RTC_B_UIE | RTC_B_SQWE);
                    if (line)
                        fail("the line stays up across a reset", step, 0, 0);
                } else {
                    mc146818_timer_run(d);
                }
                continue;
            }
            s.moved = true;
            break;
        }
        if (line && !(s.b & 0x70))
            fail("the line is up with no interrupt enabled", step, RTC_REG_B, s.b);
    }
    fz_machine_free(&fm);
    return 0;
}
