/* ser8250: the 16550A UART, driven through the I/O map as a guest would. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fake_embedder.h"

#define COM1 0x3f8

enum { RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR };

static struct fake_embedder fe;
static char out_path[64];
static char in_path[64];
static uint64_t base = COM1;

static void make_temp(char *path, size_t len)
{
    snprintf(path, len, "/tmp/test_ser8250_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static void setup(void)
{
    make_temp(out_path, sizeof(out_path));
    in_path[0] = '\0';
    base = COM1;
    fake_machine_new(&fe);
}

static void teardown(void)
{
    if (fe.m)
        fake_machine_free(&fe);
    unlink(out_path);
    if (in_path[0])
        unlink(in_path);
}

/* Builds "ram 16M vdev ser8250 hostdev OUT <extra>"; the build must succeed. */
static void build(const char *extra)
{
    char conf[512];
    struct vdev_err err;
    snprintf(conf, sizeof(conf), "ram 16M vdev ser8250 hostdev %s %s", out_path, extra);
    int rc = fake_machine_build_string(&fe, conf, &err);
    ck_assert_msg(rc == 0, "build failed: %s", err.msg);
}

static uint8_t rd(unsigned reg)
{
    uint64_t v = 0;
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_IO, base + reg, 1, false, &v),
                     VDEV_ACCESS_OK);
    ck_assert_uint_le(v, 0xff);
    return (uint8_t)v;
}

static void wr(unsigned reg, uint8_t val)
{
    uint64_t v = val;
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_IO, base + reg, 1, true, &v),
                     VDEV_ACCESS_OK);
}

/* The whole file; *len receives its size. */
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

/* Input arrives on the core's event thread: waits up to 5 s for LSR.DR. */
static bool wait_data(void)
{
    for (int i = 0; i < 5000; i++) {
        if (rd(LSR) & 0x01)
            return true;
        vdev_machine_poll(fe.m, 1);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

START_TEST(tx_reaches_hostdev_byte_exact)
{
    build("");
    const uint8_t msg[] = {'H', 'i', 0x00, 0xff, '\r', '\n', 0x80, 'z'};
    for (size_t i = 0; i < sizeof(msg); i++)
        wr(RBR, msg[i]);
    size_t len;
    char *got = slurp(out_path, &len);
    ck_assert_uint_eq(len, sizeof(msg));
    ck_assert_mem_eq(got, msg, sizeof(msg));
}
END_TEST

START_TEST(hostdev_file_is_appended)
{
    write_file(out_path, "old\n", 4);
    build("");
    wr(RBR, 'n');
    size_t len;
    char *got = slurp(out_path, &len);
    ck_assert_uint_eq(len, 5);
    ck_assert_mem_eq(got, "old\nn", 5);
}
END_TEST

START_TEST(power_on_registers)
{
    build("");
    ck_assert_uint_eq(rd(IER), 0x00);
    ck_assert_uint_eq(rd(IIR), 0x01);
    ck_assert_uint_eq(rd(LCR), 0x00);
    ck_assert_uint_eq(rd(MCR), 0x00);
    ck_assert_uint_eq(rd(LSR), 0x60); /* THRE | TEMT */
    ck_assert_uint_eq(rd(MSR), 0xb0); /* DCD | DSR | CTS: a connected peer */
    wr(RBR, 'a');
    ck_assert_uint_eq(rd(LSR), 0x60); /* transmission is instantaneous */
    ck_assert(!fe.gsi_level[4]);
}
END_TEST

START_TEST(scratch_register)
{
    build("");
    wr(SCR, 0x55);
    ck_assert_uint_eq(rd(SCR), 0x55);
    wr(SCR, 0xaa);
    ck_assert_uint_eq(rd(SCR), 0xaa);
}
END_TEST

START_TEST(ier_keeps_four_bits)
{
    /* Linux probes IER with 0 and 0x0f, and tells an XScale UART by bit 6 sticking. */
    build("");
    wr(IER, 0x00);
    ck_assert_uint_eq(rd(IER), 0x00);
    wr(IER, 0xff);
    ck_assert_uint_eq(rd(IER), 0x0f);
}
END_TEST

START_TEST(dlab_and_divisor)
{
    build("");
    wr(LCR, 0x83); /* DLAB, 8N1 */
    wr(RBR, 0x01); /* DLL */
    wr(IER, 0x02); /* DLM */
    ck_assert_uint_eq(rd(RBR), 0x01);
    ck_assert_uint_eq(rd(IER), 0x02);
    ck_assert_uint_eq(rd(LCR), 0x83);
    wr(LCR, 0x03);
    ck_assert_uint_eq(rd(IER), 0x00); /* the real IER again, untouched */
    ck_assert_uint_eq(rd(LCR), 0x03);
    wr(LCR, 0x83);
    ck_assert_uint_eq(rd(RBR), 0x01);
    ck_assert_uint_eq(rd(IER), 0x02);
    wr(LCR, 0x03);
    size_t len;
    slurp(out_path, &len);
    ck_assert_uint_eq(len, 0); /* divisor writes are not output */
}
END_TEST

START_TEST(fifo_enable_in_iir)
{
    build("");
    wr(IIR, 0x01); /* FCR: FIFO enable */
    ck_assert_uint_eq(rd(IIR), 0xc1);
    wr(IIR, 0x07); /* enable + clear both */
    ck_assert_uint_eq(rd(IIR), 0xc1);
    wr(IIR, 0x00);
    ck_assert_uint_eq(rd(IIR), 0x01);
}
END_TEST

/* The sequence of serial8250_do_startup(): THRE must assert when ETBEI is enabled with an
 * empty THR, clear when IIR reports it, and assert again when ETBEI is re-enabled. */
START_TEST(thre_interrupt_linux_sequence)
{
    build("");
    wr(IIR, 0x07);
    wr(LCR, 0x03);
    wr(MCR, 0x0b); /* DTR | RTS | OUT2 */
    ck_assert(!fe.gsi_level[4]);

    wr(IER, 0x02);
    ck_assert(fe.gsi_level[4]);
    uint8_t iir1 = rd(IIR);
    ck_assert_uint_eq(iir1, 0xc2);
    ck_assert(!fe.gsi_level[4]); /* reading IIR acknowledged it */
    ck_assert_uint_eq(rd(IIR), 0xc1);

    wr(IER, 0x00);
    wr(IER, 0x02);
    ck_assert(fe.gsi_level[4]);
    ck_assert_uint_eq(rd(IIR), 0xc2);
    wr(IER, 0x00);
    ck_assert(!fe.gsi_level[4]);

    /* Transmitting with ETBEI on: the interrupt comes back after each byte. */
    wr(IER, 0x02);
    ck_assert_uint_eq(rd(IIR), 0xc2);
    ck_assert(!fe.gsi_level[4]);
    wr(RBR, 'x');
    ck_assert(fe.gsi_level[4]);
    ck_assert_uint_eq(rd(IIR), 0xc2);
    ck_assert(!fe.gsi_level[4]);
    unsigned raises = fe.gsi_raises[4];
    wr(IER, 0x00);
    ck_assert_uint_eq(fe.gsi_raises[4], raises);
}
END_TEST

START_TEST(out2_gates_the_line)
{
    build("");
    wr(IER, 0x02);
    ck_assert_uint_eq(rd(IIR), 0x02); /* pending ... */
    ck_assert(!fe.gsi_level[4]);      /* ... but OUT2 is off */
    wr(IER, 0x00);
    wr(IER, 0x02);
    wr(MCR, 0x08);
    ck_assert(fe.gsi_level[4]);
    wr(MCR, 0x00);
    ck_assert(!fe.gsi_level[4]);
}
END_TEST

START_TEST(loopback)
{
    build("");
    /* Linux autoconfig: MCR = LOOP | OUT2 | RTS must read MSR high nibble 0x90. */
    wr(MCR, 0x1a);
    ck_assert_uint_eq(rd(MSR) & 0xf0, 0x90);
    wr(MCR, 0x1f);
    ck_assert_uint_eq(rd(MSR) & 0xf0, 0xf0);
    wr(MCR, 0x10);
    ck_assert_uint_eq(rd(MSR), 0x0f); /* all inputs dropped: DCTS, DDSR, TERI, DDCD */
    ck_assert_uint_eq(rd(MSR), 0x00); /* deltas clear on read */

    wr(RBR, 'L');
    ck_assert_uint_eq(rd(LSR) & 0x01, 0x01);
    ck_assert_uint_eq(rd(RBR), 'L');
    ck_assert_uint_eq(rd(LSR) & 0x01, 0x00);

    /* Without FIFO the second byte overruns the first. */
    wr(RBR, '1');
    wr(RBR, '2');
    ck_assert_uint_eq(rd(LSR), 0x63); /* DR | OE | THRE | TEMT */
    ck_assert_uint_eq(rd(LSR), 0x61); /* OE cleared by the read */
    ck_assert_uint_eq(rd(RBR), '1');

    /* With FIFO: 16 bytes fit, the 17th overruns. */
    wr(IIR, 0x07);
    for (int i = 0; i < 17; i++)
        wr(RBR, (uint8_t)('a' + i));
    ck_assert_uint_eq(rd(LSR) & 0x03, 0x03);
    for (int i = 0; i < 16; i++)
        ck_assert_uint_eq(rd(RBR), 'a' + i);
    ck_assert_uint_eq(rd(LSR) & 0x01, 0);

    wr(MCR, 0x00);
    ck_assert_uint_eq(rd(MSR), 0xbb); /* connected again: DCD DSR CTS and their deltas */
    size_t len;
    slurp(out_path, &len);
    ck_assert_uint_eq(len, 0); /* nothing left through the host side */
}
END_TEST

START_TEST(rx_interrupt_priorities_and_trigger)
{
    build("");
    wr(MCR, 0x18); /* loopback, OUT2 */
    wr(IIR, 0xc7); /* FIFO, trigger 14 */
    wr(IER, 0x0f); /* everything */
    rd(MSR);       /* drop the deltas from entering loopback */
    rd(IIR);       /* acknowledge THRE */
    ck_assert_uint_eq(rd(IIR), 0xc1);
    ck_assert(!fe.gsi_level[4]);

    wr(RBR, 'x'); /* below the trigger: reported as a character timeout */
    ck_assert(fe.gsi_level[4]);
    ck_assert_uint_eq(rd(IIR), 0xcc);
    for (int i = 0; i < 13; i++)
        wr(RBR, 'x');
    ck_assert_uint_eq(rd(IIR), 0xc4); /* 14 bytes: the trigger level */
    wr(RBR, 'x');
    wr(RBR, 'x');
    wr(RBR, 'x'); /* 17th: overrun, a line-status interrupt outranks data */
    ck_assert_uint_eq(rd(IIR), 0xc6);
    ck_assert_uint_eq(rd(LSR) & 0x02, 0x02);
    ck_assert_uint_eq(rd(IIR), 0xc4);
    for (int i = 0; i < 16; i++)
        rd(RBR);
    /* No data, no errors; the THR-empty interrupt came back with the writes. */
    ck_assert_uint_eq(rd(IIR), 0xc2);
    ck_assert_uint_eq(rd(IIR), 0xc1);
    ck_assert(!fe.gsi_level[4]);

    /* Modem status: lowest priority, cleared by reading MSR. */
    wr(MCR, 0x1a);
    ck_assert(fe.gsi_level[4]);
    ck_assert_uint_eq(rd(IIR), 0xc0);
    rd(MSR);
    ck_assert_uint_eq(rd(IIR), 0xc1);
    ck_assert(!fe.gsi_level[4]);
}
END_TEST

START_TEST(rx_from_input_file)
{
    make_temp(in_path, sizeof(in_path));
    write_file(in_path, "abc", 3);
    char extra[128];
    snprintf(extra, sizeof(extra), "input %s", in_path);
    build(extra);
    wr(MCR, 0x08);
    wr(IER, 0x01);
    const char *want = "abc";
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(wait_data(), "byte %d never arrived", i);
        ck_assert(fe.gsi_level[4]);
        ck_assert_uint_eq(rd(IIR), 0x04);
        ck_assert_uint_eq(rd(RBR), (uint8_t)want[i]);
    }
    ck_assert_uint_eq(rd(LSR) & 0x03, 0x00); /* no data, never an overrun */
    ck_assert(!fe.gsi_level[4]);
    ck_assert_uint_eq(rd(IIR), 0x01);
}
END_TEST

/* Far more input than the FIFO holds: every byte arrives, in order, with no overrun. */
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
    wr(IIR, 0x01);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(wait_data(), "byte %d never arrived", i);
        ck_assert_uint_eq(rd(RBR), data[i]);
    }
    ck_assert_uint_eq(rd(LSR) & 0x03, 0x00);
}
END_TEST

/* A pipe is watched on the event thread; a burst larger than the FIFO is not lost. */
START_TEST(rx_from_pipe)
{
    snprintf(in_path, sizeof(in_path), "/tmp/test_ser8250_fifo_%d", (int)getpid());
    unlink(in_path);
    ck_assert_int_eq(mkfifo(in_path, 0600), 0);
    int wfd = open(in_path, O_RDWR); /* a writer that exists before the UART opens it */
    ck_assert_int_ge(wfd, 0);
    char extra[128];
    snprintf(extra, sizeof(extra), "input %s", in_path);
    build(extra);
    wr(IIR, 0x07);
    wr(MCR, 0x08);
    wr(IER, 0x01);
    ck_assert_uint_eq(rd(LSR) & 0x01, 0); /* nothing written yet */
    ck_assert(!fe.gsi_level[4]);

    ck_assert_int_eq(write(wfd, "hello", 5), 5);
    ck_assert(wait_data());
    ck_assert(fe.gsi_level[4]);
    for (const char *p = "hello"; *p; p++) {
        ck_assert(wait_data());
        ck_assert_uint_eq(rd(RBR), (uint8_t)*p);
    }
    ck_assert(!fe.gsi_level[4]);

    enum { N = 3000 };
    static uint8_t data[N];
    for (int i = 0; i < N; i++)
        data[i] = (uint8_t)(i ^ (i >> 8));
    ck_assert_int_eq(write(wfd, data, N), N);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(wait_data(), "byte %d never arrived", i);
        ck_assert_uint_eq(rd(RBR), data[i]);
    }
    ck_assert_uint_eq(rd(LSR) & 0x03, 0x00);

    ck_assert_int_eq(write(wfd, "z", 1), 1); /* the fd is watched again after the burst */
    ck_assert(wait_data());
    ck_assert_uint_eq(rd(RBR), 'z');
    close(wfd);
}
END_TEST

START_TEST(loopback_disconnects_input)
{
    make_temp(in_path, sizeof(in_path));
    write_file(in_path, "in", 2);
    char extra[128];
    snprintf(extra, sizeof(extra), "input %s", in_path);
    build(extra);
    wr(MCR, 0x10);
    ck_assert_uint_eq(rd(LSR) & 0x01, 0); /* the host side cannot reach the receiver */
    wr(RBR, 'L');
    ck_assert_uint_eq(rd(RBR), 'L');
    ck_assert_uint_eq(rd(LSR) & 0x01, 0);
    wr(MCR, 0x00);
    ck_assert(wait_data());
    ck_assert_uint_eq(rd(RBR), 'i');
    ck_assert(wait_data());
    ck_assert_uint_eq(rd(RBR), 'n');
}
END_TEST

START_TEST(reset_restores_power_on)
{
    build("");
    wr(LCR, 0x80);
    wr(RBR, 0x03);
    wr(LCR, 0x1b);
    wr(SCR, 0x42);
    wr(IIR, 0x01);
    wr(MCR, 0x18);
    wr(RBR, 'q'); /* loopback: DR set */
    wr(IER, 0x0f);
    ck_assert(fe.gsi_level[4]);

    vdev_machine_reset(fe.m);
    ck_assert(!fe.gsi_level[4]);
    ck_assert_uint_eq(rd(IER), 0x00);
    ck_assert_uint_eq(rd(IIR), 0x01);
    ck_assert_uint_eq(rd(LCR), 0x00);
    ck_assert_uint_eq(rd(MCR), 0x00);
    ck_assert_uint_eq(rd(LSR), 0x60);
    ck_assert_uint_eq(rd(MSR) & 0xf0, 0xb0);
    ck_assert_uint_eq(rd(SCR), 0x00);
    wr(RBR, 'r');
    size_t len;
    char *got = slurp(out_path, &len);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(got[0], 'r');
}
END_TEST

START_TEST(non_default_loc_and_intr)
{
    build("loc io:0x2f8 intr ioapic:3");
    uint64_t v = 0;
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_IO, COM1, 1, false, &v),
                     VDEV_ACCESS_UNMAPPED);
    base = 0x2f8;
    wr(RBR, '2');
    wr(MCR, 0x08);
    wr(IER, 0x02);
    ck_assert(fe.gsi_level[3]);
    ck_assert(!fe.gsi_level[4]);
    ck_assert_uint_eq(rd(IIR), 0x02);
    ck_assert(!fe.gsi_level[3]);
    size_t len;
    char *got = slurp(out_path, &len);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(got[0], '2');
}
END_TEST

START_TEST(two_uarts)
{
    char path2[64];
    make_temp(path2, sizeof(path2));
    char extra[256];
    snprintf(extra, sizeof(extra), "vdev ser8250 loc io:0x2f8 intr ioapic:3 hostdev %s", path2);
    build(extra);
    wr(RBR, '1');
    base = 0x2f8;
    wr(RBR, '2');
    size_t len;
    char *got = slurp(out_path, &len);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(got[0], '1');
    got = slurp(path2, &len);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(got[0], '2');
    unlink(path2);
}
END_TEST

START_TEST(mmio_placement)
{
    build("loc mem:0x10000000 intr ioapic:5");
    uint64_t v = 'm';
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_MEM, 0x10000000, 1, true, &v),
                     VDEV_ACCESS_OK);
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_MEM, 0x10000005, 1, false, &v),
                     VDEV_ACCESS_OK);
    ck_assert_uint_eq(v, 0x60);
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_IO, COM1, 1, false, &v),
                     VDEV_ACCESS_UNMAPPED);
    size_t len;
    char *got = slurp(out_path, &len);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(got[0], 'm');
}
END_TEST

START_TEST(status_line)
{
    build("");
    wr(RBR, 'a');
    wr(RBR, 'b');
    wr(RBR, 'c');
    wr(IER, 0x02);
    wr(LCR, 0x03);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    ck_assert_ptr_nonnull(f);
    vdev_machine_print(fe.m, f);
    fclose(f);
    ck_assert_msg(strstr(text, "bytes in 0, out 3; IER 0x02 LCR 0x03") != NULL, "%s", text);
    free(text);
}
END_TEST

START_TEST(only_byte_accesses)
{
    build("");
    uint64_t v = 0x4141;
    ck_assert_int_eq(vdev_machine_access(fe.m, VDEV_SPACE_IO, COM1, 2, true, &v),
                     VDEV_ACCESS_BAD_SIZE);
    size_t len;
    slurp(out_path, &len);
    ck_assert_uint_eq(len, 0);
}
END_TEST

/* Whatever a guest writes or reads, nothing breaks and reset still works. */
START_TEST(random_register_traffic)
{
    build("");
    srand(1234);
    for (int i = 0; i < 200000; i++) {
        unsigned reg = (unsigned)rand() % 8;
        if (rand() & 1)
            wr(reg, (uint8_t)rand());
        else
            rd(reg);
    }
    vdev_machine_reset(fe.m);
    ck_assert_uint_eq(rd(LSR), 0x60);
}
END_TEST

START_TEST(hostdev_in_missing_directory_fails)
{
    struct vdev_err err;
    int rc = fake_machine_build_string(
        &fe, "ram 16M vdev ser8250 hostdev /nonexistent-vdevkit-dir/out.txt", &err);
    ck_assert_int_ne(rc, 0);
    ck_assert_msg(strstr(err.msg, "hostdev") != NULL, "error does not name the option: %s",
                  err.msg);
    ck_assert_msg(strstr(err.msg, "/nonexistent-vdevkit-dir/out.txt") != NULL,
                  "error does not name the path: %s", err.msg);
}
END_TEST

START_TEST(input_missing_file_fails)
{
    struct vdev_err err;
    int rc = fake_machine_build_string(
        &fe, "ram 16M vdev ser8250 input /nonexistent-vdevkit-dir/in.txt", &err);
    ck_assert_int_ne(rc, 0);
    ck_assert_msg(strstr(err.msg, "input") != NULL, "error does not name the option: %s", err.msg);
}
END_TEST

START_TEST(hostdev_words)
{
    struct vdev_err err;
    int rc = fake_machine_build_string(&fe,
                                       "ram 16M vdev ser8250 hostdev stderr input none vdev "
                                       "ser8250 loc io:0x2f8 intr ioapic:3 hostdev stdout",
                                       &err);
    ck_assert_msg(rc == 0, "build failed: %s", err.msg);
}
END_TEST

/* qvm's `hostdev <IN` and `hostdev >OUT`: separate input and output. */
START_TEST(hostdev_in_and_out_directions)
{
    make_temp(in_path, sizeof(in_path));
    write_file(in_path, "q", 1);
    char conf[256];
    struct vdev_err err;
    snprintf(conf, sizeof(conf), "ram 16M vdev ser8250 hostdev <%s hostdev >%s", in_path, out_path);
    ck_assert_msg(fake_machine_build_string(&fe, conf, &err) == 0, "%s", err.msg);
    ck_assert_msg(wait_data(), "no input from hostdev <");
    ck_assert_uint_eq(rd(RBR), 'q');
    wr(RBR, 'w');
    size_t len;
    char *got = slurp(out_path, &len);
    ck_assert_uint_eq(len, 1);
    ck_assert_uint_eq(got[0], 'w');
    /* the input file was not written to */
    got = slurp(in_path, &len);
    ck_assert_uint_eq(len, 1);
}
END_TEST

/* A later hostdev replaces what an earlier one gave the same direction, and only that. */
START_TEST(later_hostdev_replaces_its_direction)
{
    char other[64], conf[256];
    make_temp(other, sizeof(other));
    struct vdev_err err;
    snprintf(conf, sizeof(conf), "ram 16M vdev ser8250 hostdev >%s hostdev >%s", other, out_path);
    ck_assert_msg(fake_machine_build_string(&fe, conf, &err) == 0, "%s", err.msg);
    wr(RBR, 'x');
    size_t len;
    slurp(other, &len);
    ck_assert_uint_eq(len, 0);
    slurp(out_path, &len);
    ck_assert_uint_eq(len, 1);
    unlink(other);
}
END_TEST

/* QNX 8's `hostdev >"|command"`: the bytes are the command's standard input. */
START_TEST(hostdev_into_a_command)
{
    char conf[256];
    struct vdev_err err;
    snprintf(conf, sizeof(conf), "ram 16M vdev ser8250 hostdev >\"|tr a-z A-Z > %s\"", out_path);
    ck_assert_msg(fake_machine_build_string(&fe, conf, &err) == 0, "%s", err.msg);
    for (const char *p = "hello\n"; *p; p++)
        wr(RBR, (uint8_t)*p);
    fake_machine_free(&fe); /* closes the pipe: the command ends */
    size_t len = 0;
    char *got = NULL;
    for (int i = 0; i < 200 && len < 6; i++) {
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        got = slurp(out_path, &len);
    }
    ck_assert_uint_eq(len, 6);
    ck_assert_mem_eq(got, "HELLO\n", 6);
}
END_TEST

/* `hostdev pty`: a new terminal, named in the log, carries bytes both ways. */
START_TEST(hostdev_pty_both_ways)
{
    struct vdev_err err;
    ck_assert_msg(fake_machine_build_string(&fe, "ram 16M vdev ser8250 hostdev pty", &err) == 0,
                  "%s", err.msg);
    const char *at = strstr(fe.log, "the console is ");
    ck_assert_msg(at, "no pty name in the log: %s", fe.log);
    char name[64];
    ck_assert_int_eq(sscanf(at, "the console is %63s", name), 1);
    int fd = open(name, O_RDWR | O_NOCTTY);
    ck_assert_int_ge(fd, 0);
    wr(RBR, 'g');
    char c = 0;
    ck_assert_int_eq(read(fd, &c, 1), 1);
    ck_assert_uint_eq(c, 'g');
    ck_assert_int_eq(write(fd, "h", 1), 1);
    ck_assert_msg(wait_data(), "no input from the pty");
    ck_assert_uint_eq(rd(RBR), 'h');
    close(fd);
}
END_TEST

START_TEST(hostdev_forms_refused_with_hints)
{
    struct vdev_err err;
    ck_assert_int_ne(fake_machine_build_string(&fe, "ram 16M vdev ser8250 hostdev >", &err), 0);
    ck_assert_msg(strstr(err.msg, "hint: write e.g. 'hostdev >-'"), "%s", err.msg);
    fake_machine_free(&fe);
    fake_machine_new(&fe);
    ck_assert_int_ne(fake_machine_build_string(&fe, "ram 16M vdev ser8250 hostdev >\"|\"", &err),
                     0);
    ck_assert_msg(strstr(err.msg, "no command after '|'"), "%s", err.msg);
}
END_TEST

static Suite *ser8250_suite(void)
{
    Suite *s = suite_create("ser8250");
    TCase *tc = tcase_create("uart");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, tx_reaches_hostdev_byte_exact);
    tcase_add_test(tc, hostdev_file_is_appended);
    tcase_add_test(tc, power_on_registers);
    tcase_add_test(tc, scratch_register);
    tcase_add_test(tc, ier_keeps_four_bits);
    tcase_add_test(tc, dlab_and_divisor);
    tcase_add_test(tc, fifo_enable_in_iir);
    tcase_add_test(tc, thre_interrupt_linux_sequence);
    tcase_add_test(tc, out2_gates_the_line);
    tcase_add_test(tc, loopback);
    tcase_add_test(tc, rx_interrupt_priorities_and_trigger);
    tcase_add_test(tc, rx_from_input_file);
    tcase_add_test(tc, rx_input_is_never_lost);
    tcase_add_test(tc, rx_from_pipe);
    tcase_add_test(tc, loopback_disconnects_input);
    tcase_add_test(tc, reset_restores_power_on);
    tcase_add_test(tc, non_default_loc_and_intr);
    tcase_add_test(tc, two_uarts);
    tcase_add_test(tc, mmio_placement);
    tcase_add_test(tc, status_line);
    tcase_add_test(tc, only_byte_accesses);
    tcase_add_test(tc, random_register_traffic);
    tcase_add_test(tc, hostdev_in_missing_directory_fails);
    tcase_add_test(tc, input_missing_file_fails);
    tcase_add_test(tc, hostdev_words);
    tcase_add_test(tc, hostdev_in_and_out_directions);
    tcase_add_test(tc, later_hostdev_replaces_its_direction);
    tcase_add_test(tc, hostdev_into_a_command);
    tcase_add_test(tc, hostdev_pty_both_ways);
    tcase_add_test(tc, hostdev_forms_refused_with_hints);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ser8250_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
