/* pl011: the ARM PrimeCell UART, driven through the memory map as a guest would: the ID
 * registers Linux's AMBA bus matches, power-on values, register widths and masks, FIFO and
 * holding-register modes, trigger levels, the interrupt line (RIS & IMSC), transmission as
 * Linux's driver does it (never stalls), loopback with overruns and breaks, modem lines,
 * hostile accesses, host input from files, pipes and terminals without loss, the hostdev
 * forms, option errors, reset and the status line. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fake_embedder.h"

#define BASE 0x9000000ull
#define GSI  33 /* gic:1 */

enum {
    DR = 0x000,
    RSR = 0x004,
    FR = 0x018,
    ILPR = 0x020,
    IBRD = 0x024,
    FBRD = 0x028,
    LCR_H = 0x02c,
    CR = 0x030,
    IFLS = 0x034,
    IMSC = 0x038,
    RIS = 0x03c,
    MIS = 0x040,
    ICR = 0x044,
    DMACR = 0x048,
};

/* FR */
#define CTS  0x001
#define DSR  0x002
#define DCD  0x004
#define BUSY 0x008
#define RXFE 0x010
#define TXFF 0x020
#define RXFF 0x040
#define TXFE 0x080
#define RI   0x100
/* interrupts */
#define I_RI  0x001
#define I_CTS 0x002
#define I_DCD 0x004
#define I_DSR 0x008
#define I_RX  0x010
#define I_TX  0x020
#define I_RT  0x040
#define I_BE  0x200
#define I_OE  0x400
/* CR, LCR_H */
#define UARTEN 0x0001
#define LBE    0x0080
#define TXE    0x0100
#define RXE    0x0200
#define FEN    0x10
#define ON     (UARTEN | TXE | RXE)

static struct fake_embedder fe;
static char out_path[64];
static char in_path[64];

static void make_temp(char *path, size_t len)
{
    snprintf(path, len, "/tmp/test_pl011_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static void setup(void)
{
    make_temp(out_path, sizeof(out_path));
    in_path[0] = '\0';
    fake_machine_new(&fe);
    struct vdev_err err;
    ck_assert_msg(vdev_machine_add_pic(fe.m, "gic", 224, 32, &err) == 0, "%s", err.msg);
}

static void teardown(void)
{
    if (fe.m)
        fake_machine_free(&fe);
    unlink(out_path);
    if (in_path[0])
        unlink(in_path);
}

/* "ram 16M vdev pl011 loc 0x9000000 intr gic:1 hostdev >OUT <extra>" must build. */
static void build(const char *extra)
{
    char conf[512];
    struct vdev_err err;
    snprintf(conf, sizeof(conf), "ram 16M vdev pl011 loc 0x9000000 intr gic:1 hostdev >%s %s",
             out_path, extra);
    int rc = fake_machine_build_string(&fe, conf, &err);
    ck_assert_msg(rc == 0, "build failed: %s", err.msg);
}

/* The build of conf fails with a message containing each of want (NULL-terminated). */
static void refused(const char *conf, const char *const *want)
{
    struct vdev_err err;
    ck_assert_msg(fake_machine_build_string(&fe, conf, &err) != 0, "accepted: %s", conf);
    for (; *want; want++)
        ck_assert_msg(strstr(err.msg, *want), "'%s' not in: %s", *want, err.msg);
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    vdev_machine_add_pic(fe.m, "gic", 224, 32, &err);
}

static uint64_t rdn(uint64_t off, unsigned size)
{
    uint64_t v = 0;
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_MEM, BASE + off, size, false, &v),
                     VDEV_ACCESS_OK);
    return v;
}

static void wrn(uint64_t off, unsigned size, uint64_t v)
{
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_MEM, BASE + off, size, true, &v),
                     VDEV_ACCESS_OK);
}

static uint32_t rd(uint64_t off)
{
    return (uint32_t)rdn(off, 4);
}

static void wr(uint64_t off, uint32_t v)
{
    wrn(off, 4, v);
}

static bool line(void)
{
    return fe.gsi_level[GSI];
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static char buf[65536];
    *len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Input arrives on the core's event thread: waits up to 5 s for data (FR.RXFE clear). */
static bool wait_data(void)
{
    for (int i = 0; i < 5000; i++) {
        if (!(rd(FR) & RXFE))
            return true;
        vdev_machine_poll(fe.m, 1);
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return false;
}

/* ---- identity and power-on ---- */

/* What Linux's AMBA bus reads (readl, low byte of each word) to match amba-pl011. */
START_TEST(primecell_ids)
{
    build("");
    static const uint8_t want[8] = {0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
    uint32_t pid = 0, cid = 0;
    for (unsigned i = 0; i < 8; i++) {
        uint32_t v = rd(0xfe0 + 4 * i);
        ck_assert_uint_eq(v, want[i]);
        ck_assert_uint_eq(rdn(0xfe0 + 4 * i, 1), want[i]);
        if (i < 4)
            pid |= (v & 0xff) << (8 * i);
        else
            cid |= (v & 0xff) << (8 * (i - 4));
    }
    ck_assert_uint_eq(cid, 0xb105f00d);              /* AMBA_CID */
    ck_assert_uint_eq(pid & 0x000fffff, 0x00041011); /* amba-pl011's id and mask */
    ck_assert_uint_eq((pid >> 20) & 0xf, 3);         /* revision 3: r1p5, 32-entry FIFOs */
    wr(0xfe0, 0);
    wr(0xff0, 0);
    ck_assert_uint_eq(rd(0xfe0), 0x11); /* read-only */
    ck_assert_uint_eq(rd(0xff0), 0x0d);
}
END_TEST

START_TEST(power_on_registers)
{
    build("");
    ck_assert_uint_eq(rd(FR), TXFE | RXFE | CTS | DSR | DCD);
    ck_assert_uint_eq(rd(RSR), 0);
    ck_assert_uint_eq(rd(ILPR), 0);
    ck_assert_uint_eq(rd(IBRD), 0);
    ck_assert_uint_eq(rd(FBRD), 0);
    ck_assert_uint_eq(rd(LCR_H), 0);
    ck_assert_uint_eq(rd(CR), TXE | RXE);
    ck_assert_uint_eq(rd(IFLS), 0x12);
    ck_assert_uint_eq(rd(IMSC), 0);
    ck_assert_uint_eq(rd(RIS), 0);
    ck_assert_uint_eq(rd(MIS), 0);
    ck_assert_uint_eq(rd(DMACR), 0);
    ck_assert_uint_eq(rd(DR), 0); /* nothing received */
    ck_assert(!line());
}
END_TEST

/* Each register keeps the bits it has; the read-only ones ignore writes. */
START_TEST(register_widths_and_masks)
{
    build("");
    wr(ILPR, 0xffffffff);
    ck_assert_uint_eq(rd(ILPR), 0xff);
    wr(IBRD, 0xffffffff);
    ck_assert_uint_eq(rd(IBRD), 0xffff);
    wr(FBRD, 0xffffffff);
    ck_assert_uint_eq(rd(FBRD), 0x3f);
    wr(LCR_H, 0xffffff6e); /* all but BRK and FEN */
    ck_assert_uint_eq(rd(LCR_H), 0x6e);
    wr(IFLS, 0xffffffff);
    ck_assert_uint_eq(rd(IFLS), 0x3f);
    wr(IMSC, 0xffffffff);
    ck_assert_uint_eq(rd(IMSC), 0x7ff);
    wr(IMSC, 0);
    wr(DMACR, 0xffffffff);
    ck_assert_uint_eq(rd(DMACR), 0x7);
    wr(CR, 0xffff & ~LBE);
    ck_assert_uint_eq(rd(CR), 0xff07); /* bits 6:3 reserved */
    wr(CR, TXE | RXE);
    uint32_t fr = rd(FR);
    wr(FR, 0);
    wr(RIS, 0x7ff);
    wr(MIS, 0x7ff);
    ck_assert_uint_eq(rd(FR), fr);
    ck_assert_uint_eq(rd(RIS), 0);
    ck_assert(!line());
    size_t len;
    slurp(out_path, &len);
    ck_assert_uint_eq(len, 0); /* no register write is output */
}
END_TEST

/* 8- and 16-bit accesses at a register's offset (Linux's readw/writew, earlycon's writeb);
 * anything at another offset, and reserved registers, read 0 and do nothing; 64-bit
 * accesses are refused. */
START_TEST(access_sizes_and_offsets)
{
    build("");
    ck_assert_uint_eq(rdn(FR, 2), TXFE | RXFE | CTS | DSR | DCD);
    ck_assert_uint_eq(rdn(FR, 1), TXFE | RXFE | CTS | DSR | DCD);
    ck_assert_uint_eq(rdn(CR, 1), 0x00); /* the low byte of 0x0300 */
    wrn(IBRD, 2, 0x1234);
    ck_assert_uint_eq(rd(IBRD), 0x1234);
    wrn(IBRD, 1, 0x56); /* zero-extended: an APB register sees the whole word */
    ck_assert_uint_eq(rd(IBRD), 0x56);
    wrn(IMSC + 1, 1, 0x07); /* not a register's offset: ignored */
    ck_assert_uint_eq(rd(IMSC), 0);
    ck_assert_uint_eq(rdn(CR + 1, 1), 0);
    ck_assert_uint_eq(rdn(CR + 2, 2), 0);
    static const uint64_t reserved[] = {0x008, 0x014, 0x01c, 0x04c, 0x080, 0x084, 0xfdc};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        wr(reserved[i], 0xffffffff);
        ck_assert_uint_eq(rd(reserved[i]), 0);
    }
    ck_assert_uint_eq(rd(ICR), 0); /* write-only */
    uint64_t v = 'x';
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_MEM, BASE + DR, 8, true, &v),
                     VDEV_ACCESS_BAD_SIZE);
    size_t len;
    slurp(out_path, &len);
    ck_assert_uint_eq(len, 0);
    /* the window is 4 KiB: the next page is not the UART's */
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_MEM, BASE + 0x1000, 4, false, &v),
                     VDEV_ACCESS_UNMAPPED);
}
END_TEST

/* ---- transmit ---- */

START_TEST(tx_reaches_hostdev_byte_exact)
{
    build("");
    /* Before anything enables the UART, as a kernel's earlycon writes (writeb). */
    wrn(DR, 1, 'H');
    wrn(DR, 2, 0x0169); /* writew: the low byte is the character */
    wr(DR, 0xffffff00);
    wrn(DR, 1, 0xff);
    wrn(DR, 4, '\n');
    const uint8_t want[] = {'H', 'i', 0x00, 0xff, '\n'};
    size_t len;
    char *got = slurp(out_path, &len);
    ck_assert_uint_eq(len, sizeof(want));
    ck_assert_mem_eq(got, want, sizeof(want));
    ck_assert_uint_eq(rd(FR) & (TXFE | TXFF | BUSY), TXFE); /* instantaneous */
}
END_TEST

/* TX: nothing before the first write (the chip's "transition" rule); each write drains the
 * FIFO at once and sets it; ICR clears it; the line follows RIS & IMSC. */
START_TEST(tx_interrupt)
{
    build("");
    wr(CR, ON);
    wr(IMSC, I_TX);
    ck_assert_uint_eq(rd(RIS), 0);
    ck_assert(!line());
    wr(DR, 'a');
    ck_assert_uint_eq(rd(RIS), I_TX);
    ck_assert_uint_eq(rd(MIS), I_TX);
    ck_assert(line());
    wr(ICR, I_TX);
    ck_assert_uint_eq(rd(RIS), 0);
    ck_assert(!line());
    wr(DR, 'b');
    ck_assert(line());
    wr(IMSC, 0); /* masked: the raw status stays */
    ck_assert(!line());
    ck_assert_uint_eq(rd(RIS), I_TX);
    ck_assert_uint_eq(rd(MIS), 0);
    wr(IMSC, I_TX);
    ck_assert(line());
}
END_TEST

/* Linux's amba-pl011 (pl011_start_tx_pio, pl011_tx_chars, pl011_int): start_tx writes while
 * FR.TXFF is clear and unmasks TXIM only if the FIFO filled; the interrupt handler writes
 * up to fifosize/2 characters without looking at FR and keeps TXIM while its buffer has
 * more, so the TX interrupt must come back after those writes. Neither path may stall. */
START_TEST(tx_as_linux_drives_it_never_stalls)
{
    build("");
    wr(IFLS, 0x12);
    wr(LCR_H, 0x70); /* 8N1, FIFO */
    wr(CR, ON);
    wr(IMSC, I_RX | I_RT);
    /* start_tx: everything fits (TXFF never appears), so TXIM stays masked */
    char msg[600];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (char)('a' + i % 26);
    size_t sent = 0;
    while (sent < 100) {
        ck_assert_uint_eq(rd(FR) & TXFF, 0);
        wrn(DR, 2, (uint8_t)msg[sent++]);
    }
    ck_assert(!line());
    /* the interrupt path: TXIM on with a transmission pending */
    wr(IMSC, I_RX | I_RT | I_TX);
    unsigned passes = 0;
    while (rd(MIS) & I_TX) {
        ck_assert(line());
        ck_assert_uint_lt(++passes, 1000);
        for (int n = 0; n < 16 && sent < sizeof(msg); n++) /* fifosize / 2 */
            wrn(DR, 2, (uint8_t)msg[sent++]);
        if (sent == sizeof(msg))
            wr(IMSC, I_RX | I_RT); /* pl011_stop_tx */
    }
    ck_assert_uint_eq(sent, sizeof(msg));
    ck_assert(!line());
    size_t len;
    char *got = slurp(out_path, &len);
    ck_assert_uint_eq(len, sizeof(msg));
    ck_assert_mem_eq(got, msg, sizeof(msg));
}
END_TEST

/* ---- receive: loopback, FIFO modes, trigger levels ---- */

/* Loopback sends to the receiver, not the host; without FEN one holding register. */
START_TEST(loopback_holding_register_and_overrun)
{
    build("");
    wr(CR, ON | LBE);
    wr(DR, 'L');
    ck_assert_uint_eq(rd(FR) & (RXFE | RXFF), RXFF);
    wr(DR, 'M');                     /* the holding register is full: 'M' is lost */
    ck_assert_uint_eq(rd(RSR), 0x8); /* OE at once */
    ck_assert(rd(RIS) & I_OE);
    ck_assert_uint_eq(rd(DR), 'L');
    ck_assert_uint_eq(rd(FR) & RXFE, RXFE);
    wr(DR, 'N'); /* the first character after the overrun carries OE */
    ck_assert_uint_eq(rd(DR), 0x800 | 'N');
    ck_assert_uint_eq(rd(RSR), 0x8);
    wr(RSR, 0); /* ECR */
    ck_assert_uint_eq(rd(RSR), 0);
    wr(DR, 'O');
    ck_assert_uint_eq(rd(DR), 'O');
    wr(ICR, 0x7ff);
    ck_assert_uint_eq(rd(RIS), 0);
    size_t len;
    slurp(out_path, &len);
    ck_assert_uint_eq(len, 0); /* nothing through the host side */
}
END_TEST

START_TEST(loopback_fifo_holds_32)
{
    build("");
    wr(LCR_H, FEN | 0x60);
    wr(CR, ON | LBE);
    for (int i = 0; i < 32; i++) {
        ck_assert_uint_eq(rd(FR) & RXFF, 0);
        wr(DR, (uint32_t)('a' + i % 26));
    }
    ck_assert_uint_eq(rd(FR) & (RXFF | RXFE), RXFF);
    ck_assert_uint_eq(rd(RIS) & I_OE, 0);
    wr(DR, '!'); /* the 33rd */
    ck_assert(rd(RIS) & I_OE);
    for (int i = 0; i < 32; i++)
        ck_assert_uint_eq(rd(DR), (uint32_t)('a' + i % 26));
    ck_assert_uint_eq(rd(FR) & RXFE, RXFE);
    /* leaving FIFO mode keeps what was received; nothing more fits until it is read */
    wr(DR, 'x');
    wr(DR, 'y');
    wr(ICR, 0x7ff);
    wr(LCR_H, 0x60);
    ck_assert_uint_eq(rd(FR) & (RXFE | RXFF), RXFF);
    ck_assert_uint_eq(rd(RIS) & (I_RX | I_RT), I_RX); /* one character is the level now */
    wr(DR, 'w');
    ck_assert(rd(RIS) & I_OE);
    ck_assert_uint_eq(rd(DR), 0x800 | 'x'); /* the first stored after the 33rd was lost */
    ck_assert_uint_eq(rd(FR) & (RXFE | RXFF), RXFF);
    ck_assert_uint_eq(rd(DR), 'y');
    ck_assert_uint_eq(rd(FR) & (RXFE | RXFF), RXFE);
    ck_assert_uint_eq(rd(RIS) & (I_RX | I_RT), 0);
    /* the receiver off: loopback bytes are lost, not stored */
    wr(CR, UARTEN | TXE | LBE);
    wr(DR, 'z');
    ck_assert_uint_eq(rd(FR) & RXFE, RXFE);
}
END_TEST

/* RX at the IFLS level (1/8, 1/4, 1/2, 3/4, 7/8 of 32; reserved values as 7/8), RT for data
 * below it; reading below the level clears RX, reading the FIFO empty clears RT. */
START_TEST(rx_trigger_levels)
{
    build("");
    static const unsigned level[8] = {4, 8, 16, 24, 28, 28, 28, 28};
    wr(LCR_H, FEN | 0x60);
    wr(CR, ON | LBE);
    wr(IMSC, I_RX);
    for (unsigned sel = 0; sel < 8; sel++) {
        wr(IFLS, sel << 3);
        for (unsigned i = 1; i < level[sel]; i++) {
            wr(DR, i);
            ck_assert_uint_eq(rd(RIS) & (I_RX | I_RT), I_RT);
            ck_assert(!line());
        }
        wr(DR, 0xaa);
        ck_assert_msg(rd(RIS) & I_RX, "select %u: no RX at %u", sel, level[sel]);
        ck_assert(line());
        rd(DR);
        ck_assert_uint_eq(rd(RIS) & I_RX, 0);
        ck_assert(!line());
        ck_assert(rd(RIS) & I_RT); /* data is left below the level */
        while (!(rd(FR) & RXFE))
            rd(DR);
        ck_assert_uint_eq(rd(RIS) & (I_RX | I_RT), 0);
        wr(ICR, I_TX);
    }
    /* without FEN the level is one character */
    wr(LCR_H, 0x60);
    wr(DR, 'c');
    ck_assert_uint_eq(rd(RIS) & (I_RX | I_RT), I_RX);
    rd(DR);
    ck_assert_uint_eq(rd(RIS) & (I_RX | I_RT), 0);
}
END_TEST

/* RT raises the line through RTIM; ICR clears it until the next character arrives; a lower
 * trigger level set with data waiting raises RX at once. */
START_TEST(rx_timeout_and_icr)
{
    build("");
    wr(LCR_H, FEN | 0x60);
    wr(CR, ON | LBE);
    wr(IMSC, I_RT);
    wr(DR, 'a');
    ck_assert(line());
    wr(ICR, I_RT);
    ck_assert(!line());
    ck_assert_uint_eq(rd(FR) & RXFE, 0); /* the data is still there */
    wr(DR, 'b');
    ck_assert(line());
    wr(IMSC, I_RX);
    ck_assert(!line());
    wr(IFLS, 0x00); /* RX at 4: two waiting */
    ck_assert(!line());
    wr(DR, 'c');
    wr(DR, 'd');
    ck_assert(line());
    ck_assert_uint_eq(rd(DR), 'a');
    ck_assert(!line());
    wr(IFLS, 0x00);
    ck_assert_uint_eq(rd(DR), 'b');
    ck_assert_uint_eq(rd(DR), 'c');
    ck_assert_uint_eq(rd(DR), 'd');
    ck_assert_uint_eq(rd(RIS) & (I_RX | I_RT), 0);
}
END_TEST

START_TEST(loopback_break)
{
    build("");
    wr(LCR_H, FEN | 0x60);
    wr(CR, ON | LBE);
    wr(LCR_H, FEN | 0x60 | 0x01);
    wr(LCR_H, FEN | 0x60 | 0x01); /* still on: one break */
    ck_assert(rd(RIS) & I_BE);
    ck_assert_uint_eq(rd(DR), 0x400);
    ck_assert_uint_eq(rd(RSR), 0x4);
    ck_assert_uint_eq(rd(FR) & RXFE, RXFE);
}
END_TEST

/* Modem inputs: a connected peer; in loopback RTS->CTS, DTR->DSR, OUT1->DCD, OUT2->RI,
 * each change raising its interrupt. */
START_TEST(modem_lines)
{
    build("");
    const uint32_t peer = CTS | DSR | DCD;
    ck_assert_uint_eq(rd(FR) & (peer | RI), peer);
    wr(IMSC, I_RI | I_CTS | I_DCD | I_DSR);
    wr(CR, ON | LBE); /* all outputs off: CTS, DSR, DCD drop */
    ck_assert_uint_eq(rd(FR) & (peer | RI), 0);
    ck_assert_uint_eq(rd(RIS), I_CTS | I_DSR | I_DCD);
    ck_assert(line());
    wr(ICR, 0x00f);
    ck_assert(!line());
    static const struct {
        uint32_t out, in, irq;
    } map[] = {
        {0x0800, CTS, I_CTS}, {0x0400, DSR, I_DSR}, {0x1000, DCD, I_DCD}, {0x2000, RI, I_RI}};
    for (size_t i = 0; i < 4; i++) {
        wr(CR, ON | LBE | map[i].out);
        ck_assert_uint_eq(rd(FR) & (peer | RI), map[i].in);
        ck_assert_uint_eq(rd(RIS) & 0xf, map[i].irq);
        wr(ICR, 0xf);
        wr(CR, ON | LBE);
        ck_assert_uint_eq(rd(RIS) & 0xf, map[i].irq); /* the falling edge too */
        wr(ICR, 0xf);
    }
    wr(CR, ON);
    ck_assert_uint_eq(rd(FR) & (peer | RI), peer);
}
END_TEST

START_TEST(reset_restores_power_on)
{
    build("");
    wr(LCR_H, FEN | 0x60);
    wr(CR, ON | LBE | 0x0800);
    wr(IBRD, 13);
    wr(FBRD, 1);
    wr(IFLS, 0x2d);
    wr(DMACR, 3);
    wr(DR, 'q');
    wr(IMSC, 0x7ff);
    ck_assert(line());
    vdev_machine_reset(fe.m);
    ck_assert(!line());
    ck_assert_uint_eq(rd(CR), TXE | RXE);
    ck_assert_uint_eq(rd(LCR_H), 0);
    ck_assert_uint_eq(rd(IBRD), 0);
    ck_assert_uint_eq(rd(FBRD), 0);
    ck_assert_uint_eq(rd(IFLS), 0x12);
    ck_assert_uint_eq(rd(IMSC), 0);
    ck_assert_uint_eq(rd(RIS), 0);
    ck_assert_uint_eq(rd(DMACR), 0);
    ck_assert_uint_eq(rd(FR), TXFE | RXFE | CTS | DSR | DCD);
    wr(DR, 'r');
    size_t len;
    char *got = slurp(out_path, &len);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(got[0], 'r');
}
END_TEST

/* Whatever a guest does (any width, any offset, any value), nothing breaks, the line is
 * always RIS & IMSC, and reset still works. */
START_TEST(hostile_register_traffic)
{
    build("");
    srand(4321);
    static const unsigned sizes[3] = {1, 2, 4};
    for (int i = 0; i < 200000; i++) {
        unsigned size = sizes[rand() % 3];
        uint64_t off = (rand() & 1) ? (uint64_t)(rand() % 0x13) * 4 : (uint64_t)(rand() % 0x1000);
        if (rand() % 16 == 0)
            off = 0xfe0 + (uint64_t)(rand() % 32);
        off &= ~(uint64_t)(size - 1);
        uint64_t v = ((uint64_t)rand() << 16) ^ (uint64_t)rand();
        if (off == CR && (rand() & 3))
            v |= LBE; /* mostly keep the host out of it */
        ck_assert_int_eq(
            vdev_machine_access(fe.m, VDEV_SPACE_MEM, BASE + off, size, rand() & 1, &v),
            VDEV_ACCESS_OK);
        if (i % 64 == 0)
            ck_assert_int_eq(line(), (rd(RIS) & rd(IMSC)) != 0);
        ck_assert_uint_eq(rd(FR) & (BUSY | TXFF), 0);
    }
    vdev_machine_reset(fe.m);
    ck_assert(!line());
    ck_assert_uint_eq(rd(FR), TXFE | RXFE | CTS | DSR | DCD);
    ck_assert_uint_eq(rd(CR), TXE | RXE);
}
END_TEST

/* ---- host input ---- */

/* A file's bytes wait until the receiver is on (UARTEN and RXE), then arrive with RX. */
START_TEST(rx_from_input_file_waits_for_the_receiver)
{
    make_temp(in_path, sizeof(in_path));
    write_file(in_path, "abc", 3);
    char extra[128];
    snprintf(extra, sizeof(extra), "input %s", in_path);
    build(extra);
    wr(IMSC, I_RX | I_RT);
    for (int i = 0; i < 20; i++)
        vdev_machine_poll(fe.m, 1);
    ck_assert_uint_eq(rd(FR) & RXFE, RXFE); /* UARTEN is off */
    wr(CR, UARTEN | TXE);
    ck_assert_uint_eq(rd(FR) & RXFE, RXFE); /* RXE is off */
    wr(CR, ON | LBE);
    ck_assert_uint_eq(rd(FR) & RXFE, RXFE); /* loopback disconnects the input */
    wr(CR, ON);
    const char *want = "abc";
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(wait_data(), "byte %d never arrived", i);
        ck_assert(line());
        ck_assert_uint_eq(rd(MIS), I_RX); /* no FIFO: one character is the level */
        ck_assert_uint_eq(rd(DR), (uint8_t)want[i]);
    }
    ck_assert_uint_eq(rd(FR) & RXFE, RXFE);
    ck_assert(!line());
    ck_assert_uint_eq(rd(RSR), 0); /* never an overrun */
}
END_TEST

/* Far more input than the FIFO holds: every byte, in order, no overrun, also while the
 * FIFO stays full and the event loop turns. */
START_TEST(rx_input_is_never_lost)
{
    enum { N = 5000 };
    static uint8_t data[N];
    for (int i = 0; i < N; i++)
        data[i] = (uint8_t)(i * 7 + i / 256);
    make_temp(in_path, sizeof(in_path));
    write_file(in_path, data, N);
    char extra[128];
    snprintf(extra, sizeof(extra), "input %s", in_path);
    build(extra);
    wr(LCR_H, FEN | 0x60);
    wr(CR, ON);
    ck_assert(wait_data());
    for (int i = 0; i < 50; i++)
        vdev_machine_poll(fe.m, 1);
    ck_assert_uint_eq(rd(FR) & RXFF, RXFF); /* full, the rest waits */
    for (int i = 0; i < N; i++) {
        ck_assert_msg(wait_data(), "byte %d never arrived", i);
        ck_assert_uint_eq(rd(DR), data[i]);
    }
    ck_assert_uint_eq(rd(FR) & RXFE, RXFE);
    ck_assert_uint_eq(rd(RSR), 0);
    ck_assert_uint_eq(rd(RIS) & I_OE, 0);
}
END_TEST

/* The same without the guest flushing anything: FIFO mode then holding-register mode. */
START_TEST(rx_input_in_order_both_modes)
{
    enum { N = 3000 };
    static uint8_t data[N];
    for (int i = 0; i < N; i++)
        data[i] = (uint8_t)(i ^ (i >> 8));
    make_temp(in_path, sizeof(in_path));
    write_file(in_path, data, N);
    char extra[128];
    snprintf(extra, sizeof(extra), "hostdev <%s", in_path);
    build(extra);
    wr(CR, ON);
    int i = 0;
    for (; i < N / 2; i++) { /* one character at a time */
        ck_assert_msg(wait_data(), "byte %d never arrived", i);
        ck_assert_uint_eq(rd(FR) & RXFF, RXFF);
        ck_assert_uint_eq(rd(DR), data[i]);
    }
    /* switching to FIFO mode with a character waiting loses nothing */
    ck_assert(wait_data());
    wr(LCR_H, FEN | 0x60);
    for (; i < N; i++) {
        ck_assert_msg(wait_data(), "byte %d never arrived", i);
        ck_assert_uint_eq(rd(DR), data[i]);
    }
    ck_assert_uint_eq(rd(FR) & RXFE, RXFE);
    ck_assert_uint_eq(rd(RSR), 0);
}
END_TEST

/* A pipe is watched on the event thread; a burst larger than the FIFO is not lost, and the
 * pipe is watched again afterwards. */
START_TEST(rx_from_pipe)
{
    snprintf(in_path, sizeof(in_path), "/tmp/test_pl011_fifo_%d", (int)getpid());
    unlink(in_path);
    ck_assert_int_eq(mkfifo(in_path, 0600), 0);
    int wfd = open(in_path, O_RDWR);
    ck_assert_int_ge(wfd, 0);
    char extra[128];
    snprintf(extra, sizeof(extra), "input %s", in_path);
    build(extra);
    wr(LCR_H, FEN | 0x60);
    wr(CR, ON);
    wr(IMSC, I_RX | I_RT);
    ck_assert_uint_eq(rd(FR) & RXFE, RXFE);
    ck_assert(!line());
    ck_assert_int_eq(write(wfd, "hello", 5), 5);
    ck_assert(wait_data());
    ck_assert(line());
    for (const char *p = "hello"; *p; p++) {
        ck_assert(wait_data());
        ck_assert_uint_eq(rd(DR), (uint8_t)*p);
    }
    ck_assert(!line());
    enum { N = 3000 };
    static uint8_t data[N];
    for (int i = 0; i < N; i++)
        data[i] = (uint8_t)(i * 13);
    ck_assert_int_eq(write(wfd, data, N), N);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(wait_data(), "byte %d never arrived", i);
        ck_assert_uint_eq(rd(DR), data[i]);
    }
    ck_assert_uint_eq(rd(RSR), 0);
    ck_assert_int_eq(write(wfd, "z", 1), 1);
    ck_assert(wait_data());
    ck_assert_uint_eq(rd(DR), 'z');
    close(wfd);
}
END_TEST

/* ---- hostdev forms and options ---- */

START_TEST(hostdev_pty_both_ways)
{
    struct vdev_err err;
    ck_assert_msg(fake_machine_build_string(
                      &fe, "ram 16M vdev pl011 loc 0x9000000 intr gic:1 hostdev pty", &err) == 0,
                  "%s", err.msg);
    const char *at = strstr(fe.log, "the console is ");
    ck_assert_msg(at, "no pty name in the log: %s", fe.log);
    char name[64];
    ck_assert_int_eq(sscanf(at, "the console is %63s", name), 1);
    int fd = open(name, O_RDWR | O_NOCTTY);
    ck_assert_int_ge(fd, 0);
    wr(DR, 'g');
    char c = 0;
    ck_assert_int_eq(read(fd, &c, 1), 1);
    ck_assert_uint_eq(c, 'g');
    wr(CR, ON);
    ck_assert_int_eq(write(fd, "h", 1), 1);
    ck_assert_msg(wait_data(), "no input from the pty");
    ck_assert_uint_eq(rd(DR), 'h');
    close(fd);
}
END_TEST

START_TEST(hostdev_into_a_command_and_directions)
{
    char conf[256], other[64];
    make_temp(other, sizeof(other));
    struct vdev_err err;
    /* a later hostdev replaces the direction it names, and only that */
    snprintf(conf, sizeof(conf),
             "ram 16M vdev pl011 loc 0x9000000 intr gic:1 hostdev >%s "
             "hostdev >\"|tr a-z A-Z > %s\"",
             other, out_path);
    ck_assert_msg(fake_machine_build_string(&fe, conf, &err) == 0, "%s", err.msg);
    for (const char *p = "hello\n"; *p; p++)
        wr(DR, (uint8_t)*p);
    fake_machine_free(&fe); /* closes the pipe: the command ends */
    size_t len = 0;
    char *got = NULL;
    for (int i = 0; i < 200 && len < 6; i++) {
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        got = slurp(out_path, &len);
    }
    ck_assert_uint_eq(len, 6);
    ck_assert_mem_eq(got, "HELLO\n", 6);
    slurp(other, &len);
    ck_assert_uint_eq(len, 0);
    unlink(other);
}
END_TEST

START_TEST(options_refused_with_hints)
{
    refused("ram 16M vdev pl011 intr gic:1",
            (const char *const[]){"test.conf:1:14: vdev pl011: 'loc' is required",
                                  "hint: e.g. 'loc 0x9000000 intr gic:1'", NULL});
    refused("ram 16M vdev pl011 loc 0x9000000",
            (const char *const[]){"'intr' is required", "hint: e.g.", NULL});
    refused("ram 16M vdev pl011 loc io:0x3f8 intr gic:1",
            (const char *const[]){"cannot sit in I/O space", NULL});
    refused("ram 16M vdev pl011 loc 0x9000000 intr gic:1 speeed 9600",
            (const char *const[]){"test.conf:1:45: vdev pl011: unknown option 'speeed'", NULL});
    refused("ram 16M vdev pl011 loc 0x9000000 intr gic:1 hostdev >",
            (const char *const[]){"hint: write e.g. 'hostdev >-'", NULL});
    refused("ram 16M vdev pl011 loc 0x9000000 intr gic:1 delayed 5",
            (const char *const[]){"option 'delayed'", "hint:", NULL});
    refused("ram 16M vdev pl011 loc 0x9000000 intr gic:1 sched high",
            (const char *const[]){"option 'sched': bad value 'high'", "hint:", NULL});
    refused("ram 16M vdev pl011 loc 0x9000000 intr gic:1 input /nonexistent-vdevkit/in",
            (const char *const[]){"input /nonexistent-vdevkit/in", NULL});
    refused("ram 16M vdev pl011 loc 0x9000000,0x100 intr gic:1",
            (const char *const[]){"does not match the device's window of 0x1000", NULL});
    struct vdev_err err;
    ck_assert_msg(fake_machine_build_string(&fe,
                                            "ram 16M vdev pl011 loc mem:0x9000000 intr gic:1 "
                                            "hostdev stderr sched 10 batch 1000 input none",
                                            &err) == 0,
                  "%s", err.msg);
}
END_TEST

START_TEST(two_uarts_and_status)
{
    char path2[64];
    make_temp(path2, sizeof(path2));
    char extra[256];
    snprintf(extra, sizeof(extra), "vdev pl011 loc 0x9001000 intr gic:2 hostdev >%s", path2);
    build(extra);
    wr(DR, '1');
    uint64_t v = '2';
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_MEM, BASE + 0x1000, 4, true, &v),
                     VDEV_ACCESS_OK);
    v = I_TX;
    vdev_machine_access(fe.m, VDEV_SPACE_MEM, BASE + 0x1000 + IMSC, 4, true, &v);
    ck_assert(fe.gsi_level[34]);
    ck_assert(!line());
    size_t len;
    char *got = slurp(out_path, &len);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(got[0], '1');
    got = slurp(path2, &len);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(got[0], '2');
    unlink(path2);
    wr(IBRD, 13);
    wr(LCR_H, 0x70);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    ck_assert_ptr_nonnull(f);
    vdev_machine_print(fe.m, f);
    fclose(f);
    ck_assert_msg(strstr(text, "bytes in 0, out 1; CR 0x0300 LCR_H 0x70 IFLS 0x12 IMSC 0x000 "
                               "RIS 0x020 IBRD 13 FBRD 0, rx fifo 0"),
                  "%s", text);
    free(text);
}
END_TEST

static Suite *pl011_suite(void)
{
    Suite *s = suite_create("pl011");
    TCase *tc = tcase_create("uart");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, primecell_ids);
    tcase_add_test(tc, power_on_registers);
    tcase_add_test(tc, register_widths_and_masks);
    tcase_add_test(tc, access_sizes_and_offsets);
    tcase_add_test(tc, tx_reaches_hostdev_byte_exact);
    tcase_add_test(tc, tx_interrupt);
    tcase_add_test(tc, tx_as_linux_drives_it_never_stalls);
    tcase_add_test(tc, loopback_holding_register_and_overrun);
    tcase_add_test(tc, loopback_fifo_holds_32);
    tcase_add_test(tc, rx_trigger_levels);
    tcase_add_test(tc, rx_timeout_and_icr);
    tcase_add_test(tc, loopback_break);
    tcase_add_test(tc, modem_lines);
    tcase_add_test(tc, reset_restores_power_on);
    tcase_add_test(tc, hostile_register_traffic);
    tcase_add_test(tc, rx_from_input_file_waits_for_the_receiver);
    tcase_add_test(tc, rx_input_is_never_lost);
    tcase_add_test(tc, rx_input_in_order_both_modes);
    tcase_add_test(tc, rx_from_pipe);
    tcase_add_test(tc, hostdev_pty_both_ways);
    tcase_add_test(tc, hostdev_into_a_command_and_directions);
    tcase_add_test(tc, options_refused_with_hints);
    tcase_add_test(tc, two_uarts_and_status);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pl011_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
