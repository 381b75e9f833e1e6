/* The data thread of one NIC: from `configured` to `terminate` it services the backend
 * (so a peer link comes up whether or not the guest driver runs) and, between virtio start
 * and stop, moves frames. It sleeps in ppoll() on the queues' kick eventfds, the backend's
 * fds and a wake-up eventfd, no longer than the next held notification may wait
 * (net_coal.c); kicks are only asked for before sleeping, after `poll-us` of looking for
 * work without them (net_busy_poll.c). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "net_backend.h"

uint64_t net_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void net_log_limited(struct net *n, const char *fmt, ...)
{
    /* data thread only: up to 10 messages per second */
    static _Thread_local uint64_t window;
    static _Thread_local unsigned used;
    uint64_t now = net_now_ms() / 1000u;
    if (now != window)
        window = now, used = 0;
    if (used++ >= 10)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    vdev_warn(n->d, "%s", msg);
}

uint64_t net_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t net_drain_fd(int fd)
{
    /* An error leaves the fd readable: poll reports it again and it is read next time. An
     * eventfd's read returns the writes since the last one: the kicks it stands for. */
    uint64_t v;
    return fd >= 0 && read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v) ? v : 0;
}

void net_driver_error(struct net *n)
{
    if (!n->broken)
        net_count(&n->st.errors, 1);
    n->broken = true;
}

/* One pass over the queues with run_lock held; true when there is more to do at once. */
static bool run_queues(struct net *n)
{
    bool busy = false;
    if (atomic_exchange(&n->features_dirty, false))
        n->be->features_changed(n);
    if (!atomic_load(&n->running)) {
        /* no driver: drop what arrives, and keep the peer's wake-ups coming so its ring
         * never fills on our account */
        if (net_rx_discard(n))
            return true;
        return n->be->rx_sleep(n);
    }
    if (n->broken) /* NEEDS_RESET: the core stops the device soon */
        return false;
    busy |= net_ctrl_process(n);
    if (net_live(n))
        busy |= net_tx_process(n);
    if (net_live(n))
        busy |= net_rx_process(n);
    if (!net_live(n))
        return false;
    net_coal_tick(n);
    if (busy)
        return true;
    if (n->poll_us && net_busy_poll(n))
        return true;

    /* About to sleep: ask for the kicks we wait for; they report work that arrived meanwhile. */
    struct vdev_virtq *rxq = vdev_virtio_queue(n->vio, n->rx_wait_vq);
    struct vdev_virtq *cq = vdev_virtio_queue(n->vio, net_ctrl_vq(n));
    if (cq && net_has(n, VIRTIO_NET_F_CTRL_VQ) && vdev_virtq_set_kicks(cq, true))
        busy = true;
    for (unsigned p = 0; !n->tx_blocked && p < net_mq_pairs(n); p++) {
        struct vdev_virtq *txq = vdev_virtio_queue(n->vio, 2 * p + 1);
        if (txq && vdev_virtq_set_kicks(txq, true))
            busy = true;
    }
    if (rxq && n->rx_wait_buffers) {
        if (vdev_virtq_set_kicks(rxq, true))
            busy = true;
    } else if (n->be->rx_sleep(n)) {
        busy = true;
    }
    return busy;
}

/* While working, the guest need not kick. */
void net_quiet_kicks(struct net *n)
{
    for (unsigned q = 0; q < 2 * n->pairs + 1; q++) {
        struct vdev_virtq *vq = vdev_virtio_queue(n->vio, q);
        if (vq)
            vdev_virtq_set_kicks(vq, false);
    }
}

/* The poll set: the wake-up eventfd, each queue's kick eventfd, the backend's fds. */
enum { FD_WAKE, FD_KICK0, FD_MAX = FD_KICK0 + NET_MAX_VQS + NET_BE_FDS };

static void *net_thread(void *arg)
{
    struct net *n = arg;
    struct pollfd fds[FD_MAX];
    /* The core's kick fds exist from attach and never change (a transport's doorbells,
     * made later, are dup'ed onto them). */
    const unsigned nvq = 2 * n->pairs + 1, fd_backend = FD_KICK0 + nvq;
    int kick[NET_MAX_VQS];
    for (unsigned q = 0; q < nvq; q++)
        kick[q] = vdev_virtio_kick_fd(n->vio, q);
    bool was_running = false;

    while (!atomic_load(&n->quit)) {
        bool busy = false;
        pthread_mutex_lock(&n->run_lock);
        if (atomic_exchange(&n->fresh_start, false)) {
            n->tx_blocked = n->tx_dropping = n->rx_wait_buffers = false;
            n->rx_held = 0;
            n->rx_wait_vq = n->rx_held_vq = 0;
            n->tx_next = 0;
            n->broken = false;
        }
        bool running = atomic_load(&n->running);
        if (running && !was_running)
            net_quiet_kicks(n);
        was_running = running;
        if (running && n->rx_wait_buffers) {
            n->rx_wait_buffers = false; /* try again: buffers may have come */
        }
        busy = run_queues(n);
        if (busy && net_live(n))
            net_quiet_kicks(n);
        if (!busy)
            net_capture_idle(n);
        uint64_t due = net_live(n) ? net_coal_due(n) : UINT64_MAX;
        pthread_mutex_unlock(&n->run_lock);

        int timeout = n->be->poll_prepare(n, fds + fd_backend);
        struct timespec ts = {0}, *tp = NULL;
        if (busy) {
            tp = &ts;
        } else if (timeout >= 0 || due != UINT64_MAX) {
            uint64_t now = n->now_ns(), left = due > now ? due - now : 0;
            if (timeout >= 0 && (uint64_t)timeout * 1000000u < left)
                left = (uint64_t)timeout * 1000000u;
            ts = (struct timespec){.tv_sec = (time_t)(left / 1000000000u),
                                   .tv_nsec = (long)(left % 1000000000u)};
            tp = &ts;
        }
        fds[FD_WAKE] = (struct pollfd){.fd = n->wake_fd, .events = POLLIN};
        for (unsigned q = 0; q < nvq; q++)
            fds[FD_KICK0 + q] = (struct pollfd){.fd = kick[q], .events = POLLIN};
        int r = ppoll(fds, fd_backend + NET_BE_FDS, tp, NULL);
        if (r < 0 && errno != EINTR) {
            vdev_log(n->d, VDEV_LOG_ERROR, "data thread: poll: %s", strerror(errno));
            usleep(1000);
            continue;
        }
        /* Which counter a queue's kicks go to depends on the layout the driver negotiated
         * (the control queue is 2 without MQ): taken after the sleep, so kicks made after a
         * driver start that came while we slept count where they belong. */
        unsigned stat[NET_MAX_VQS];
        pthread_mutex_lock(&n->run_lock);
        for (unsigned q = 0; q < nvq; q++)
            stat[q] = net_stat_index(n, q);
        pthread_mutex_unlock(&n->run_lock);
        for (unsigned i = 0; i < fd_backend; i++)
            if (r > 0 && (fds[i].revents & POLLIN)) {
                uint64_t count = net_drain_fd(fds[i].fd);
                if (i != FD_WAKE && stat[i - FD_KICK0] < NET_MAX_VQS)
                    net_count(&n->st.kicks[stat[i - FD_KICK0]], count);
            }
        n->be->poll_done(n, fds + fd_backend, r);
    }
    return NULL;
}

int net_thread_start(struct net *n)
{
    n->elem = malloc(sizeof(*n->elem));
    n->elem2 = malloc(sizeof(*n->elem2));
    n->rx_elem = malloc(sizeof(*n->rx_elem));
    n->scratch = malloc(NET_HDR_LEN + NET_MAX_FRAME);
    if (!n->elem || !n->elem2 || !n->rx_elem || !n->scratch)
        return -1;
    int rc = pthread_create(&n->thread, NULL, net_thread, n);
    if (rc) {
        errno = rc;
        return -1;
    }
    pthread_setname_np(n->thread, "virtio-net"); /* its CPU time apart from the vCPUs' */
    n->thread_started = true;
    return 0;
}

void net_thread_stop(struct net *n)
{
    if (n->thread_started) {
        atomic_store(&n->quit, true);
        uint64_t one = 1;
        if (write(n->wake_fd, &one, sizeof(one)) < 0) {
            /* saturated counter: the thread wakes anyway */
        }
        pthread_join(n->thread, NULL);
        n->thread_started = false;
    }
    free(n->elem);
    free(n->elem2);
    free(n->rx_elem);
    free(n->scratch);
    n->elem = n->elem2 = n->rx_elem = NULL;
    n->scratch = NULL;
}
