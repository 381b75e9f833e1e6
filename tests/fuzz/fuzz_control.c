/* The control socket (core/control.c) as local clients drive it: up to 10 clients that
 * connect, send any bytes in any pieces (request lines, lines too long, partial lines, NULs),
 * stop sending, leave or read, while 17 devices answer `stat` with states of any length
 * (enough for the 64 KiB reply limit) and `capture` through their control hook. The core's
 * loop runs synchronously (vdev_machine_poll). Asserted:
 *   - a client only ever receives whole replies: lines ending in a blank line, no NUL, at
 *     most one reply per request line (plus the "too long" error), none beyond 64 KiB;
 *   - `help` gets the help text, `stat` one line per device or the truncation notice;
 *   - a client that stops sending is answered and closed within a few turns of the loop
 *     (no slot is held forever); and while no more than 8 clients ever connected and
 *     replies stayed small, it got exactly one reply per request, in order.
 * The run-time folder is a private temporary one. */
/* FUZZ_ARGS: -max_len=8192 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz_common.h"

#define NDEV       17
#define MAXCL      10
#define STATUS_MAX 5000
#define RX_MAX     (256u << 10)
#define RX_RUNAWAY (256u << 20) /* 4096 requests of 64 KiB: more than any input can ask */

/* ---- a device whose state and command replies the input decides ---- */

static unsigned status_len[NDEV];

static void fz_status(struct vdev *d, FILE *out)
{
    const char *name = vdev_user_name(d);
    unsigned i = name ? (unsigned)atoi(name + 1) : 0;
    for (unsigned k = 0; k < status_len[i % NDEV]; k++)
        fputc(k % 61 == 60 ? '\t' : 'a' + (char)(k % 26), out); /* tabs are flattened */
}

static int fz_control(struct vdev *d, int argc, char **argv, char *reply, size_t len)
{
    if (argc != 2 || strcmp(argv[0], "capture"))
        abort(); /* the core only passes `capture NAME ARG` on */
    if (argv[1][0] == 'x')
        return -1; /* no reply text: the core says "failed" */
    snprintf(reply, len, "capturing to %s\n(second line)", argv[1]);
    return 0;
}

static uint64_t fz_read(struct vdev *d, uint64_t off, unsigned size)
{
    return 0;
}

static void fz_write(struct vdev *d, uint64_t off, unsigned size, uint64_t value)
{
}

static const struct vdev_type fz_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "ctlfz",
    .places = VDEV_PLACE_MEM,
    .window_size = 0x1000,
    .window = {.read = fz_read, .write = fz_write, .sizes = 0xf},
    .status = fz_status,
    .control = fz_control,
};

/* ---- clients ---- */

struct client {
    int fd;       /* -1: closed by us */
    bool wr_shut; /* we stopped sending */
    bool eof;     /* the server closed it */
    char *sent;   /* everything sent */
    size_t nsent;
    char *rx; /* everything received */
    size_t nrx, rxcap;
    bool exact; /* small replies only: every request must be answered */
};

static struct fz_machine fm;
static char rtdir[64], sock_path[128];
static const char help_text[] =
    "stat                   every device: its label, then its state and counters\n"
    "stat NAME              one device, by its 'name'\n"
    "capture NAME FILE|off  start (or switch) / stop a NIC's pcap capture\n"
    "info                   system name, pid, uptime\n"
    "help                   this list\n\n";

static void cleanup(void)
{
    fz_machine_free(&fm); /* removes the socket and the VM's folder */
    rmdir(rtdir);
}

static void setup(void)
{
    struct vdev_err err;
    snprintf(rtdir, sizeof(rtdir), "/tmp/vdevkit-fuzz-ctl.XXXXXX");
    if (!mkdtemp(rtdir) || vdev_register_type(&fz_type, &err)) {
        fprintf(stderr, "fuzz_control: %s\n", err.msg);
        abort();
    }
    char conf[4096];
    int n = snprintf(conf, sizeof(conf), "system fz set runtime-dir %s ram 64K", rtdir);
    for (unsigned i = 0; i < NDEV; i++)
        n += snprintf(conf + n, sizeof(conf) - (size_t)n, " vdev ctlfz loc 0x%x name d%u",
                      0xd0000000u + i * 0x1000u, i);
    fz_machine_build(&fm, conf);
    if (vdev_machine_control_open(fm.m, &err)) {
        fprintf(stderr, "control socket: %s\n", err.msg);
        abort();
    }
    snprintf(sock_path, sizeof(sock_path), "%s", vdev_machine_control_path(fm.m));
    atexit(cleanup);
}

static void drain(struct client *c)
{
    while (c->fd >= 0 && !c->eof) {
        char buf[8192];
        ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            c->eof = true; /* closed by the server (or reset) */
            return;
        }
        /* Several requests may each get a reply of up to 64 KiB; that a client gets no more
         * than it asked for is checked reply by reply. Only a runaway server ends here. */
        if (c->nrx + (size_t)n > c->rxcap) {
            size_t cap = c->rxcap * 2;
            char *p = cap <= RX_RUNAWAY ? realloc(c->rx, cap) : NULL;
            if (!p)
                abort();
            c->rx = p;
            c->rxcap = cap;
        }
        memcpy(c->rx + c->nrx, buf, (size_t)n);
        c->nrx += (size_t)n;
    }
}

static void turn(struct client *cl, unsigned ncl)
{
    vdev_machine_poll(fm.m, 0);
    for (unsigned i = 0; i < ncl; i++)
        drain(&cl[i]);
}

/* The request lines in what a client sent, as the server cuts them: complete lines of at
 * most 255 bytes; a longer one ends the connection. Returns the count, *too_long set. */
static unsigned requests(const struct client *c, bool *too_long, char lines[][256], unsigned max)
{
    unsigned n = 0;
    size_t start = 0;
    *too_long = false;
    for (size_t i = 0; i < c->nsent; i++) {
        if (i - start >= 256) {
            *too_long = true;
            return n;
        }
        if (c->sent[i] == '\n') {
            if (n < max) {
                memcpy(lines[n], c->sent + start, i - start);
                lines[n][i - start] = 0;
            }
            n++;
            start = i + 1;
        }
    }
    if (c->nsent - start >= 256)
        *too_long = true;
    return n;
}

static void check(struct client *c)
{
    /* Whole replies only (the server closes a client only between replies). */
    if (memchr(c->rx, 0, c->nrx))
        abort();
    unsigned nreplies = 0;
    size_t start = 0;
    static char lines[512][256];
    bool too_long;
    unsigned nreq = requests(c, &too_long, lines, 512);
    for (size_t i = 0; i + 1 < c->nrx; i++) {
        if (c->rx[i] != '\n' || c->rx[i + 1] != '\n')
            continue;
        size_t len = i + 2 - start;
        const char *r = c->rx + start;
        if (len > (64u << 10))
            abort();
        if (c->exact && nreplies < nreq && nreplies < 512) {
            char line[256];
            memcpy(line, lines[nreplies], sizeof(line));
            char *save, *cmd = strtok_r(line, " \t\r", &save);
            char *arg = cmd ? strtok_r(NULL, " \t\r", &save) : NULL;
            if (cmd && !strcmp(cmd, "help") && !arg &&
                (len != sizeof(help_text) - 1 || memcmp(r, help_text, len)))
                abort();
            if (cmd && !strcmp(cmd, "stat") && !arg) {
                unsigned nl = 0;
                for (size_t k = 0; k < len; k++)
                    nl += r[k] == '\n';
                if (nl != NDEV + 1 && !memmem(r, len, "(reply truncated)", 17))
                    abort();
            }
            if (!cmd && strncmp(r, "error: empty request", 20))
                abort();
        }
        nreplies++;
        start = i + 2;
        i++;
    }
    if (start != c->nrx)
        abort(); /* a partial reply: the server cut one */
    if (nreplies > nreq + too_long)
        abort();
    if (c->exact && nreplies != nreq + too_long) {
        fprintf(stderr, "%u requests%s, %u replies\n", nreq, too_long ? " (+too long)" : "",
                nreplies);
        abort();
    }
    if (too_long && c->exact &&
        !(c->nrx >= 30 && !memcmp(c->rx + c->nrx - 30, "error: request line too long\n\n", 30)))
        abort();
}

static void send_bytes(struct client *c, const void *p, size_t n)
{
    if (c->fd < 0 || c->wr_shut || !n)
        return;
    ssize_t k = send(c->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (k > 0) {
        memcpy(c->sent + c->nsent, p, (size_t)k);
        c->nsent += (size_t)k;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fm.m)
        setup();
    struct fz_in in = {data, size};
    static struct client cl[MAXCL];
    unsigned ncl = 0, maxstatus = 0;
    for (unsigned i = 0; i < NDEV; i++)
        status_len[i] = 10;
    while (fz_left(&in)) {
        uint8_t op = fz_u8(&in);
        struct client *c = ncl ? &cl[fz_u8(&in) % ncl] : NULL;
        switch (op % 8) {
        case 0: /* connect */
            if (ncl < MAXCL) {
                struct client *n = &cl[ncl];
                *n = (struct client){.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
                n->sent = malloc(RX_MAX);
                n->rx = malloc(RX_MAX);
                n->rxcap = RX_MAX;
                struct sockaddr_un sa = {.sun_family = AF_UNIX};
                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
                if (n->fd < 0 || !n->sent || !n->rx ||
                    connect(n->fd, (struct sockaddr *)&sa, sizeof(sa)))
                    abort();
                ncl++;
            }
            break;
        case 1: { /* raw bytes */
            uint8_t buf[512];
            size_t n = fz_take(&in, buf, fz_u16(&in) % sizeof(buf));
            if (c)
                send_bytes(c, buf, n);
            break;
        }
        case 2: { /* a well-formed request */
            static const char *const reqs[] = {"stat\n",
                                               "stat d3\n",
                                               "stat nosuch\n",
                                               "info\n",
                                               "help\n",
                                               "capture d1 /tmp/x y\n",
                                               "capture d2 x\n",
                                               "capture d40 off\n",
                                               "capture d1\n",
                                               "stat d1 d2\n",
                                               "\n",
                                               "bogus  \r\n"};
            const char *r = reqs[fz_u8(&in) % (sizeof(reqs) / sizeof(reqs[0]))];
            if (c)
                send_bytes(c, r, strlen(r));
            break;
        }
        case 3: /* stop sending */
            if (c && c->fd >= 0 && !c->wr_shut) {
                shutdown(c->fd, SHUT_WR);
                c->wr_shut = true;
            }
            break;
        case 4: /* leave */
            if (c && c->fd >= 0) {
                close(c->fd);
                c->fd = -1;
            }
            break;
        case 5:
            turn(cl, ncl);
            break;
        case 6: { /* device states: one, or all (the 64 KiB limit) */
            unsigned len = fz_u16(&in) % STATUS_MAX, which = fz_u8(&in);
            for (unsigned i = 0; i < NDEV; i++)
                if (which >= NDEV || which == i)
                    status_len[i] = len;
            maxstatus = len > maxstatus ? len : maxstatus;
            break;
        }
        case 7: /* several turns, no reading */
            for (unsigned k = fz_u8(&in) % 4; k; k--)
                vdev_machine_poll(fm.m, 0);
            break;
        }
    }
    /* A client still connected that sent a line too long gets its error without sending
     * more or hanging up: the server read those bytes already (a few turns ago at most). */
    size_t stat_bound = NDEV * (20u + (maxstatus > 10 ? maxstatus : 10));
    bool too_long[MAXCL];
    for (unsigned i = 0; i < ncl; i++) {
        static char lines[512][256];
        unsigned nreq = requests(&cl[i], &too_long[i], lines, 512);
        /* Replies bounded well below 64 KiB in all: the server had no reason to drop it. */
        cl[i].exact = ncl <= 8 && (size_t)nreq * (stat_bound + 600) < (48u << 10);
    }
    for (unsigned k = 0; k < 4; k++)
        turn(cl, ncl);
    for (unsigned i = 0; i < ncl; i++)
        if (cl[i].exact && too_long[i] && cl[i].fd >= 0 && !cl[i].wr_shut &&
            !memmem(cl[i].rx, cl[i].nrx, "error: request line too long\n\n", 30)) {
            fprintf(stderr, "client %u: no reply to its line too long\n", i);
            abort();
        }
    /* Every client stops sending; the server must answer and close each within a few turns. */
    for (unsigned i = 0; i < ncl; i++) {
        if (cl[i].fd >= 0 && !cl[i].wr_shut)
            shutdown(cl[i].fd, SHUT_WR);
        cl[i].wr_shut = true;
    }
    for (unsigned k = 0; k < 64; k++) {
        bool open = false;
        for (unsigned i = 0; i < ncl; i++)
            open |= cl[i].fd >= 0 && !cl[i].eof;
        if (!open)
            break;
        turn(cl, ncl);
    }
    for (unsigned i = 0; i < ncl; i++) {
        if (cl[i].fd >= 0 && !cl[i].eof) {
            fprintf(stderr, "client %u: not closed after it stopped sending\n", i);
            abort();
        }
        if (cl[i].fd >= 0)
            check(&cl[i]);
    }
    for (unsigned i = 0; i < ncl; i++) {
        if (cl[i].fd >= 0)
            close(cl[i].fd);
        free(cl[i].sent);
        free(cl[i].rx);
    }
    for (unsigned k = 0; k < 4; k++)
        vdev_machine_poll(fm.m, 0); /* the server lets go of clients we closed */
    return 0;
}
