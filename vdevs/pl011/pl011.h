/* pl011: the ARM PrimeCell UART (PL011 r1p5, ARM DDI 0183): state shared by the module's
 * files: pl011_regs.c (the register window, FIFO and interrupts), pl011_fdt.c (the device
 * tree node and its clock), pl011_module.c (options and life-cycle). */
#ifndef VDEV_PL011_H
#define VDEV_PL011_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <vdev/module.h>

#include "chardev/chardev.h"

#define PL011_WINDOW 0x1000
#define PL011_FIFO   32 /* r1p5's FIFOs; 1 (a holding register) while LCR_H.FEN is clear */

/* Register offsets */
enum {
    PL011_DR = 0x000,
    PL011_RSR = 0x004, /* RSR (read) / ECR (write) */
    PL011_FR = 0x018,
    PL011_ILPR = 0x020,
    PL011_IBRD = 0x024,
    PL011_FBRD = 0x028,
    PL011_LCR_H = 0x02c,
    PL011_CR = 0x030,
    PL011_IFLS = 0x034,
    PL011_IMSC = 0x038,
    PL011_RIS = 0x03c,
    PL011_MIS = 0x040,
    PL011_ICR = 0x044,
    PL011_DMACR = 0x048,
    PL011_ID = 0xfe0, /* PeriphID0-3, PCellID0-3: 0xfe0-0xffc */
};

/* UARTDR: the received character's error bits */
#define PL011_DR_FE 0x100
#define PL011_DR_PE 0x200
#define PL011_DR_BE 0x400
#define PL011_DR_OE 0x800

/* UARTRSR */
#define PL011_RSR_FE 0x1
#define PL011_RSR_PE 0x2
#define PL011_RSR_BE 0x4
#define PL011_RSR_OE 0x8

/* UARTFR */
#define PL011_FR_CTS   0x001
#define PL011_FR_DSR   0x002
#define PL011_FR_DCD   0x004
#define PL011_FR_BUSY  0x008
#define PL011_FR_RXFE  0x010
#define PL011_FR_TXFF  0x020
#define PL011_FR_RXFF  0x040
#define PL011_FR_TXFE  0x080
#define PL011_FR_RI    0x100
#define PL011_FR_MODEM (PL011_FR_CTS | PL011_FR_DSR | PL011_FR_DCD | PL011_FR_RI)

/* UARTLCR_H */
#define PL011_LCRH_BRK 0x01
#define PL011_LCRH_FEN 0x10

/* UARTCR */
#define PL011_CR_UARTEN 0x0001
#define PL011_CR_LBE    0x0080
#define PL011_CR_TXE    0x0100
#define PL011_CR_RXE    0x0200
#define PL011_CR_DTR    0x0400
#define PL011_CR_RTS    0x0800
#define PL011_CR_OUT1   0x1000
#define PL011_CR_OUT2   0x2000
#define PL011_CR_MASK   0xff87 /* bits 6:3 are reserved */
#define PL011_CR_RESET  (PL011_CR_TXE | PL011_CR_RXE)

#define PL011_IFLS_RESET 0x12 /* both trigger levels at half full */

/* UARTRIS, UARTIMSC, UARTMIS, UARTICR */
#define PL011_INT_RI  0x001
#define PL011_INT_CTS 0x002
#define PL011_INT_DCD 0x004
#define PL011_INT_DSR 0x008
#define PL011_INT_RX  0x010
#define PL011_INT_TX  0x020
#define PL011_INT_RT  0x040
#define PL011_INT_FE  0x080
#define PL011_INT_PE  0x100
#define PL011_INT_BE  0x200
#define PL011_INT_OE  0x400
#define PL011_INT_ALL 0x7ff

struct pl011 {
    struct vdev *d;
    pthread_mutex_t lock; /* vCPU threads (registers) and the event thread (input) */
    bool lock_ready;

    /* registers */
    uint16_t rx[PL011_FIFO]; /* received characters with their error bits (DR 11:0) */
    unsigned rx_head, rx_count;
    bool oe_next; /* an overrun happened: the next character stored carries DR.OE */
    uint8_t rsr;
    uint8_t ilpr, fbrd, lcr_h, ifls, dmacr;
    uint16_t ibrd, cr, imsc, ris;
    uint16_t modem; /* the modem inputs as UARTFR shows them (CTS, DSR, DCD, RI) */
    bool irq_level; /* last level driven on the line */

    struct chardev ch; /* `hostdev`, `input` (lib/chardev) */
};

/* pl011_regs.c */
extern const struct chardev_rx pl011_rx; /* the receive FIFO, fed by host input */
void pl011_power_on(struct pl011 *s);
uint64_t pl011_read(struct vdev *d, uint64_t offset, unsigned size);
void pl011_write(struct vdev *d, uint64_t offset, unsigned size, uint64_t value);
void pl011_input_ready(void *opaque, int fd); /* event thread: host input is readable */
void pl011_update_irq(struct pl011 *s);

/* pl011_fdt.c */
int pl011_gen_fdt(struct vdev *d, void *fdt, int parent);

#endif
