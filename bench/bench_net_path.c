/* Throughput of the whole virtio-net device path in one process: a synthetic guest's driver
 * -> virtio-net (the module's own code, with every check it makes: descriptors, headers,
 * receive filter, mergeable buffers) -> peer link -> a second virtio-net -> the second
 * guest's driver. The drivers (net_path_driver.h) do what Linux's virtio_net driver does
 * and negotiate what it negotiates (EVENT_IDX, INDIRECT_DESC, MRG_RXBUF, checksum and TSO
 * offloads both ways), so a 64 KiB frame crosses as one TSO frame. Each NIC runs its own
 * data thread; each guest's driver runs on a thread of its own (its "vCPU"), or with -1
 * both on one; with -p each guest's threads (its NIC's and its driver's) are pinned to a CPU
 * of their own, as two VMs pinned apart. Prints frames/s, Gbit/s, the memcpy rate of the same
 * frames in the same run (one thread, from an area the size of the sender's buffers into one the
 * size of the receiver's) and the path's share of it, and per 1000 frames the guests' kicks and
 * interrupts, for 64 B, 1514 B and 64 KiB frames. A benchmark, not a test: figures for
 * docs/performance.md. It fails when a frame is lost, reordered, corrupted, dropped by a
 * NIC or converted in software.
 *
 * Usage: bench_net_path [-1] [-p] [seconds per size, default 1] [frame sizes..., default 64
 * 1514 65536] */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "net_path_driver.h"

#define RAM_MB 32u /* the sender's 256 slots of 64 KiB frames fit */

struct opts {
    bool one_vcpu; /* -1: both drivers on one thread */
    bool pin;      /* -p: the sender's threads on CPU 0, the receiver's on CPU 1 */
    double secs;
};

static void pin(pthread_t t, unsigned cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int e = pthread_setaffinity_np(t, sizeof(set), &set);
    if (e)
        fprintf(stderr, "bench_net_path: cannot pin a thread to CPU %u: %s\n", cpu, strerror(e));
}

/* The threads whose CPU time is reported: the NICs' data threads, then the drivers'. */
enum { T_NIC_A, T_NIC_B, T_DRV_A, T_DRV_B, T_N };
static const char *const thread_names[T_N] = {"nic-a", "nic-b", "guest-a", "guest-b"};

struct sample {
    double t;
    uint64_t frames, tx_kicks, rx_kicks, tx_irqs, rx_irqs;
    double cpu[T_N]; /* seconds */
    long sleeps[T_N];
};

static double thread_cpu(pthread_t t)
{
    clockid_t c;
    struct timespec ts;
    if (pthread_getcpuclockid(t, &c) || clock_gettime(c, &ts))
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* How often the thread named `name` went to sleep (its voluntary context switches). */
static long thread_sleeps(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    long n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[300], line[64];
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        bool match = f && fgets(line, sizeof(line), f) && !strncmp(line, name, strlen(name)) &&
                     line[strlen(name)] == '\n';
        if (f)
            fclose(f);
        snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
        if (match && (f = fopen(path, "r"))) {
            while (fgets(line, sizeof(line), f))
                if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
                    break;
            fclose(f);
        }
    }
    if (d)
        closedir(d);
    return n;
}

static struct sample take(struct tx_side *tx, struct rx_side *rx, struct drv *a, struct drv *b,
                          const pthread_t *th, unsigned nth)
{
    struct sample s = {
        .t = bench_now_s(),
        .frames = atomic_load(&rx->s.frames),
        .tx_kicks = atomic_load(&tx->s.kicks),
        .rx_kicks = atomic_load(&rx->s.kicks),
        .tx_irqs = atomic_load(&a->ft->notify_queue[NET_Q_TX]),
        .rx_irqs = atomic_load(&b->ft->notify_queue[NET_Q_RX]),
        .cpu = {thread_cpu(a->n->thread), thread_cpu(b->n->thread)},
    };
    for (unsigned i = 0; i < nth; i++)
        s.cpu[T_DRV_A + i] = thread_cpu(th[i]);
    for (unsigned i = 0; i < T_N; i++)
        s.sleeps[i] = thread_sleeps(nth == 1 && i >= T_DRV_A ? "guests" : thread_names[i]);
    return s;
}

/* One size's figures. */
struct result {
    size_t len;
    double fps, gbps, memcpy_gbps;
    double per_k[4];        /* per 1000 frames: tx kicks, tx interrupts, rx kicks, rx ones */
    double cpu_ns[T_N + 1]; /* CPU ns per frame of each thread, and their sum */
    double sleeps_k[T_N];   /* each thread's sleeps per 1000 frames */
};

static uint64_t offered(struct drv *v)
{
    return vdev_virtio_device_features(v->vio, 0) | (uint64_t)vdev_virtio_device_features(v->vio, 1)
                                                        << 32;
}

/* What must hold after a run; NULL when it does. */
static const char *verify(struct drv *a, struct drv *b, uint64_t sent, struct rx_side *rx)
{
    const struct net_stats *sa = &a->n->st, *sb = &b->n->st;
    if (rx->s.error)
        return rx->s.error;
    if (sent == 0)
        return "nothing was sent";
    if (rx->seq != sent || net_read(&sb->rx_frames) != sent || net_read(&sa->tx_frames) != sent)
        return "the NICs' counters do not match the frames sent";
    for (const struct net_stats *s = sa; s; s = s == sa ? sb : NULL) {
        if (net_read(&s->drop_link_down) || net_read(&s->drop_ring_full) ||
            net_read(&s->drop_no_buffers) || net_read(&s->drop_too_big) ||
            net_read(&s->drop_filtered) || net_read(&s->drop_bad_header) || net_read(&s->errors))
            return "a NIC dropped frames or saw a driver error";
        if (net_read(&s->sw_gso_frames) || net_read(&s->sw_csum))
            return "a NIC converted frames in software: the offloads did not pass through";
    }
    return NULL;
}

static int fail(const char *what, struct drv *a, struct drv *b)
{
    fprintf(stderr, "bench_net_path: %s\n", what);
    if (a->fe.log_len || b->fe.log_len)
        fprintf(stderr, "sender's log:\n%s\nreceiver's log:\n%s\n", a->fe.log, b->fe.log);
    return 1;
}

static int run_size(size_t len, const struct opts *o, struct result *res)
{
    bool one_vcpu = o->one_vcpu;
    double secs = o->secs;
    struct drv a, b;
    machine_up_ram(&a, RAM_MB, "bench-a", "eth0", "bench-b/eth0", NULL);
    machine_up_ram(&b, RAM_MB, "bench-b", "eth0", "bench-a/eth0", NULL);
    if (!wait_link(&a, true) || !wait_link(&b, true))
        return fail("the peer link did not come up", &a, &b);
    pthread_setname_np(a.n->thread, "nic-a"); /* for perf and top */
    pthread_setname_np(b.n->thread, "nic-b");
    if (o->pin) {
        pin(a.n->thread, 0);
        pin(b.n->thread, 1);
    }
    drv_start(&a, offered(&a));
    drv_start(&b, offered(&b));
    const uint64_t need = NET_BIT(VIRTIO_F_EVENT_IDX) | NET_BIT(VIRTIO_F_INDIRECT_DESC) |
                          NET_BIT(VIRTIO_NET_F_MRG_RXBUF) | NET_BIT(VIRTIO_NET_F_CSUM) |
                          NET_BIT(VIRTIO_NET_F_GUEST_CSUM) | NET_BIT(VIRTIO_NET_F_HOST_TSO4) |
                          NET_BIT(VIRTIO_NET_F_GUEST_TSO4);
    if ((vdev_virtio_features(a.vio) & need) != need ||
        (vdev_virtio_features(b.vio) & need) != need)
        return fail("the NICs do not offer what Linux negotiates", &a, &b);

    uint8_t ma[6], mb[6];
    mac_of(&a, ma);
    mac_of(&b, mb);
    atomic_bool stop = false, stopping = false, quit = false;
    struct tx_side tx = {0};
    struct rx_side rx = {0};
    side_init(&tx.s, &a, NET_Q_TX, tx_step);
    tx.len = len;
    tx.stop = &stop;
    tx.stride = (NET_HDR_LEN + len + 63) & ~(uint64_t)63;
    tx.slots = alloc_buf(&a, QSIZE * tx.stride);
    tx.ind = alloc_buf(&a, QSIZE * IND_MAX * 16u);
    for (unsigned i = 0; i < QSIZE; i++)
        tx_fill_slot(&tx, i, ma, mb);
    side_init(&rx.s, &b, NET_Q_RX, rx_step);
    rx.len = len;
    /* Linux sizes mergeable buffers by the average frame: 1536 bytes for small frames, a
     * page for large ones (get_mergeable_buf_len). */
    rx.buf_len = len > 1514 ? 4096u : 1536u;
    rx.bufs = alloc_buf(&b, QSIZE * rx.buf_len);
    rx_refill(&rx);
    usleep(100000); /* each NIC learns the other guest's features over the link */

    double mc = bench_memcpy_rate(len, QSIZE * tx.stride, QSIZE * rx.buf_len, secs / 2);

    int quit_fd = eventfd(0, EFD_CLOEXEC);
    struct vcpu cpus[2] = {
        {.sides = {&tx.s, &rx.s}, .nsides = one_vcpu ? 2 : 1},
        {.sides = {&rx.s}, .nsides = 1},
    };
    unsigned ncpus = one_vcpu ? 1 : 2;
    pthread_t th[2];
    for (unsigned i = 0; i < ncpus; i++) {
        cpus[i].quit_fd = quit_fd;
        cpus[i].quit = &quit;
        cpus[i].stopping = &stopping;
        pthread_create(&th[i], NULL, vcpu_run, &cpus[i]);
        pthread_setname_np(th[i], one_vcpu ? "guests" : thread_names[T_DRV_A + i]);
        if (o->pin && !one_vcpu)
            pin(th[i], i);
    }
    usleep(200000); /* warm-up */
    struct sample s0 = take(&tx, &rx, &a, &b, th, ncpus);
    usleep((useconds_t)(secs * 1e6));
    struct sample s1 = take(&tx, &rx, &a, &b, th, ncpus);
    atomic_store(&stopping, true);
    atomic_store(&stop, true);
    /* Whatever was sent arrives: wait until the count stops moving and matches. */
    uint64_t sent = 0;
    for (int i = 0; i < 500; i++) {
        usleep(10000);
        uint64_t now = atomic_load(&tx.s.frames);
        if (now == sent && atomic_load(&rx.s.frames) == sent)
            break;
        sent = now;
    }
    atomic_store(&quit, true);
    uint64_t one = 1;
    if (write(quit_fd, &one, 8) != 8)
        return fail("cannot wake the drivers", &a, &b);
    for (unsigned i = 0; i < ncpus; i++)
        pthread_join(th[i], NULL);
    close(quit_fd);

    const char *why = tx.s.error ? tx.s.error : verify(&a, &b, sent, &rx);
    if (why)
        return fail(why, &a, &b);
    double dt = s1.t - s0.t, n = (double)(s1.frames - s0.frames);
    if (n < 1000)
        return fail("fewer than 1000 frames crossed in the measured time", &a, &b);
    double bps = n * (double)len / dt;
    *res = (struct result){.len = len, .fps = n / dt, .gbps = bps * 8e-9, .memcpy_gbps = mc * 8e-9};
    res->per_k[0] = 1000.0 * (double)(s1.tx_kicks - s0.tx_kicks) / n;
    res->per_k[1] = 1000.0 * (double)(s1.tx_irqs - s0.tx_irqs) / n;
    res->per_k[2] = 1000.0 * (double)(s1.rx_kicks - s0.rx_kicks) / n;
    res->per_k[3] = 1000.0 * (double)(s1.rx_irqs - s0.rx_irqs) / n;
    for (unsigned i = 0; i < T_N; i++) {
        res->cpu_ns[i] = (s1.cpu[i] - s0.cpu[i]) * 1e9 / n;
        res->cpu_ns[T_N] += res->cpu_ns[i];
        res->sleeps_k[i] = 1000.0 * (double)(s1.sleeps[i] - s0.sleeps[i]) / n;
    }
    machine_down(&a);
    machine_down(&b);
    close_transports();
    use_fake_transport();
    return 0;
}

static void print_results(const struct result *res, unsigned n, const struct opts *o)
{
    bool one_vcpu = o->one_vcpu;
    printf("virtio-net device path: guest driver -> virtio-net -> peer link (4 MiB ring) -> "
           "virtio-net -> guest driver; %s%s\n",
           one_vcpu ? "both drivers on one thread" : "a thread per driver",
           o->pin ? "; each guest's threads pinned to a CPU of their own" : "");
    printf("%8s %12s %8s %14s %9s %9s %9s %9s %9s\n", "frame", "frames/s", "Gbit/s",
           "memcpy Gbit/s", "% memcpy", "tx kicks", "tx irqs", "rx kicks", "rx irqs");
    for (unsigned i = 0; i < n; i++)
        printf("%8zu %12.0f %8.2f %14.2f %8.1f%% %9.1f %9.1f %9.1f %9.1f\n", res[i].len, res[i].fps,
               res[i].gbps, res[i].memcpy_gbps, 100.0 * res[i].gbps / res[i].memcpy_gbps,
               res[i].per_k[0], res[i].per_k[1], res[i].per_k[2], res[i].per_k[3]);
    printf("(kicks and irqs per 1000 frames)\n");
    printf("CPU ns per frame (sleeps per 1000 frames) of each thread:\n%8s", "frame");
    for (unsigned t = 0; t < T_N; t++)
        if (!one_vcpu || t != T_DRV_B)
            printf(" %15s", one_vcpu && t == T_DRV_A ? "guests" : thread_names[t]);
    printf(" %9s\n", "all");
    for (unsigned i = 0; i < n; i++) {
        printf("%8zu", res[i].len);
        for (unsigned t = 0; t < T_N; t++)
            if (!one_vcpu || t != T_DRV_B)
                printf(" %7.0f (%5.1f)", res[i].cpu_ns[t], res[i].sleeps_k[t]);
        printf(" %9.0f\n", res[i].cpu_ns[T_N]);
    }
}

int main(int argc, char **argv)
{
    struct opts o = {.secs = 1.0};
    int arg = 1;
    for (; arg < argc && argv[arg][0] == '-' && argv[arg][1]; arg++) {
        if (!strcmp(argv[arg], "-1"))
            o.one_vcpu = true;
        else if (!strcmp(argv[arg], "-p"))
            o.pin = true;
        else
            break;
    }
    if (argc > arg)
        o.secs = atof(argv[arg]);
    size_t sizes[16] = {64, 1514, 65536};
    unsigned nsizes = 3;
    if (argc > arg + 1)
        for (nsizes = 0; nsizes < 16 && arg + 1 + (int)nsizes < argc; nsizes++)
            sizes[nsizes] = strtoul(argv[arg + 1 + nsizes], NULL, 0);
    for (unsigned i = 0; i < nsizes; i++)
        if (sizes[i] < HDRS + 8 || sizes[i] > 65536 || !(o.secs > 0)) {
            fprintf(stderr,
                    "usage: bench_net_path [-1] [-p] [seconds > 0] [frame sizes, %u..65536]\n",
                    HDRS + 8);
            return 2;
        }

    snprintf(rundir, sizeof(rundir), "/tmp/bench-net-path-XXXXXX");
    if (!mkdtemp(rundir))
        return 1;
    setenv("VDEVKIT_RUNTIME_DIR", rundir, 1);
    use_fake_transport();
    struct result res[16];
    int rc = 0;
    for (unsigned i = 0; i < nsizes && !rc; i++)
        rc = run_size(sizes[i], &o, &res[i]);
    if (!rc)
        print_results(res, nsizes, &o);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rundir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_net_path: could not remove %s\n", rundir);
    return rc;
}
