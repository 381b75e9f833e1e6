/* testdev: a port-I/O device for test guests.
 *
 *   offset 0  write: end the VM with exit status (value & 0xff)
 *             read:  0xA5, a signature a guest can probe for
 *   offset 1  write: result-string port; bytes accumulate into a line and each '\n'
 *             emits "testdev: LINE\n" to `results` and logs LINE at info level.
 *             Lines longer than RESULT_MAX bytes are emitted in pieces.
 *             read:  0
 *   offset 2  write: drive the `intr` line (when one is given): 0 low, 1 high, 2 a pulse
 *   offset 3  reserved: reads 0, writes ignored
 *   offset 4  write (dword): the address of the MSI to send (low 32 bits; x86 MSIs live
 *             at 0xfeexxxxx)
 *   offset 8  write (dword): sends an MSI with this data to the address above
 *
 * Accesses of 1, 2 or 4 bytes are accepted; for the exit and result ports only the low
 * byte of a write counts. These let test guests check interrupt delivery end to end:
 * a line through the IOAPIC and an MSI straight to a LAPIC.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <vdev/hostio.h>
#include <vdev/machine.h>
#include <vdev/module.h>

#define PORT_EXIT     0
#define PORT_RESULT   1
#define PORT_LINE     2
#define PORT_MSI_ADDR 4
#define PORT_MSI_DATA 8
#define SIGNATURE     0xa5
#define RESULT_MAX    256
#define PREFIX        "testdev: "

struct testdev {
    pthread_mutex_t lock; /* several vCPUs may write results */
    bool lock_ready;
    struct vdev_host_out out; /* `results` */
    char line[RESULT_MAX];
    size_t len;
    uint32_t msi_addr;
};

/* Emits the buffered line (without its '\n') and empties the buffer. */
static void emit_line(struct vdev *d, struct testdev *t)
{
    char out[sizeof(PREFIX) + RESULT_MAX + 1];
    size_t n = t->len;
    if (n && t->line[n - 1] == '\r')
        n--; /* CRLF from guests that print to a terminal */
    memcpy(out, PREFIX, sizeof(PREFIX) - 1);
    memcpy(out + sizeof(PREFIX) - 1, t->line, n);
    out[sizeof(PREFIX) - 1 + n] = '\n';
    vdev_host_out_write(d, &t->out, out, sizeof(PREFIX) + n);

    /* The log gets printable text only: the guest chose these bytes. */
    char text[RESULT_MAX + 1];
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t->line[i];
        text[i] = (c >= 0x20 && c < 0x7f) || c == '\t' ? (char)c : '?';
    }
    text[n] = '\0';
    vdev_info(d, "%s", text);
    t->len = 0;
}

static uint64_t testdev_read(struct vdev *d, uint64_t offset, unsigned size)
{
    return offset == PORT_EXIT ? SIGNATURE : 0;
}

static void testdev_write(struct vdev *d, uint64_t offset, unsigned size, uint64_t value)
{
    struct testdev *t = vdev_state(d);
    uint8_t byte = (uint8_t)value;

    if (offset == PORT_EXIT) {
        vdev_info(d, "guest requested exit status %u", byte);
        vdev_request_stop(d, byte);
    } else if (offset == PORT_LINE) {
        if (byte == 2)
            vdev_irq_pulse(d);
        else if (byte <= 1)
            vdev_irq_set_level(d, byte);
    } else if (offset == PORT_MSI_ADDR && size == 4) {
        t->msi_addr = (uint32_t)value;
    } else if (offset == PORT_MSI_DATA && size == 4) {
        struct vdev_msi msi = {.addr = t->msi_addr, .data = (uint32_t)value};
        vdev_machine_send_msi(vdev_machine_of(d), &msi);
    } else if (offset == PORT_RESULT) {
        pthread_mutex_lock(&t->lock);
        if (byte == '\n') {
            emit_line(d, t);
        } else {
            t->line[t->len++] = (char)byte;
            if (t->len == RESULT_MAX)
                emit_line(d, t); /* overlong: flush this piece */
        }
        pthread_mutex_unlock(&t->lock);
    }
}

static const struct vdev_option testdev_options[] = {
    {.name = "results",
     .kind = VDEV_OPT_PATH,
     .arg = "PATH|stdout|stderr",
     .def = "stdout",
     .help = "where result lines go; a file is created if needed and appended to"},
    {.name = NULL},
};

static int testdev_options_start(struct vdev *d)
{
    struct testdev *t = vdev_state(d);
    if (pthread_mutex_init(&t->lock, NULL))
        return vdev_error(d, vdev_pos(d), NULL, "cannot create a mutex");
    t->lock_ready = true;
    vdev_host_out_init(&t->out);
    return 0;
}

static int testdev_option(struct vdev *d, const struct vdev_optval *v)
{
    struct testdev *t = vdev_state(d);
    if (strcmp(v->opt->name, "results"))
        return 0;
    return vdev_host_out_open(d, &t->out, v);
}

static void testdev_status(struct vdev *d, FILE *out)
{
    struct testdev *t = vdev_state(d);
    pthread_mutex_lock(&t->lock);
    fprintf(out, "%zu bytes of an unfinished result line", t->len);
    pthread_mutex_unlock(&t->lock);
}

static void testdev_terminate(struct vdev *d)
{
    struct testdev *t = vdev_state(d);
    if (!t->lock_ready)
        return;
    if (t->len)
        emit_line(d, t); /* an unfinished last line is still a result */
    vdev_host_out_close(&t->out);
    pthread_mutex_destroy(&t->lock);
    t->lock_ready = false;
}

VDEV_MODULE(testdev, .name = "testdev",
            .summary = "exit-status and result-string ports for test guests",
            .options = testdev_options, .state_size = sizeof(struct testdev),
            .places = VDEV_PLACE_IO, .default_loc = "io:0xf4", .window_size = 12, .has_intr = true,
            .intr_optional = true,
            .window = {.read = testdev_read, .write = testdev_write, .sizes = 0x7},
            .options_start = testdev_options_start, .option = testdev_option,
            .status = testdev_status, .terminate = testdev_terminate);
