/* pcap writer for one NIC: see net_capture.h for the format and the threading rules. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "net_capture.h"

struct net_capture {
    int fd;
    char *path;
    uint8_t *buf;
    size_t used;
    uint64_t frames;
    uint64_t last_ns; /* timestamps never go back, even when the clock is stepped */
    char error[128];  /* set once the file failed */
};

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* Writes all of it; -1 with the reason in c->error. */
static int write_all(struct net_capture *c, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = write(c->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(c->error, sizeof(c->error), "write: %s",
                     n < 0 ? strerror(errno) : "nothing written");
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

struct net_capture *net_capture_open(const char *path, struct vdev_err *err)
{
    if (!path || !*path) {
        vdev_err_set(err, "cannot capture: no file name");
        return NULL;
    }
    /* A clear word for the usual mistakes; the checks on the open fd below are the real
     * ones (the path may change in between). */
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
        vdev_err_set(err, "cannot capture to %s: not a regular file", path);
        return NULL;
    }
    /* O_NONBLOCK: opening a FIFO must not wait for a reader. No O_TRUNC: nothing is cut
     * before the file proved usable. */
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
    if (fd < 0) {
        int e = errno;
        vdev_err_set(err, "cannot capture to %s: %s", path,
                     e == ELOOP ? "it is a symbolic link (not followed)" : strerror(e));
        return NULL;
    }
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        vdev_err_set(err, "cannot capture to %s: not a regular file", path);
        close(fd);
        return NULL;
    }
    /* An existing file keeps its mode when reopened: captures hold guest traffic. */
    if (fchmod(fd, 0600) || ftruncate(fd, 0) || fcntl(fd, F_SETFL, 0)) {
        vdev_err_set(err, "cannot capture to %s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    struct net_capture *c = calloc(1, sizeof(*c));
    if (c) {
        c->path = strdup(path);
        c->buf = malloc(NET_CAPTURE_BUF);
    }
    if (!c || !c->path || !c->buf) {
        vdev_err_set(err, "cannot capture to %s: out of memory", path);
        if (c) {
            free(c->path);
            free(c->buf);
        }
        free(c);
        close(fd);
        return NULL;
    }
    c->fd = fd;
    uint8_t h[PCAP_GLOBAL_HDR_LEN];
    put_le32(h, PCAP_MAGIC_NS);
    put_le16(h + 4, 2); /* version 2.4 */
    put_le16(h + 6, 4);
    put_le32(h + 8, 0);  /* thiszone: timestamps are UTC */
    put_le32(h + 12, 0); /* sigfigs */
    put_le32(h + 16, NET_CAPTURE_SNAPLEN);
    put_le32(h + 20, PCAP_LINKTYPE_ETHER);
    if (write_all(c, h, sizeof(h))) {
        vdev_err_set(err, "cannot capture to %s: %s", path, c->error);
        net_capture_close(c, NULL);
        return NULL;
    }
    return c;
}

int net_capture_flush(struct net_capture *c)
{
    if (c->error[0])
        return -1;
    if (!c->used)
        return 0;
    int rc = write_all(c, c->buf, c->used);
    c->used = 0;
    return rc;
}

int net_capture_frame(struct net_capture *c, const void *frame, size_t len)
{
    if (c->error[0])
        return -1;
    size_t orig = len;
    if (len > NET_CAPTURE_SNAPLEN)
        len = NET_CAPTURE_SNAPLEN; /* cannot happen with our frame limit; stay a valid file */
    /* after a flush the buffer is empty, and NET_CAPTURE_BUF holds the longest record */
    if (PCAP_RECORD_HDR_LEN + len > NET_CAPTURE_BUF - c->used && net_capture_flush(c))
        return -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    if (ns < c->last_ns)
        ns = c->last_ns;
    c->last_ns = ns;
    uint8_t *r = c->buf + c->used;
    put_le32(r, (uint32_t)(ns / 1000000000u));
    put_le32(r + 4, (uint32_t)(ns % 1000000000u));
    put_le32(r + 8, (uint32_t)len);                                      /* incl_len */
    put_le32(r + 12, (uint32_t)(orig > UINT32_MAX ? UINT32_MAX : orig)); /* orig_len */
    memcpy(r + PCAP_RECORD_HDR_LEN, frame, len);
    c->used += PCAP_RECORD_HDR_LEN + len;
    c->frames++;
    return 0;
}

int net_capture_close(struct net_capture *c, struct vdev_err *err)
{
    if (!c)
        return 0;
    int rc = net_capture_flush(c);
    if (close(c->fd) && !rc) {
        snprintf(c->error, sizeof(c->error), "close: %s", strerror(errno));
        rc = -1;
    }
    if (rc)
        vdev_err_set(err, "capture to %s failed: %s", c->path, c->error);
    free(c->buf);
    free(c->path);
    free(c);
    return rc;
}

const char *net_capture_path(const struct net_capture *c)
{
    return c->path;
}

uint64_t net_capture_frames(const struct net_capture *c)
{
    return c->frames;
}

const char *net_capture_error(const struct net_capture *c)
{
    return c->error[0] ? c->error : NULL;
}
