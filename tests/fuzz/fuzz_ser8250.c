/* The 16550A UART (vdevs/ser8250) under any sequence of register accesses (DLAB, FIFO
 * control, loopback, modem control, interrupts, resets) with bytes waiting on the host
 * side. Asserted after every step:
 *   - every register read returns what a model of the documented chip returns (the FIFO's
 *     bytes in order, host bytes never overrunning, loopback bytes that may);
 *   - the interrupt line the embedder sees is asserted exactly when OUT2 is set and an
 *     enabled source is pending (the model), and a read of IIR agrees with the line it saw;
 *   - a reset drops the line.
 * Input: u8 n (bit 7: a pipe, else a regular file), n & 0x7f bytes the host has for the guest
 * (`input`), then steps of 2 bytes: op (bits 0-2 register, bits 3-4: read,
 * write, reset) and value. */
/* FUZZ_ARGS: -max_len=4096 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"

extern const struct vdev_type vdev_module_ser8250;

#define PORT 0x3f8
#define GSI  4

static bool line[32];
static unsigned long line_changes;

static int track_line(void *ctx, uint32_t gsi, bool level)
{
    if (gsi < 32) {
        line[gsi] = level;
        line_changes++;
    }
    return 0;
}

/* ---- the model (docs and the header comment of vdevs/ser8250/ser8250.c) ---- */

struct model {
    uint8_t ier, lcr, mcr, scr, fcr, msr;
    bool oe, thre_pending, in_started;
    uint16_t divisor;
    uint8_t fifo[16];
    unsigned head, count;
    const uint8_t *host; /* bytes the host still has for the guest */
    size_t nhost;
};

static unsigned capacity(const struct model *s)
{
    return (s->fcr & 1) ? 16 : 1;
}

static void push(struct model *s, uint8_t b)
{
    if (s->count >= capacity(s)) {
        s->oe = true; /* overrun: the byte is lost */
        return;
    }
    s->fifo[(s->head + s->count++) % 16] = b;
}

static uint8_t pop(struct model *s)
{
    if (!s->count)
        return 0;
    uint8_t b = s->fifo[s->head];
    s->head = (s->head + 1) % 16;
    s->count--;
    return b;
}

/* Host bytes move in while there is room, never overrunning; not in loopback, not before
 * the guest looked for input. */
static void feed(struct model *s)
{
    if ((s->mcr & 0x10) || !s->in_started)
        return;
    while (s->nhost && s->count < capacity(s)) {
        push(s, *s->host++);
        s->nhost--;
    }
}

static uint8_t lsr(const struct model *s)
{
    return (s->count ? 0x01 : 0) | (s->oe ? 0x02 : 0) | 0x60;
}

static uint8_t source(const struct model *s)
{
    static const unsigned trig[4] = {1, 4, 8, 14};
    if ((s->ier & 4) && s->oe)
        return 0x06;
    if ((s->ier & 1) && s->count)
        return (s->fcr & 1) && s->count < trig[s->fcr >> 6] ? 0x0c : 0x04;
    if ((s->ier & 2) && s->thre_pending)
        return 0x02;
    if ((s->ier & 8) && (s->msr & 0x0f))
        return 0x00;
    return 0x01;
}

static bool level(const struct model *s)
{
    return (s->mcr & 0x08) && source(s) != 0x01;
}

static void set_inputs(struct model *s)
{
    uint8_t in = 0xb0; /* a connected peer: DCD, DSR, CTS */
    if (s->mcr & 0x10)
        in = (uint8_t)((s->mcr & 0x02 ? 0x10 : 0) | (s->mcr & 0x01 ? 0x20 : 0) |
                       (s->mcr & 0x04 ? 0x40 : 0) | (s->mcr & 0x08 ? 0x80 : 0));
    uint8_t changed = s->msr ^ in, d = 0;
    if (changed & 0x10)
        d |= 0x01;
    if (changed & 0x20)
        d |= 0x02;
    if ((s->msr & 0x40) && !(in & 0x40))
        d |= 0x04;
    if (changed & 0x80)
        d |= 0x08;
    s->msr = (uint8_t)((s->msr & 0x0f) | d | in);
}

static void power_on(struct model *s)
{
    s->ier = s->lcr = s->mcr = s->scr = s->fcr = 0;
    s->msr = 0xb0;
    s->oe = s->thre_pending = false;
    s->divisor = 12;
    s->head = s->count = 0;
}

static uint8_t model_read(struct model *s, unsigned reg)
{
    bool dlab = s->lcr & 0x80;
    uint8_t v = 0;
    switch (reg) {
    case 0:
        if (dlab)
            return (uint8_t)s->divisor;
        v = pop(s);
        s->in_started = true;
        feed(s);
        return v;
    case 1:
        return dlab ? (uint8_t)(s->divisor >> 8) : s->ier;
    case 2:
        v = source(s);
        if (v == 0x02)
            s->thre_pending = false;
        return (uint8_t)(v | ((s->fcr & 1) ? 0xc0 : 0));
    case 3:
        return s->lcr;
    case 4:
        return s->mcr;
    case 5:
        if (!s->in_started) {
            s->in_started = true;
            feed(s);
        }
        v = lsr(s);
        s->oe = false;
        return v;
    case 6:
        v = s->msr;
        s->msr &= 0xf0;
        return v;
    default:
        return s->scr;
    }
}

static void model_write(struct model *s, unsigned reg, uint8_t v)
{
    bool dlab = s->lcr & 0x80;
    switch (reg) {
    case 0:
        if (dlab) {
            s->divisor = (uint16_t)((s->divisor & 0xff00) | v);
        } else {
            if (s->mcr & 0x10)
                push(s, v);
            s->thre_pending = true;
        }
        break;
    case 1:
        if (dlab) {
            s->divisor = (uint16_t)((s->divisor & 0xff) | v << 8);
        } else {
            bool etbei_changed = (s->ier ^ v) & 2;
            s->ier = v & 0x0f;
            if (etbei_changed)
                s->thre_pending = s->ier & 2;
        }
        break;
    case 2: {
        bool was = s->fcr & 1;
        s->fcr = v & 0xc1;
        if (was != (bool)(v & 1) || (v & 2))
            s->head = s->count = 0;
        feed(s);
        break;
    }
    case 3:
        s->lcr = v;
        break;
    case 4: {
        bool was_loop = s->mcr & 0x10;
        s->mcr = v & 0x1f;
        set_inputs(s);
        if (was_loop && !(s->mcr & 0x10))
            feed(s);
        break;
    }
    case 7:
        s->scr = v;
        break;
    }
}

/* ---- the target ---- */

static void fail(const char *what, unsigned step, unsigned a, unsigned b)
{
    fprintf(stderr, "step %u: %s (device 0x%x, model 0x%x)\n", step, what, a, b);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool registered;
    struct vdev_err err;
    if (!registered) {
        if (vdev_register_type(&vdev_module_ser8250, &err))
            abort();
        registered = true;
    }
    struct fz_in in = {data, size};
    uint8_t first = fz_u8(&in), hostbytes[127];
    size_t nhost = fz_take(&in, hostbytes, first & 0x7f);
    bool piped = first & 0x80;

    /* The host input is a regular file (a memfd: read on demand by the vCPU side) or a pipe
     * (watched by the event loop, which this target runs). Either way when bytes arrive is
     * deterministic: a file's at once; a pipe's (all written up front, fewer than one read
     * takes) at the loop's first turn. */
    int mfd = -1, pfd[2] = {-1, -1};
    if (piped) {
        if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) || write(pfd[1], hostbytes, nhost) != (ssize_t)nhost)
            abort();
    } else {
        mfd = memfd_create("fuzz-ser-in", MFD_CLOEXEC);
        if (mfd < 0 || write(mfd, hostbytes, nhost) != (ssize_t)nhost || lseek(mfd, 0, SEEK_SET))
            abort();
    }
    char conf[128];
    snprintf(conf, sizeof(conf), "ram 64K vdev ser8250 hostdev /dev/null input /proc/self/fd/%d",
             piped ? pfd[0] : mfd);
    struct fz_machine fm;
    fz_machine_build(&fm, conf);
    fm.ops.set_irq_line = track_line; /* levels, not only raises */
    memset(line, 0, sizeof(line));

    struct model s = {0};
    power_on(&s);
    s.host = hostbytes;
    s.nhost = piped ? 0 : nhost; /* a pipe's bytes come with the loop's first turn */
    bool arrived = !piped;

    for (unsigned step = 0; fz_left(&in) >= 2; step++) {
        uint8_t op = fz_u8(&in), v = fz_u8(&in);
        unsigned reg = op & 7;
        uint64_t val = v;
        switch ((op >> 3) & 3) {
        case 0:
        case 1: { /* a read */
            bool before = line[GSI];
            if (vdev_machine_access(fm.m, VDEV_SPACE_IO, PORT + reg, 1, false, &val) !=
                VDEV_ACCESS_OK)
                fail("read refused", step, reg, 0);
            uint8_t want = model_read(&s, reg);
            if ((uint8_t)val != want)
                fail(reg == 2 ? "IIR" : "register read", step, (unsigned)val, want);
            /* What IIR says was pending is what the line showed before the read. */
            if (reg == 2 && before != ((s.mcr & 0x08) && !(val & 1)))
                fail("IIR disagrees with the line", step, before, (unsigned)val);
            break;
        }
        case 2:
            if (vdev_machine_access(fm.m, VDEV_SPACE_IO, PORT + reg, 1, true, &val) !=
                VDEV_ACCESS_OK)
                fail("write refused", step, reg, 0);
            model_write(&s, reg, v);
            break;
        case 3:
            if (v & 1) { /* a machine reset: host bytes not yet delivered wait on */
                vdev_machine_reset(fm.m);
                power_on(&s);
                s.in_started = false;
                if (line[GSI])
                    fail("the line stays up across a reset", step, 1, 0);
            } else { /* the event thread's turn: a pipe's bytes arrive, room is filled */
                vdev_machine_poll(fm.m, 0);
                if (!arrived) {
                    arrived = true;
                    s.nhost = nhost;
                }
                feed(&s);
            }
            break;
        }
        if (line[GSI] != level(&s))
            fail("interrupt line", step, line[GSI], level(&s));
    }
    fz_machine_free(&fm);
    if (piped) {
        close(pfd[0]);
        close(pfd[1]);
    } else {
        close(mfd);
    }
    return 0;
}
