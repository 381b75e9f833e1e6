/* pl011: the ARM PrimeCell UART PL011 (r1p5, ARM DDI 0183), the UART of qvm's ARM guests
 * (`vdev pl011 loc 0x1c090000 intr gic:37`), bound by Linux's amba-pl011 driver from the
 * device tree (console ttyAMA0).
 *
 * Registers (offset): 0x000 DR, 0x004 RSR/ECR, 0x018 FR, 0x020 ILPR, 0x024 IBRD, 0x028 FBRD,
 * 0x02c LCR_H, 0x030 CR, 0x034 IFLS, 0x038 IMSC, 0x03c RIS, 0x040 MIS, 0x044 ICR,
 * 0x048 DMACR, 0xfe0-0xffc PeriphID0-3 (0x11 0x10 0x34 0x00: part 0x011, ARM, revision 3 =
 * r1p5) and PCellID0-3 (0x0d 0xf0 0x05 0xb1). Everything else in the 4 KiB window reads 0
 * and ignores writes. Reads and writes of 8, 16 or 32 bits at a register's offset: a read
 * gives the register's low bits, a write sets the register to the value zero-extended (an
 * APB peripheral sees whole words); an access at any other offset reads 0 and writes
 * nothing. 64-bit accesses are refused (bad size).
 *
 * Options: `hostdev`, `input`, `sched`, `batch`, `delayed` as ser8250's (lib/chardev).
 * `loc` (memory only) and `intr` are required: there is no default address.
 *
 * Behaviour chosen here:
 * - Transmission is instantaneous: FR shows TXFE and never TXFF or BUSY; a DR write goes to
 *   `hostdev` (in loopback to the receiver) and sets the TX interrupt (the transmit FIFO
 *   drained to its trigger level), which stays set until ICR clears it. Nothing sets it
 *   before the first write, as on the chip. UARTEN and TXE do not gate transmission: a
 *   kernel's earlycon writes DR before anything enables the UART (firmware does that on a
 *   board; here there is none).
 * - Reception needs UARTEN and RXE. FEN selects the 32-entry FIFO or a 1-character holding
 *   register; changing it keeps what the receiver holds (the TRM names no flush). RX is set when
 * the FIFO reaches the IFLS trigger level and cleared when reading takes it below; the receive
 * timeout is simplified as ser8250's: a character that arrives with the FIFO still below the
 * trigger level sets RT at once, and reading the FIFO empty clears it. ICR clears either until the
 *   next character arrives.
 * - Host input is never lost to a full FIFO: bytes that do not fit wait (lib/chardev) and
 *   the host is not read until the guest makes room; it waits too while the receiver is off
 *   or in loopback (the serial input is disconnected then). Only loopback can overrun the
 *   FIFO: the character is lost, RSR.OE and the OE interrupt are set, and the next
 *   character stored carries DR.OE.
 * - Modem inputs: a connected peer (CTS, DSR, DCD); in loopback RTS, DTR, OUT1, OUT2 drive
 *   CTS, DSR, DCD, RI. A change of an input sets its interrupt. A break sent in loopback
 *   (LCR_H.BRK set) arrives as a NUL with BE.
 * - The line is level-triggered: asserted while RIS & IMSC is not 0. DMACR is kept, with no
 *   DMA behind it. ILPR, IBRD, FBRD and the LCR_H format bits are stored only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <vdev/module.h>

#include "pl011.h"

static int pl011_options_start(struct vdev *d)
{
    struct pl011 *s = vdev_state(d);
    s->d = d;
    if (pthread_mutex_init(&s->lock, NULL))
        return vdev_error(d, vdev_pos(d), NULL, "cannot create a mutex");
    s->lock_ready = true;
    chardev_init(&s->ch, d, &pl011_rx, s);
    pl011_power_on(s);
    return 0;
}

static int pl011_option(struct vdev *d, const struct vdev_optval *v)
{
    struct pl011 *s = vdev_state(d);
    return chardev_option(&s->ch, v);
}

/* No default place: where a PL011 sits is the platform's choice. */
static int pl011_options_end(struct vdev *d)
{
    static const char example[] =
        "e.g. 'loc 0x9000000 intr gic:1', the UART's place on vdevkit's arm64 platform";
    if (vdev_loc(d)->kind == VDEV_LOC_NONE)
        return vdev_error(d, vdev_pos(d), example, "'loc' is required (a memory address)");
    if (!vdev_intr(d)->given)
        return vdev_error(d, vdev_pos(d), example, "'intr' is required");
    return 0;
}

static int pl011_configured(struct vdev *d)
{
    struct pl011 *s = vdev_state(d);
    return chardev_configured(&s->ch, pl011_input_ready, s);
}

static void pl011_reset(struct vdev *d)
{
    struct pl011 *s = vdev_state(d);
    pthread_mutex_lock(&s->lock);
    pl011_power_on(s); /* host bytes still pending wait for the rebooted guest */
    pl011_update_irq(s);
    pthread_mutex_unlock(&s->lock);
}

static void pl011_status(struct vdev *d, FILE *out)
{
    struct pl011 *s = vdev_state(d);
    pthread_mutex_lock(&s->lock);
    fprintf(out,
            "bytes in %" PRIu64 ", out %" PRIu64 "; CR 0x%04x LCR_H 0x%02x IFLS 0x%02x IMSC "
            "0x%03x RIS 0x%03x IBRD %u FBRD %u, rx fifo %u",
            s->ch.bytes_in, s->ch.bytes_out, s->cr, s->lcr_h, s->ifls, s->imsc, s->ris, s->ibrd,
            s->fbrd, s->rx_count);
    pthread_mutex_unlock(&s->lock);
}

static void pl011_terminate(struct vdev *d)
{
    struct pl011 *s = vdev_state(d);
    if (!s->lock_ready)
        return;
    chardev_close(&s->ch);
    pthread_mutex_destroy(&s->lock);
    s->lock_ready = false;
}

VDEV_MODULE(pl011, .name = "pl011", .summary = "ARM PrimeCell PL011 UART (r1p5)",
            .options = chardev_options, .state_size = sizeof(struct pl011),
            .places = VDEV_PLACE_MEM, .window_size = PL011_WINDOW, .has_intr = true,
            .window = {.read = pl011_read, .write = pl011_write, .sizes = 0x7},
            .options_start = pl011_options_start, .option = pl011_option,
            .options_end = pl011_options_end, .configured = pl011_configured, .reset = pl011_reset,
            .status = pl011_status, .terminate = pl011_terminate, .gen_fdt = pl011_gen_fdt);
