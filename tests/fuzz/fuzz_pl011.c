/* The PL011 UART (vdevs/pl011) under any sequence of register accesses of any width, at
 * register offsets and elsewhere (FIFO and holding modes, trigger levels, loopback with
 * overruns and breaks, modem lines, interrupt masks and clears, resets), with bytes waiting
 * on the host side. Asserted after every step:
 *   - every read returns what a model of the documented device returns (the FIFO's
 *     characters with their error bits in order, host bytes never overrunning, loopback
 *     bytes that may);
 *   - FR never shows BUSY or TXFF (transmission is instantaneous);
 *   - the interrupt line the embedder sees is asserted exactly when RIS & IMSC is not 0
 *     (the model's), and a read of MIS agrees with the line it saw;
 *   - a reset drops the line.
 * Input: u8 n (bit 7: a pipe, else a regular file), n & 0x7f bytes the host has for the guest
 * (`input`), then steps of 4 bytes: op (bits 0-4 which offset, bits 5-6: read, read, write,
 * reset or event-loop turn), width (1, 2 or 4 bytes), value (16 bits). */
/* FUZZ_ARGS: -max_len=4096 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"

extern const struct vdev_type vdev_module_pl011;

#define BASE 0x10000000ull
#define GSI  5

static bool line[32];

static int track_line(void *ctx, uint32_t gsi, bool level)
{
    if (gsi < 32)
        line[gsi] = level;
    return 0;
}

/* The offsets a step picks from: every register, two ID words, reserved words and offsets
 * that are no register's. */
static const uint16_t offsets[] = {0x000, 0x004, 0x018, 0x020, 0x024, 0x028, 0x02c, 0x030,
                                   0x034, 0x038, 0x03c, 0x040, 0x044, 0x048, 0x000, 0x030,
                                   0x02c, 0x038, 0x044, 0xfe8, 0xffc, 0x008, 0x080, 0x031,
                                   0x002, 0x045, 0x000, 0x02c, 0x030, 0x034, 0x044, 0x000};

/* ---- the model (pl011_module.c's header comment, docs/config.md) ---- */

enum { UARTEN = 0x1, LBE = 0x80, TXE = 0x100, RXE = 0x200, FEN = 0x10, BRK = 0x01 };
enum { I_RX = 0x10, I_TX = 0x20, I_RT = 0x40, I_FE = 0x80, I_PE = 0x100, I_BE = 0x200 };
enum { I_OE = 0x400 };

struct model {
    uint16_t fifo[32];
    unsigned head, count;
    bool oe_next;
    uint8_t rsr, ilpr, fbrd, lcr_h, ifls, dmacr;
    uint16_t ibrd, cr, imsc, ris, modem;
    const uint8_t *host; /* bytes the host still has for the guest */
    size_t nhost;
};

static unsigned cap(const struct model *s)
{
    return (s->lcr_h & FEN) ? 32 : 1;
}

static unsigned trig(const struct model *s)
{
    static const unsigned eighths[8] = {1, 2, 4, 6, 7, 7, 7, 7};
    return (s->lcr_h & FEN) ? 4 * eighths[(s->ifls >> 3) & 7] : 1;
}

static bool rx_on(const struct model *s)
{
    return (s->cr & UARTEN) && (s->cr & RXE);
}

static void receive(struct model *s, uint16_t e)
{
    if (s->count >= cap(s)) {
        s->rsr |= 0x8;
        s->ris |= I_OE;
        s->oe_next = true;
        return;
    }
    if (s->oe_next)
        e |= 0x800;
    s->oe_next = false;
    s->fifo[(s->head + s->count++) % 32] = e;
    s->ris |= (e & 0x100 ? I_FE : 0) | (e & 0x200 ? I_PE : 0) | (e & 0x400 ? I_BE : 0);
    s->ris |= s->count >= trig(s) ? I_RX : I_RT;
}

static uint16_t pop(struct model *s)
{
    if (!s->count)
        return 0;
    uint16_t e = s->fifo[s->head];
    s->head = (s->head + 1) % 32;
    s->count--;
    s->rsr = (uint8_t)((s->rsr & 0x8) | (e >> 8));
    if (s->count < trig(s))
        s->ris &= ~I_RX;
    if (!s->count)
        s->ris &= ~I_RT;
    return e;
}

static void retrigger(struct model *s)
{
    if (!s->count)
        s->ris &= ~(I_RX | I_RT);
    else if (s->count >= trig(s))
        s->ris |= I_RX;
    else
        s->ris = (uint16_t)((s->ris & ~I_RX) | I_RT);
}

/* Host bytes move in while the receiver listens and has room, never overrunning. */
static void feed(struct model *s)
{
    if (!rx_on(s) || (s->cr & LBE))
        return;
    while (s->nhost && s->count < cap(s)) {
        receive(s, *s->host++);
        s->nhost--;
    }
}

static void set_modem(struct model *s)
{
    uint16_t in = 0x7; /* a connected peer: DCD, DSR, CTS */
    if (s->cr & LBE)
        in = (uint16_t)((s->cr & 0x800 ? 0x1 : 0) | (s->cr & 0x400 ? 0x2 : 0) |
                        (s->cr & 0x1000 ? 0x4 : 0) | (s->cr & 0x2000 ? 0x100 : 0));
    uint16_t ch = s->modem ^ in;
    s->ris |= (uint16_t)((ch & 0x1 ? 0x2 : 0) | (ch & 0x2 ? 0x8 : 0) | (ch & 0x4 ? 0x4 : 0) |
                         (ch & 0x100 ? 0x1 : 0));
    s->modem = in;
}

static void power_on(struct model *s)
{
    s->head = s->count = 0;
    s->oe_next = false;
    s->rsr = s->ilpr = s->fbrd = s->lcr_h = s->dmacr = 0;
    s->ibrd = s->imsc = s->ris = 0;
    s->cr = TXE | RXE;
    s->ifls = 0x12;
    s->modem = 0x7;
}

static bool level(const struct model *s)
{
    return (s->ris & s->imsc) != 0;
}

static uint32_t model_read(struct model *s, unsigned off)
{
    static const uint8_t ids[8] = {0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
    uint32_t v;
    if (off % 4)
        return 0;
    if (off >= 0xfe0)
        return ids[(off - 0xfe0) / 4];
    switch (off) {
    case 0x000:
        v = pop(s);
        feed(s);
        return v;
    case 0x004:
        return s->rsr;
    case 0x018:
        return s->modem | 0x80 | (s->count ? 0 : 0x10) | (s->count >= cap(s) ? 0x40 : 0);
    case 0x020:
        return s->ilpr;
    case 0x024:
        return s->ibrd;
    case 0x028:
        return s->fbrd;
    case 0x02c:
        return s->lcr_h;
    case 0x030:
        return s->cr;
    case 0x034:
        return s->ifls;
    case 0x038:
        return s->imsc;
    case 0x03c:
        return s->ris;
    case 0x040:
        return s->ris & s->imsc;
    case 0x048:
        return s->dmacr;
    default:
        return 0;
    }
}

static void model_write(struct model *s, unsigned off, uint32_t v)
{
    if (off % 4)
        return;
    switch (off) {
    case 0x000: /* to the host (not modelled), or in loopback to the receiver */
        if ((s->cr & LBE) && rx_on(s))
            receive(s, v & 0xff);
        s->ris |= I_TX;
        break;
    case 0x004:
        s->rsr = 0;
        break;
    case 0x020:
        s->ilpr = (uint8_t)v;
        break;
    case 0x024:
        s->ibrd = (uint16_t)v;
        break;
    case 0x028:
        s->fbrd = v & 0x3f;
        break;
    case 0x02c: {
        uint8_t old = s->lcr_h;
        s->lcr_h = (uint8_t)v;
        if ((old ^ v) & FEN)
            retrigger(s);
        if (!(old & BRK) && (v & BRK) && (s->cr & LBE) && rx_on(s))
            receive(s, 0x400);
        feed(s);
        break;
    }
    case 0x030:
        s->cr = v & 0xff87;
        set_modem(s);
        feed(s);
        break;
    case 0x034: {
        unsigned before = trig(s);
        s->ifls = v & 0x3f;
        if (trig(s) != before)
            retrigger(s);
        break;
    }
    case 0x038:
        s->imsc = v & 0x7ff;
        break;
    case 0x044:
        s->ris &= (uint16_t) ~(v & 0x7ff);
        break;
    case 0x048:
        s->dmacr = v & 7;
        break;
    }
}

/* ---- the target ---- */

static void fail(const char *what, unsigned step, unsigned off, unsigned a, unsigned b)
{
    fprintf(stderr, "step %u, offset 0x%03x: %s (device 0x%x, model 0x%x)\n", step, off, what, a,
            b);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool registered;
    struct vdev_err err;
    if (!registered) {
        if (vdev_register_type(&vdev_module_pl011, &err))
            abort();
        registered = true;
    }
    struct fz_in in = {data, size};
    uint8_t first = fz_u8(&in), hostbytes[127];
    size_t nhost = fz_take(&in, hostbytes, first & 0x7f);
    bool piped = first & 0x80;

    /* The host input is a regular file (a memfd: read on demand by the vCPU side) or a pipe
     * (watched by the event loop, which this target turns): a file's bytes are there at
     * once, a pipe's (all written up front, fewer than one read takes) at the loop's first
     * turn. */
    int mfd = -1, pfd[2] = {-1, -1};
    if (piped) {
        if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) || write(pfd[1], hostbytes, nhost) != (ssize_t)nhost)
            abort();
    } else {
        mfd = memfd_create("fuzz-pl011-in", MFD_CLOEXEC);
        if (mfd < 0 || write(mfd, hostbytes, nhost) != (ssize_t)nhost || lseek(mfd, 0, SEEK_SET))
            abort();
    }
    char conf[160];
    snprintf(conf, sizeof(conf),
             "ram 64K vdev pl011 loc 0x10000000 intr ioapic:5 hostdev /dev/null "
             "input /proc/self/fd/%d",
             piped ? pfd[0] : mfd);
    struct fz_machine fm;
    fz_machine_build(&fm, conf);
    fm.ops.set_irq_line = track_line; /* levels, not only raises */
    memset(line, 0, sizeof(line));

    struct model s = {0};
    power_on(&s);
    s.host = hostbytes;
    s.nhost = piped ? 0 : nhost;
    bool arrived = !piped;

    for (unsigned step = 0; fz_left(&in) >= 4; step++) {
        uint8_t op = fz_u8(&in), w = fz_u8(&in);
        uint16_t v16 = fz_u16(&in);
        unsigned off = offsets[op & 31], width = 1u << (w % 3);
        uint32_t mask = width == 4 ? 0xffffffffu : (1u << (8 * width)) - 1;
        uint64_t val = v16 & mask;
        switch ((op >> 5) & 3) {
        case 0:
        case 1: { /* a read */
            bool before = line[GSI];
            if (vdev_machine_access(fm.m, VDEV_SPACE_MEM, BASE + off, width, false, &val) !=
                VDEV_ACCESS_OK)
                fail("read refused", step, off, width, 0);
            uint32_t want = model_read(&s, off) & mask;
            if (val != want)
                fail("register read", step, off, (unsigned)val, want);
            if (off == 0x018 && (val & 0x28))
                fail("FR shows BUSY or TXFF", step, off, (unsigned)val, 0);
            if (off == 0x040 && width >= 2 && before != (val != 0))
                fail("MIS disagrees with the line", step, off, before, (unsigned)val);
            break;
        }
        case 2:
            if (vdev_machine_access(fm.m, VDEV_SPACE_MEM, BASE + off, width, true, &val) !=
                VDEV_ACCESS_OK)
                fail("write refused", step, off, width, 0);
            model_write(&s, off, (uint32_t)val);
            break;
        case 3:
            if (v16 & 1) { /* a machine reset: host bytes not yet delivered wait on */
                vdev_machine_reset(fm.m);
                power_on(&s);
                if (line[GSI])
                    fail("the line stays up across a reset", step, off, 1, 0);
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
            fail("interrupt line", step, off, line[GSI], level(&s));
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
