/* Sending and receiving the peer link's control messages with their fds. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "netpeer/peer_link_proto.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Room for more fds than we accept, so that extra ones arrive (and get closed) instead of
 * being silently dropped by the kernel. */
#define PL_RECV_FDS 16

void pl_hdr_init(struct pl_hdr *h, enum pl_type type)
{
    h->magic = PL_MAGIC;
    h->version = PL_VERSION;
    h->type = (uint16_t)type;
}

int pl_send(int sock, const void *msg, size_t len, const int *fds, int nfds)
{
    /* Room for as many fds as we receive: tests send a HELLO with too many on purpose. */
    union {
        char buf[CMSG_SPACE(sizeof(int) * PL_RECV_FDS)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = (void *)msg, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > PL_RECV_FDS)
        return -EINVAL; /* more would overflow ctl */
    if (nfds > 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EMSGSIZE;
}

void pl_close_fds(int *fds, int nfds)
{
    for (int i = 0; i < nfds; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
}

long pl_recv(int sock, union pl_msg *msg, int fds[PL_MAX_FDS], int *nfds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * PL_RECV_FDS)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = msg, .iov_len = sizeof(*msg)};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl)};
    *nfds = 0;
    memset(msg, 0, sizeof(*msg));
    ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0)
        return -errno;
    bool bad = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (*nfds >= 0 && *nfds < PL_MAX_FDS) {
                fds[(*nfds)++] = fd;
            } else {
                close(fd);
                bad = true;
            }
        }
    }
    if (bad) {
        pl_close_fds(fds, *nfds < 0 ? 0 : *nfds);
        *nfds = -1;
    }
    return n;
}
