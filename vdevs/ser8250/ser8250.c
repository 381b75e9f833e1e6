/* ser8250: a 16550A-compatible UART (the PC COM port).
 *
 * Registers (offset, DLAB = LCR bit 7):
 *   0  RBR (read) / THR (write); DLL when DLAB
 *   1  IER; DLM when DLAB
 *   2  IIR (read) / FCR (write)
 *   3  LCR   4  MCR   5  LSR   6  MSR   7  SCR
 *
 * Options:
 *   hostdev [<|>]NAME  qvm's forms, repeatable (lib/chardev): `>NAME` where
 *       transmitted bytes go (default stdout; `-` is stdout), `<NAME` where received bytes
 *       come from (`-` is stdin), NAME alone both (a terminal; a file only receives), `-`
 *       stdin and stdout, `pty` a new pseudo-terminal, `>"|CMD"` a shell command's input.
 *       A file is created when missing and appended to, never truncated; a FIFO without a
 *       reader is a configuration error rather than a hang. Every byte is written with
 *       write(2).
 *   input PATH|stdin|none  the same as `hostdev <PATH` (default none). Pipes, ttys and
 *       sockets are watched on the core's event thread; a regular file is read from its
 *       start to its end as the guest drains the FIFO.
 *
 * Behaviour chosen here:
 * - Transmission is instantaneous: a THR write goes straight to `hostdev` (or, in loopback
 *   mode, into the receive FIFO), so THRE and TEMT always read as set, and the THR-empty
 *   interrupt becomes pending again after every THR write.
 * - The interrupt line is level-triggered: asserted while an enabled source is pending AND
 *   MCR.OUT2 is set (on PC hardware OUT2 gates the IRQ; Linux sets it), deasserted
 *   otherwise. It is recomputed after every register access and every input event.
 * - Character timeout is simplified: with the FIFO enabled, received data below the trigger
 *   level is reported at once as a timeout interrupt (IIR 0x0C).
 * - Host input (`input`) is never lost to a full FIFO: bytes that do not fit stay in a
 *   small pending buffer and the input fd is not read again until the guest drains it.
 *   Input starts flowing when the guest first reads LSR or RBR (after power-on or reset),
 *   so a guest that sets up the UART (and flushes the FIFO) before polling loses nothing;
 *   what the guest flushes from the FIFO after that is gone, as on real hardware.
 *   While in loopback mode the serial input is disconnected, as on the real chip.
 * - Modem inputs: with no loopback the UART sees a connected peer (DCD, DSR, CTS set).
 */
#include <inttypes.h>
#include <libfdt.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <vdev/acpi.h>
#include <vdev/fdt.h>
#include <vdev/machine.h>
#include <vdev/module.h>

#include "chardev/chardev.h"

enum {
    REG_RBR = 0, /* THR, DLL */
    REG_IER = 1, /* DLM */
    REG_IIR = 2, /* FCR */
    REG_LCR = 3,
    REG_MCR = 4,
    REG_LSR = 5,
    REG_MSR = 6,
    REG_SCR = 7,
};

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* transmitter holding register empty */
#define IER_ELSI  0x04 /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK  0x0f

#define IIR_NONE    0x01
#define IIR_MSR     0x00
#define IIR_THRE    0x02
#define IIR_RDA     0x04
#define IIR_RLS     0x06
#define IIR_TIMEOUT 0x0c
#define IIR_FIFO    0xc0 /* both bits set: FIFOs enabled (a 16550A) */

#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04

#define LCR_DLAB 0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR     0x01
#define LSR_OE     0x02
#define LSR_PE     0x04
#define LSR_FE     0x08
#define LSR_BI     0x10
#define LSR_THRE   0x20
#define LSR_TEMT   0x40
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS   0x01
#define MSR_DDSR   0x02
#define MSR_TERI   0x04
#define MSR_DDCD   0x08
#define MSR_DELTAS 0x0f
#define MSR_CTS    0x10
#define MSR_DSR    0x20
#define MSR_RI     0x40
#define MSR_DCD    0x80

#define FIFO_SIZE 16

/* What the modem inputs read when not in loopback: a connected peer. */
#define MSR_CONNECTED (MSR_DCD | MSR_DSR | MSR_CTS)

struct uart {
    struct vdev *d;
    pthread_mutex_t lock; /* vCPU threads (registers) and the event thread (input) */
    bool lock_ready;

    /* registers */
    uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
    uint16_t divisor;
    uint8_t rx[FIFO_SIZE];
    unsigned rx_head, rx_count;
    bool thre_pending; /* THR-empty interrupt pending: cleared by an IIR read that reports it */
    bool irq_level;    /* last level driven on the line */

    /* host side (lib/chardev: `hostdev`, `input`, flow control) */
    struct chardev ch;
    bool in_started; /* the guest has looked for input (read LSR or RBR) since reset */
};

/* ---- receive FIFO ---- */

static unsigned rx_capacity(const struct uart *s)
{
    return (s->fcr & FCR_ENABLE) ? FIFO_SIZE : 1; /* without FIFO: one holding register */
}

static unsigned rx_trigger(const struct uart *s)
{
    static const unsigned levels[4] = {1, 4, 8, 14};
    return levels[s->fcr >> 6];
}

static bool rx_full(const struct uart *s)
{
    return s->rx_count >= rx_capacity(s);
}

/* One byte arrives from the line; a byte finding the FIFO full is lost (overrun). */
static void rx_push(struct uart *s, uint8_t byte)
{
    if (rx_full(s)) {
        s->lsr |= LSR_OE;
        return;
    }
    s->rx[(s->rx_head + s->rx_count) % FIFO_SIZE] = byte;
    s->rx_count++;
    s->lsr |= LSR_DR;
}

static uint8_t rx_pop(struct uart *s)
{
    if (!s->rx_count)
        return 0;
    uint8_t byte = s->rx[s->rx_head];
    s->rx_head = (s->rx_head + 1) % FIFO_SIZE;
    if (--s->rx_count == 0)
        s->lsr &= ~LSR_DR;
    return byte;
}

static void rx_clear(struct uart *s)
{
    s->rx_head = s->rx_count = 0;
    s->lsr &= ~LSR_DR;
}

/* ---- host input (lib/chardev feeds the receive FIFO through these) ---- */

/* Disconnected in loopback mode; and the guest is not listening until it looks for input. */
static bool rx_listening(void *ctx)
{
    const struct uart *s = ctx;
    return !(s->mcr & MCR_LOOP) && s->in_started;
}

static bool rx_has_room(void *ctx)
{
    return !rx_full(ctx);
}

static void rx_put(void *ctx, uint8_t byte)
{
    rx_push(ctx, byte);
}

static const struct chardev_rx uart_rx = {
    .listening = rx_listening, .has_room = rx_has_room, .put = rx_put};

static void update_irq(struct uart *s);

/* Event thread: the input fd is readable. */
static void input_ready(void *opaque, int fd)
{
    struct uart *s = opaque;
    pthread_mutex_lock(&s->lock);
    chardev_input_ready(&s->ch);
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
}

/* ---- host output ---- */

static void transmit(struct uart *s, uint8_t byte)
{
    if (s->mcr & MCR_LOOP) {
        rx_push(s, byte);
        return;
    }
    chardev_write(&s->ch, byte);
}

/* ---- interrupts ---- */

/* The highest-priority pending source, as IIR bits 0-3. */
static uint8_t pending_source(const struct uart *s)
{
    if ((s->ier & IER_ELSI) && (s->lsr & LSR_ERRORS))
        return IIR_RLS;
    if ((s->ier & IER_ERBFI) && (s->lsr & LSR_DR)) {
        if ((s->fcr & FCR_ENABLE) && s->rx_count < rx_trigger(s))
            return IIR_TIMEOUT;
        return IIR_RDA;
    }
    if ((s->ier & IER_ETBEI) && s->thre_pending)
        return IIR_THRE;
    if ((s->ier & IER_EDSSI) && (s->msr & MSR_DELTAS))
        return IIR_MSR;
    return IIR_NONE;
}

static void update_irq(struct uart *s)
{
    bool level = (s->mcr & MCR_OUT2) && pending_source(s) != IIR_NONE;
    if (level != s->irq_level) {
        s->irq_level = level;
        vdev_irq_set_level(s->d, level);
    }
}

/* ---- modem control and status ---- */

/* Sets the modem inputs (MSR bits 4-7), recording which changed in the delta bits. */
static void set_modem_inputs(struct uart *s, uint8_t inputs)
{
    uint8_t old = s->msr;
    uint8_t changed = (uint8_t)(old ^ inputs);
    uint8_t deltas = 0;
    if (changed & MSR_CTS)
        deltas |= MSR_DCTS;
    if (changed & MSR_DSR)
        deltas |= MSR_DDSR;
    if ((old & MSR_RI) && !(inputs & MSR_RI))
        deltas |= MSR_TERI; /* trailing edge only */
    if (changed & MSR_DCD)
        deltas |= MSR_DDCD;
    s->msr = (uint8_t)((old & MSR_DELTAS) | deltas | (inputs & 0xf0));
}

/* In loopback the outputs feed the inputs: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
static uint8_t modem_inputs(const struct uart *s)
{
    if (!(s->mcr & MCR_LOOP))
        return MSR_CONNECTED;
    uint8_t in = 0;
    if (s->mcr & MCR_RTS)
        in |= MSR_CTS;
    if (s->mcr & MCR_DTR)
        in |= MSR_DSR;
    if (s->mcr & MCR_OUT1)
        in |= MSR_RI;
    if (s->mcr & MCR_OUT2)
        in |= MSR_DCD;
    return in;
}

/* ---- registers ---- */

static void power_on(struct uart *s)
{
    s->ier = 0;
    s->lcr = 0;
    s->mcr = 0;
    s->fcr = 0;
    s->scr = 0;
    s->lsr = LSR_THRE | LSR_TEMT;
    s->msr = MSR_CONNECTED;
    s->divisor = 12; /* 9600 baud; the chip's value is undefined, guests program their own */
    s->thre_pending = false;
    rx_clear(s);
}

static uint64_t ser_read(struct vdev *d, uint64_t offset, unsigned size)
{
    struct uart *s = vdev_state(d);
    uint8_t v = 0;
    pthread_mutex_lock(&s->lock);
    switch (offset & 7) {
    case REG_RBR:
        if (s->lcr & LCR_DLAB) {
            v = (uint8_t)s->divisor;
        } else {
            v = rx_pop(s);
            s->in_started = true;
            chardev_input_feed(&s->ch); /* room for pending host bytes */
        }
        break;
    case REG_IER:
        v = (s->lcr & LCR_DLAB) ? (uint8_t)(s->divisor >> 8) : s->ier;
        break;
    case REG_IIR: {
        uint8_t src = pending_source(s);
        if (src == IIR_THRE)
            s->thre_pending = false; /* reading IIR acknowledges a THR-empty interrupt */
        v = (uint8_t)(src | ((s->fcr & FCR_ENABLE) ? IIR_FIFO : 0));
        break;
    }
    case REG_LCR:
        v = s->lcr;
        break;
    case REG_MCR:
        v = s->mcr;
        break;
    case REG_LSR:
        if (!s->in_started) {
            s->in_started = true;
            chardev_input_feed(&s->ch);
        }
        v = s->lsr;
        s->lsr &= ~LSR_ERRORS; /* error bits clear on read */
        break;
    case REG_MSR:
        v = s->msr;
        s->msr &= ~MSR_DELTAS;
        break;
    case REG_SCR:
        v = s->scr;
        break;
    }
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
    return v;
}

static void ser_write(struct vdev *d, uint64_t offset, unsigned size, uint64_t value)
{
    struct uart *s = vdev_state(d);
    uint8_t v = (uint8_t)value;
    pthread_mutex_lock(&s->lock);
    switch (offset & 7) {
    case REG_RBR:
        if (s->lcr & LCR_DLAB) {
            s->divisor = (uint16_t)((s->divisor & 0xff00) | v);
        } else {
            transmit(s, v);
            s->thre_pending = true; /* sent at once: the THR is empty again */
        }
        break;
    case REG_IER:
        if (s->lcr & LCR_DLAB) {
            s->divisor = (uint16_t)((s->divisor & 0x00ff) | (v << 8));
        } else {
            uint8_t changed = (uint8_t)((s->ier ^ v) & IER_MASK);
            s->ier = v & IER_MASK;
            /* Enabling ETBEI with an empty THR raises the interrupt (Linux tests this). */
            if (changed & IER_ETBEI)
                s->thre_pending = (s->ier & IER_ETBEI) && (s->lsr & LSR_THRE);
        }
        break;
    case REG_IIR: { /* FCR */
        bool was_enabled = s->fcr & FCR_ENABLE;
        s->fcr = v & (FCR_ENABLE | 0xc0); /* clear bits self-clear; DMA mode is ignored */
        if (was_enabled != (bool)(v & FCR_ENABLE) || (v & FCR_CLEAR_RX))
            rx_clear(s); /* toggling the FIFOs empties them */
        chardev_input_feed(&s->ch);
        break;
    }
    case REG_LCR:
        s->lcr = v;
        break;
    case REG_MCR: {
        bool was_loop = s->mcr & MCR_LOOP;
        s->mcr = v & MCR_MASK;
        set_modem_inputs(s, modem_inputs(s));
        if (was_loop && !(s->mcr & MCR_LOOP))
            chardev_input_feed(&s->ch); /* input reconnected */
        break;
    }
    case REG_SCR:
        s->scr = v;
        break;
    default: /* LSR and MSR are read-only */
        break;
    }
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
}

/* ---- options and life-cycle ---- */

static int ser_options_start(struct vdev *d)
{
    struct uart *s = vdev_state(d);
    s->d = d;
    if (pthread_mutex_init(&s->lock, NULL))
        return vdev_error(d, vdev_pos(d), NULL, "cannot create a mutex");
    s->lock_ready = true;
    chardev_init(&s->ch, d, &uart_rx, s);
    power_on(s);
    return 0;
}

static int ser_option(struct vdev *d, const struct vdev_optval *v)
{
    struct uart *s = vdev_state(d);
    return chardev_option(&s->ch, v);
}

static int ser_configured(struct vdev *d)
{
    struct uart *s = vdev_state(d);
    return chardev_configured(&s->ch, input_ready, s);
}

static void ser_reset(struct vdev *d)
{
    struct uart *s = vdev_state(d);
    pthread_mutex_lock(&s->lock);
    power_on(s);
    s->in_started = false; /* host bytes still pending wait for the rebooted guest */
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
}

static void ser_status(struct vdev *d, FILE *out)
{
    struct uart *s = vdev_state(d);
    pthread_mutex_lock(&s->lock);
    fprintf(out,
            "bytes in %" PRIu64 ", out %" PRIu64 "; IER 0x%02x LCR 0x%02x MCR 0x%02x LSR 0x%02x"
            " divisor %u, rx fifo %u",
            s->ch.bytes_in, s->ch.bytes_out, s->ier, s->lcr, s->mcr, s->lsr, s->divisor,
            s->rx_count);
    pthread_mutex_unlock(&s->lock);
}

static void ser_terminate(struct vdev *d)
{
    struct uart *s = vdev_state(d);
    if (!s->lock_ready)
        return;
    chardev_close(&s->ch);
    pthread_mutex_destroy(&s->lock);
    s->lock_ready = false;
}

/* ---- ACPI ---- */

/* The PC's COM1-COM4 ports, whose UARTs keep their names wherever they are configured. */
static const uint64_t com_ports[] = {0x3f8, 0x2f8, 0x3e8, 0x2e8};
#define NCOM (sizeof(com_ports) / sizeof(com_ports[0]))

static bool is_com_port(const struct vdev_loc *loc, unsigned *index)
{
    if (loc->kind != VDEV_LOC_IO)
        return false;
    for (unsigned i = 0; i < NCOM; i++) {
        if (loc->addr == com_ports[i]) {
            *index = i;
            return true;
        }
    }
    return false;
}

/* _UID: a COM port's number less one (0x3f8 -> 0); every other UART of this type gets the
 * next number after the COM ports, in configuration order. Stable across runs. */
static unsigned ser_acpi_uid(struct vdev *d)
{
    unsigned uid;
    if (is_com_port(vdev_loc(d), &uid))
        return uid;
    struct vdev_machine *m = vdev_machine_of(d);
    unsigned nth = 0;
    for (size_t i = 0, n = vdev_machine_device_count(m); i < n; i++) {
        struct vdev *o = vdev_machine_device(m, i);
        if (o == d)
            break;
        unsigned ignored;
        if (!strcmp(vdev_type_name(o), vdev_type_name(d)) && !is_com_port(vdev_loc(o), &ignored))
            nth++;
    }
    return (unsigned)NCOM + nth;
}

/* Device (COMn) { _HID PNP0501, _UID, _CRS }: what Linux's 8250_pnp driver binds to. */
static int ser_gen_acpi(struct vdev *d, struct vdev_aml *dsdt)
{
    const struct vdev_loc *loc = vdev_loc(d);
    uint32_t line = vdev_intr(d)->line; /* the x86 platform maps ioapic line N to GSI N */
    unsigned uid = ser_acpi_uid(d);
    char name[8];
    unsigned n = uid + 1;
    if (n <= 9)
        snprintf(name, sizeof(name), "COM%u", n);
    else if (n <= 99)
        snprintf(name, sizeof(name), "CO%02u", n);
    else if (n <= 999)
        snprintf(name, sizeof(name), "C%03u", n);
    else
        return vdev_error(d, vdev_pos(d), NULL, "ACPI: too many UARTs to name");

    vdev_aml_device_begin(dsdt, name);
    vdev_aml_name_eisaid(dsdt, "_HID", "PNP0501");
    vdev_aml_name_int(dsdt, "_UID", uid);
    vdev_aml_name_begin(dsdt, "_CRS");
    vdev_aml_crs_begin(dsdt);
    if (loc->kind == VDEV_LOC_IO)
        vdev_aml_res_io(dsdt, loc->addr, 8);
    else
        vdev_aml_res_mem32(dsdt, loc->addr, 8);
    /* ISA lines keep the ISA default (edge, active-high: Linux overrides anything else on
     * a line without a MADT override); a higher line is described as the level it is. */
    if (loc->kind == VDEV_LOC_IO && line < 16)
        vdev_aml_res_irq(dsdt, line);
    else
        vdev_aml_res_interrupt(dsdt, line, line >= 16, true, false);
    vdev_aml_crs_end(dsdt);
    vdev_aml_end(dsdt);
    return vdev_aml_error(dsdt) ? -1 : 0;
}

/* ---- Device tree ---- */

/* serial@ADDR { compatible "ns16550a"; reg; clock-frequency; interrupts }. A UART on port I/O
 * has no CPU address an FDT can express on x86 but its port number, which is what the "reg"
 * of an ISA-style node holds; reg-io-width 1 for both. */
static int ser_gen_fdt(struct vdev *d, void *fdt, int parent)
{
    const struct vdev_loc *loc = vdev_loc(d);
    char name[32];
    snprintf(name, sizeof(name), "serial@%llx", (unsigned long long)loc->addr);
    int node = fdt_add_subnode(fdt, parent, name);
    if (node < 0)
        return node;
    fdt64_t reg[2] = {cpu_to_fdt64(loc->addr), cpu_to_fdt64(8)};
    int rc = fdt_setprop_string(fdt, node, "compatible", "ns16550a");
    if (!rc)
        rc = fdt_setprop(fdt, node, "reg", reg, sizeof(reg));
    if (!rc)
        rc = fdt_setprop_u32(fdt, node, "clock-frequency", 1843200);
    /* Byte-wide registers one byte apart: what 8250_of reads for an MMIO UART. */
    if (!rc)
        rc = fdt_setprop_u32(fdt, node, "reg-shift", 0);
    if (!rc)
        rc = fdt_setprop_u32(fdt, node, "reg-io-width", 1);
    if (!rc && loc->kind == VDEV_LOC_IO)
        rc = fdt_setprop_empty(fdt, node, "vdevkit,port-io");
    /* As in ACPI: an ISA line stays edge-triggered; a higher line is the level it is. */
    if (!rc)
        rc = vdev_fdt_set_interrupt(d, fdt, node,
                                    !(loc->kind == VDEV_LOC_IO && vdev_intr(d)->line < 16));
    return rc;
}

VDEV_MODULE(ser8250, .name = "ser8250", .summary = "16550A-compatible UART (PC COM port)",
            .options = chardev_options, .state_size = sizeof(struct uart),
            .places = VDEV_PLACE_IO | VDEV_PLACE_MEM, .default_loc = "io:0x3f8", .window_size = 8,
            .has_intr = true, .default_intr = "ioapic:4",
            .window = {.read = ser_read, .write = ser_write, .sizes = 0x1},
            .options_start = ser_options_start, .option = ser_option, .configured = ser_configured,
            .reset = ser_reset, .status = ser_status, .terminate = ser_terminate,
            .gen_acpi = ser_gen_acpi, .gen_fdt = ser_gen_fdt);
