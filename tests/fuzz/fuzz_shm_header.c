/* The shmem host object's header (lib/shm/shm_object*.c) as another, hostile VM process
 * writes it: this process opens a region (its watcher thread running), maps the object's
 * header a second time as the peer does, and the input interleaves scribbles over any header
 * field (but the pthread mutexes, whose internals glibc trusts: docs/shmem-host.md) with what
 * a VM does: attach clients, status reads, notifications (with doorbells), detaches, opens of
 * the name, the listing tool's validation, sweep and repair, and letting the watcher run.
 * Asserted, whatever the header says:
 *   - a client's idx is below 16 and never one of this process's live clients' (its own
 *     clients keep their slots whatever the shared bitmap claims);
 *   - status reads give 16 pending bits and a 16-bit attach bitmap; pending bits are 16 bits;
 *   - the listing's view of the object is bounded (16 clients, 64 users) and a header with a
 *     bad magic, version or page count is refused;
 *   - and of course no crash, hang or sanitizer report in the reader, the watcher or a notify.
 * Forged doorbells name only this process (a forged pid could make the notifier fetch and
 * write an eventfd of any process of this user on the host). The region has a per-process,
 * per-run name and is removed at the end of each run. */
/* FUZZ_ARGS: -max_len=4096 */
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "shm_object_internal.h"

#define MAXC 20

static _Atomic unsigned long changes;

static void changed(void *arg)
{
    (void)arg;
    atomic_fetch_add(&changes, 1);
}

/* Whether [off, off+1) is a byte of one of the header's mutexes. */
static bool in_mutex(size_t off)
{
    size_t lock = offsetof(struct shm_header, lock);
    if (off >= lock && off < lock + sizeof(pthread_mutex_t))
        return true;
    size_t users = offsetof(struct shm_header, users);
    if (off >= users && off < users + sizeof(((struct shm_header *)0)->users)) {
        size_t in = (off - users) % sizeof(struct shm_user_slot);
        return in >= offsetof(struct shm_user_slot, life) &&
               in < offsetof(struct shm_user_slot, life) + sizeof(pthread_mutex_t);
    }
    return false;
}

/* A peer's doorbell may only name this process here (see the header comment). */
static void tame_doorbells(struct shm_header *h)
{
    for (unsigned i = 0; i < SHM_OBJ_MAX_CLIENTS; i++) {
        int32_t pid = atomic_load(&h->doorbells[i].pid);
        if (pid != 0 && pid != (int32_t)getpid())
            atomic_store(&h->doorbells[i].pid, (int32_t)getpid());
    }
}

/* What `vdevkit shmem list` does with one object (shm_object_tools.c: list_one). */
static void list_view(int fd)
{
    struct shm_header *h;
    off_t size;
    if (shm_map_header(fd, true, &h, &size, NULL, 0) != SHM_OK)
        return; /* refused: bad magic, version or pages */
    if (h->magic != SHM_HDR_MAGIC || h->version != SHM_HDR_VERSION || h->pages < 1 ||
        h->pages > SHM_OBJ_MAX_PAGES)
        ; /* changed since the check: the peer is racing us, nothing to assert */
    if (shm_hdr_lock(h) == 0) {
        shm_hdr_sweep(h, SHM_NO_USER);
        uint64_t live = shm_hdr_live_users(h);
        uint32_t att = shm_hdr_attached(h);
        if (att & ~SHM_ALL_CLIENTS)
            abort();
        for (unsigned i = 0; i < SHM_OBJ_MAX_CLIENTS; i++) {
            unsigned u = shm_hdr_client_user(h, i);
            if (u != SHM_NO_USER && u >= SHM_OBJ_MAX_USERS)
                abort();
        }
        (void)live;
        shm_hdr_unlock(h);
    }
    munmap(h, SHM_HDR_SIZE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long run;
    char name[64], path[96];
    snprintf(name, sizeof(name), "fzh%d.%lu", (int)getpid(), run++);
    shm_obj_path(path, sizeof(path), name);
    struct shm_open_args args = {.pages = 2, .create = true, .mode = 0600, .gid = (gid_t)-1};
    struct shm_obj *o = NULL;
    char why[256];
    if (shm_obj_open(name, &args, &o, why, sizeof(why)) != SHM_OK) {
        fprintf(stderr, "fuzz_shm_header: open %s: %s\n", name, why);
        abort();
    }
    /* The peer's view: the same object, mapped again. */
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    struct shm_header *h =
        fd >= 0 ? mmap(NULL, SHM_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (h == MAP_FAILED)
        abort();
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct shm_client *cl[MAXC] = {0};
    unsigned ncl = 0;

    struct fz_in in = {data, size};
    while (fz_left(&in)) {
        uint8_t op = fz_u8(&in);
        unsigned k = ncl ? fz_u8(&in) % ncl : 0;
        struct shm_client *c = ncl ? cl[k] : NULL;
        switch (op % 11) {
        case 0:
        case 1: { /* the peer scribbles: any field but the mutexes */
            size_t off = fz_u16(&in) % sizeof(struct shm_header);
            uint8_t bytes[64];
            size_t n = fz_take(&in, bytes, fz_u8(&in) % sizeof(bytes));
            for (size_t i = 0; i < n && off + i < sizeof(struct shm_header); i++)
                if (!in_mutex(off + i))
                    ((volatile uint8_t *)h)[off + i] = bytes[i];
            tame_doorbells(h);
            break;
        }
        case 2: /* attach */
            if (ncl < MAXC) {
                struct shm_client *n = NULL;
                if (shm_client_attach(o, changed, NULL, &n) == SHM_OK) {
                    unsigned idx = shm_client_idx(n);
                    if (idx >= SHM_OBJ_MAX_CLIENTS)
                        abort();
                    for (unsigned i = 0; i < ncl; i++)
                        if (cl[i] && shm_client_idx(cl[i]) == idx) {
                            fprintf(stderr, "idx %u given twice in one process\n", idx);
                            abort();
                        }
                    cl[ncl++] = n;
                }
            }
            break;
        case 3: /* detach */
            if (c) {
                shm_client_detach(c);
                cl[k] = cl[--ncl];
            }
            break;
        case 4: /* notify (a mask, or everyone) */
            if (c)
                shm_client_notify(c, fz_u8(&in) & 1 ? ~0u : fz_u32(&in));
            break;
        case 5: /* the guest's status read */
            if (c && (shm_client_read_status(c) & 0xffffu) > SHM_ALL_CLIENTS)
                abort();
            if (c && shm_client_pending(c) > SHM_ALL_CLIENTS)
                abort();
            if (shm_obj_attached(o) > SHM_ALL_CLIENTS)
                abort();
            break;
        case 6: /* publish or withdraw a doorbell */
            if (c)
                shm_client_set_doorbell(c, fz_u8(&in) & 1 ? efd : -1);
            break;
        case 7: /* open the name again (a second device of this VM), close it */
        {
            struct shm_open_args a2 = {.pages = 1 + fz_u8(&in) % 4,
                                       .create = fz_u8(&in) & 1,
                                       .mode = 0600,
                                       .gid = (gid_t)-1};
            struct shm_obj *o2 = NULL;
            if (shm_obj_open(name, &a2, &o2, NULL, 0) == SHM_OK) {
                if (shm_obj_pages(o2) < 1 || shm_obj_pages(o2) > SHM_OBJ_MAX_PAGES)
                    abort();
                shm_obj_close(o2);
            }
            break;
        }
        case 8:
            list_view(fd);
            break;
        case 9: /* a peer died mid-update: the next locker repairs */
            if (shm_hdr_lock(h) == 0) {
                shm_hdr_repair(h);
                shm_hdr_unlock(h);
            }
            break;
        case 10: /* the watcher's turn: wake it and let it run */
            shm_hdr_wake(h, ~0ull);
            sched_yield();
            break;
        }
    }
    for (unsigned i = 0; i < ncl; i++)
        shm_client_detach(cl[i]);
    shm_obj_close(o);
    munmap(h, SHM_HDR_SIZE);
    close(fd);
    close(efd);
    shm_unlink(path); /* a scribbled `persistent` keeps the name: this run's only */
    return 0;
}
