/* pl011: the register window, the receive FIFO and the interrupt (pl011.h; behaviour in
 * pl011_module.c's header comment and docs/config.md). */
#include <vdev/events.h>

#include "pl011.h"

/* UARTPeriphID0-3 (part 0x011, designer 0x41 'A', revision 3 = r1p5), UARTPCellID0-3. */
static const uint8_t ids[8] = {0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1};

/* ---- the receive FIFO ---- */

static unsigned rx_capacity(const struct pl011 *s)
{
    return (s->lcr_h & PL011_LCRH_FEN) ? PL011_FIFO : 1;
}

/* UARTIFLS.RXIFLSEL: 1/8, 1/4, 1/2, 3/4, 7/8 full; the reserved values act as 7/8. Without
 * the FIFO, the one character in the holding register. */
static unsigned rx_trigger(const struct pl011 *s)
{
    static const unsigned eighths[8] = {1, 2, 4, 6, 7, 7, 7, 7};
    if (!(s->lcr_h & PL011_LCRH_FEN))
        return 1;
    return PL011_FIFO * eighths[(s->ifls >> 3) & 7] / 8;
}

static bool receiver_on(const struct pl011 *s)
{
    return (s->cr & PL011_CR_UARTEN) && (s->cr & PL011_CR_RXE);
}

/* RX at the trigger level; RT (the character timeout, at once) for data below it. */
static void rx_retrigger(struct pl011 *s)
{
    if (s->rx_count == 0) {
        s->ris &= (uint16_t) ~(PL011_INT_RX | PL011_INT_RT);
    } else if (s->rx_count >= rx_trigger(s)) {
        s->ris |= PL011_INT_RX;
    } else {
        s->ris &= (uint16_t)~PL011_INT_RX;
        s->ris |= PL011_INT_RT;
    }
}

/* One character arrives from the line (entry: the byte and its DR error bits). A character
 * that finds the FIFO full is lost: an overrun, which the next character stored carries. */
static void rx_receive(struct pl011 *s, uint16_t entry)
{
    if (s->rx_count >= rx_capacity(s)) {
        s->rsr |= PL011_RSR_OE;
        s->ris |= PL011_INT_OE;
        s->oe_next = true;
        return;
    }
    if (s->oe_next)
        entry |= PL011_DR_OE;
    s->oe_next = false;
    s->rx[(s->rx_head + s->rx_count) % PL011_FIFO] = entry;
    s->rx_count++;
    if (entry & PL011_DR_FE)
        s->ris |= PL011_INT_FE;
    if (entry & PL011_DR_PE)
        s->ris |= PL011_INT_PE;
    if (entry & PL011_DR_BE)
        s->ris |= PL011_INT_BE;
    if (s->rx_count >= rx_trigger(s))
        s->ris |= PL011_INT_RX;
    else
        s->ris |= PL011_INT_RT;
}

/* UARTDR read: the oldest character; RSR then holds its break, parity and framing errors. */
static uint16_t rx_pop(struct pl011 *s)
{
    if (!s->rx_count)
        return 0;
    uint16_t entry = s->rx[s->rx_head];
    s->rx_head = (s->rx_head + 1) % PL011_FIFO;
    s->rx_count--;
    s->rsr = (uint8_t)((s->rsr & PL011_RSR_OE) | ((entry >> 8) & 0xf));
    if (s->rx_count < rx_trigger(s))
        s->ris &= (uint16_t)~PL011_INT_RX;
    if (s->rx_count == 0)
        s->ris &= (uint16_t)~PL011_INT_RT;
    return entry;
}

/* ---- host input (lib/chardev) ---- */

/* The serial input is disconnected in loopback mode and while the receiver is off. */
static bool rx_listening(void *ctx)
{
    const struct pl011 *s = ctx;
    return receiver_on(s) && !(s->cr & PL011_CR_LBE);
}

static bool rx_has_room(void *ctx)
{
    const struct pl011 *s = ctx;
    return s->rx_count < rx_capacity(s);
}

static void rx_put(void *ctx, uint8_t byte)
{
    rx_receive(ctx, byte);
}

const struct chardev_rx pl011_rx = {
    .listening = rx_listening, .has_room = rx_has_room, .put = rx_put};

void pl011_update_irq(struct pl011 *s)
{
    bool level = (s->ris & s->imsc & PL011_INT_ALL) != 0;
    if (level != s->irq_level) {
        s->irq_level = level;
        vdev_irq_set_level(s->d, level);
    }
}

void pl011_input_ready(void *opaque, int fd)
{
    struct pl011 *s = opaque;
    pthread_mutex_lock(&s->lock);
    chardev_input_ready(&s->ch);
    pl011_update_irq(s);
    pthread_mutex_unlock(&s->lock);
}

/* ---- transmit, modem lines ---- */

/* Transmission is instantaneous: the byte leaves at once (to the host, or in loopback to
 * the receiver), the transmit FIFO is empty again, and so at or below its trigger level. */
static void transmit(struct pl011 *s, uint8_t byte)
{
    if (!(s->cr & PL011_CR_LBE))
        chardev_write(&s->ch, byte);
    else if (receiver_on(s))
        rx_receive(s, byte);
    s->ris |= PL011_INT_TX;
}

/* The modem inputs: a connected peer (CTS, DSR, DCD); in loopback the outputs: RTS -> CTS,
 * DTR -> DSR, OUT1 -> DCD, OUT2 -> RI. */
static uint16_t modem_inputs(const struct pl011 *s)
{
    if (!(s->cr & PL011_CR_LBE))
        return PL011_FR_CTS | PL011_FR_DSR | PL011_FR_DCD;
    uint16_t in = 0;
    if (s->cr & PL011_CR_RTS)
        in |= PL011_FR_CTS;
    if (s->cr & PL011_CR_DTR)
        in |= PL011_FR_DSR;
    if (s->cr & PL011_CR_OUT1)
        in |= PL011_FR_DCD;
    if (s->cr & PL011_CR_OUT2)
        in |= PL011_FR_RI;
    return in;
}

/* A change of a modem input raises its interrupt (either edge). */
static void set_modem(struct pl011 *s)
{
    uint16_t in = modem_inputs(s), changed = s->modem ^ in;
    if (changed & PL011_FR_CTS)
        s->ris |= PL011_INT_CTS;
    if (changed & PL011_FR_DSR)
        s->ris |= PL011_INT_DSR;
    if (changed & PL011_FR_DCD)
        s->ris |= PL011_INT_DCD;
    if (changed & PL011_FR_RI)
        s->ris |= PL011_INT_RI;
    s->modem = in;
}

void pl011_power_on(struct pl011 *s)
{
    s->rx_head = s->rx_count = 0;
    s->oe_next = false;
    s->rsr = s->ilpr = s->fbrd = s->lcr_h = s->dmacr = 0;
    s->ibrd = s->imsc = s->ris = 0;
    s->cr = PL011_CR_RESET;
    s->ifls = PL011_IFLS_RESET;
    s->modem = modem_inputs(s);
}

/* ---- registers ---- */

static uint16_t flags(const struct pl011 *s)
{
    uint16_t fr = s->modem | PL011_FR_TXFE; /* never BUSY, never TXFF */
    if (s->rx_count == 0)
        fr |= PL011_FR_RXFE;
    if (s->rx_count >= rx_capacity(s))
        fr |= PL011_FR_RXFF;
    return fr;
}

static void write_lcr_h(struct pl011 *s, uint8_t v)
{
    uint8_t old = s->lcr_h;
    s->lcr_h = v;
    /* Entering or leaving FIFO mode keeps what the receiver holds (the TRM names no flush):
     * characters beyond the holding register's one stay readable, and no more arrive until
     * the guest has read them. */
    if ((old ^ v) & PL011_LCRH_FEN)
        rx_retrigger(s);
    /* A break sent in loopback arrives as a NUL with BE. */
    if (!(old & PL011_LCRH_BRK) && (v & PL011_LCRH_BRK) && (s->cr & PL011_CR_LBE) && receiver_on(s))
        rx_receive(s, PL011_DR_BE);
}

uint64_t pl011_read(struct vdev *d, uint64_t offset, unsigned size)
{
    struct pl011 *s = vdev_state(d);
    if (offset % 4)
        return 0; /* only a register's own offset decodes */
    if (offset >= PL011_ID)
        return ids[(offset - PL011_ID) / 4];
    uint32_t v = 0;
    pthread_mutex_lock(&s->lock);
    switch (offset) {
    case PL011_DR:
        v = rx_pop(s);
        chardev_input_feed(&s->ch); /* room for pending host bytes */
        break;
    case PL011_RSR:
        v = s->rsr;
        break;
    case PL011_FR:
        v = flags(s);
        break;
    case PL011_ILPR:
        v = s->ilpr;
        break;
    case PL011_IBRD:
        v = s->ibrd;
        break;
    case PL011_FBRD:
        v = s->fbrd;
        break;
    case PL011_LCR_H:
        v = s->lcr_h;
        break;
    case PL011_CR:
        v = s->cr;
        break;
    case PL011_IFLS:
        v = s->ifls;
        break;
    case PL011_IMSC:
        v = s->imsc;
        break;
    case PL011_RIS:
        v = s->ris;
        break;
    case PL011_MIS:
        v = s->ris & s->imsc;
        break;
    case PL011_DMACR:
        v = s->dmacr;
        break;
    default: /* ICR is write-only; reserved and test registers read 0 */
        break;
    }
    pl011_update_irq(s);
    pthread_mutex_unlock(&s->lock);
    return v;
}

void pl011_write(struct vdev *d, uint64_t offset, unsigned size, uint64_t value)
{
    struct pl011 *s = vdev_state(d);
    if (offset % 4 || offset >= PL011_ID)
        return;
    uint32_t v = (uint32_t)value; /* a narrower write: the register's low bytes, zero-extended */
    pthread_mutex_lock(&s->lock);
    switch (offset) {
    case PL011_DR:
        transmit(s, (uint8_t)v);
        break;
    case PL011_RSR: /* ECR: any write clears the errors */
        s->rsr = 0;
        break;
    case PL011_ILPR:
        s->ilpr = (uint8_t)v;
        break;
    case PL011_IBRD:
        s->ibrd = (uint16_t)v;
        break;
    case PL011_FBRD:
        s->fbrd = v & 0x3f;
        break;
    case PL011_LCR_H:
        write_lcr_h(s, (uint8_t)v);
        chardev_input_feed(&s->ch);
        break;
    case PL011_CR:
        s->cr = v & PL011_CR_MASK;
        set_modem(s);
        chardev_input_feed(&s->ch); /* the receiver may listen now */
        break;
    case PL011_IFLS: {
        unsigned before = rx_trigger(s);
        s->ifls = v & 0x3f;
        if (rx_trigger(s) != before)
            rx_retrigger(s);
        break;
    }
    case PL011_IMSC:
        s->imsc = v & PL011_INT_ALL;
        break;
    case PL011_ICR:
        s->ris &= (uint16_t) ~(v & PL011_INT_ALL);
        break;
    case PL011_DMACR:
        s->dmacr = v & 0x7; /* kept, no DMA: the request lines go nowhere */
        break;
    default: /* FR, RIS, MIS and the IDs are read-only; the rest is reserved */
        break;
    }
    pl011_update_irq(s);
    pthread_mutex_unlock(&s->lock);
}
