/* The arm64 platform's power button, a PL061 GPIO (vmm/arm64/arm64_power.c), under any
 * sequence of guest register accesses (any offset in its page, 1/2/4/8 bytes) and button
 * presses and releases. Asserted after every step, from the guest's own view:
 *   - the SPI is up exactly when GPIOMIS is non-zero, and GPIOMIS = GPIORIS & GPIOIE;
 *   - level-sensed pins' status follows their level (GPIOIS, GPIOIEV) whatever IC wrote;
 *   - an edge-sensed pin that changed latches its status when the edge is one it senses
 *     (both, or the one GPIOIEV names), and no edge-sensed status appears without one;
 *   - the data register at mask M reads the pins & M, an input pin 3 being the button;
 *   - the PrimeCell ID registers never change.
 * Input: steps of 4 bytes: op (bits 0-1: read, write, press, release; bits 2-3: size),
 * offset (u16, masked to the page), value (u8). */
/* FUZZ_ARGS: -max_len=4096 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vdev/vdev.h>

#include "arm64_platform.h"
#include "arm64_power.h"
#include "fuzz_common.h"

static bool line, pressed;

static int track_line(void *ctx, uint32_t gsi, bool level)
{
    if (gsi == ARM64_SPI_BASE + ARM64_GPIO_SPI)
        line = level;
    return 0;
}

static void quiet(void *ctx, enum vdev_log_level level, const char *who, const char *msg)
{
}

static struct vdev_machine *machine(void)
{
    static struct vdev_embedder_ops ops = {
        .size = sizeof(ops), .set_irq_line = track_line, .log = quiet};
    struct vdev_err err = {0};
    struct vdev_machine *m = vdev_machine_new(&ops, NULL);
    if (!m || arm64_platform_describe(m, &err) ||
        vdev_machine_parse_string(m, "fuzz.conf", "ram 0x40000000,1M", &err) ||
        vdev_machine_build(m, &err)) {
        fprintf(stderr, "fuzz_arm64_gpio: %s\n", err.msg);
        abort();
    }
    return m;
}

static uint64_t rd(struct vdev_machine *m, uint64_t off)
{
    uint64_t v = 0;
    if (arm64_mmio_access(m, ARM64_GPIO_BASE + off, 4, false, &v) != VDEV_ACCESS_OK)
        abort();
    return v;
}

/* The pins and status before the step, and whether the step wrote GPIOIS or GPIOIC. */
static uint64_t prev_pins, prev_ris;
static bool wrote_is_or_ic;

static void check(struct vdev_machine *m, unsigned step)
{
    static const uint8_t id[8] = {0x61, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
    uint64_t dir = rd(m, 0x400), is = rd(m, 0x404), iev = rd(m, 0x40c), ie = rd(m, 0x410);
    uint64_t ris = rd(m, 0x414), mis = rd(m, 0x418), pins = rd(m, 0x3fc);
    const char *bad = NULL;
    if (mis != (ris & ie))
        bad = "GPIOMIS is not GPIORIS & GPIOIE";
    else if (line != (mis != 0))
        bad = "the line does not follow GPIOMIS";
    else if (!(dir & 8) && !!(pins & 8) != pressed)
        bad = "input pin 3 does not read the button";
    else if (dir > 0xff || ris > 0xff || pins > 0xff)
        bad = "a register has bits beyond the eight pins";
    for (unsigned p = 0; p < 8 && !bad; p++)
        if ((is >> p & 1) && (ris >> p & 1) != ((pins >> p & 1) == (iev >> p & 1)))
            bad = "a level-sensed pin's status does not follow its level";
    uint64_t ibe = rd(m, 0x408), changed = prev_pins ^ pins, edge = ~is & 0xff;
    uint64_t sensed = changed & (ibe | (pins & iev) | (~pins & ~iev)) & edge;
    if (!bad && (ris & sensed) != sensed)
        bad = "a sensed edge did not latch its status";
    if (!bad && !wrote_is_or_ic && (ris & ~prev_ris & edge & ~sensed))
        bad = "an edge-sensed status appeared without its edge";
    prev_pins = pins;
    prev_ris = ris;
    for (unsigned mask = 1; mask < 256 && !bad; mask <<= 1)
        if (rd(m, (uint64_t)mask << 2) != (pins & mask))
            bad = "the data register ignores its address mask";
    for (unsigned i = 0; i < 8 && !bad; i++)
        if (rd(m, 0xfe0 + 4 * i) != id[i])
            bad = "a PrimeCell ID register changed";
    if (bad) {
        fprintf(stderr,
                "step %u: %s (dir 0x%llx is 0x%llx iev 0x%llx ie 0x%llx ris 0x%llx "
                "mis 0x%llx pins 0x%llx line %d button %d)\n",
                step, bad, (unsigned long long)dir, (unsigned long long)is, (unsigned long long)iev,
                (unsigned long long)ie, (unsigned long long)ris, (unsigned long long)mis,
                (unsigned long long)pins, line, pressed);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size};
    line = pressed = false;
    prev_pins = prev_ris = 0;
    struct vdev_machine *m = machine();
    for (unsigned step = 0; fz_left(&in) >= 4; step++) {
        uint8_t op = fz_u8(&in);
        uint64_t off = fz_u16(&in) & (ARM64_GPIO_SIZE - 1);
        uint64_t v = fz_u8(&in);
        unsigned len = 1u << (op >> 2 & 3);
        wrote_is_or_ic = (op & 3) == 1 &&
                         ((off < 0x408 && off + len > 0x404) || (off < 0x420 && off + len > 0x41c));
        switch (op & 3) {
        case 0:
            arm64_mmio_access(m, ARM64_GPIO_BASE + off, len, false, &v);
            break;
        case 1:
            arm64_mmio_access(m, ARM64_GPIO_BASE + off, len, true, &v);
            break;
        case 2:
            pressed = true;
            arm64_power_set(m, true);
            break;
        default:
            pressed = false;
            arm64_power_set(m, false);
            break;
        }
        check(m, step);
    }
    vdev_machine_free(m);
    return 0;
}
