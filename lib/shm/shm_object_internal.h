/* Internals of the host shmem objects: the header layout every process shares and the
 * helpers the shm_object*.c files share. Not for the device (it uses shm_object.h).
 *
 * Object layout: SHM_HDR_PAGES header pages (struct shm_header; never mapped into a
 * guest), then `pages` data pages. The header is written by other processes: everything
 * read from it is checked before use (indices, bitmaps, sizes).
 */
#ifndef VDEVKIT_SHM_OBJECT_INTERNAL_H
#define VDEVKIT_SHM_OBJECT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shm/shm_object.h"

#define SHM_HDR_MAGIC   0x314d48534b445655ull /* "UVDKSHM1" */
#define SHM_HDR_VERSION 1u
/* Two pages: 64 user slots with a pthread mutex each do not fit in one. */
#define SHM_HDR_PAGES       2u
#define SHM_HDR_SIZE        ((size_t)SHM_HDR_PAGES * SHM_OBJ_PAGE)
#define SHM_NO_USER         0xffffffffu
#define SHM_DIR             "/dev/shm" /* where glibc's shm_open puts objects (for link/stat) */
#define SHM_TMP_PREFIX      "vdevkit-shmtmp." /* objects being created, never a region name */
#define SHM_LOCK_TIMEOUT_MS 2000 /* a header lock held longer = a hung or hostile peer */
#define SHM_NAME_MAX        200  /* host name length without the prefix */
#define SHM_ALL_CLIENTS     ((1u << SHM_OBJ_MAX_CLIENTS) - 1u)

enum { SHM_USER_FREE = 0, SHM_USER_LIVE = 1 };

/* One VM process (or tool) with the region open. */
struct shm_user_slot {
    pthread_mutex_t life;  /* robust: held by the owner's watcher thread while LIVE */
    _Atomic uint32_t wake; /* futex word the owner's watcher sleeps on */
    _Atomic uint32_t state;
    int32_t pid;
    uint32_t gen; /* bumped on every claim (listing, debugging) */
    char who[32];
};

/* One guest connection (idx = its index). Valid when its attach bit is set. */
struct shm_client_slot {
    _Atomic uint32_t user;    /* owning user slot */
    _Atomic uint32_t pending; /* bit i: client i notified this one since its last read */
    _Atomic uint32_t seq;     /* bumped by every notification for it (watchers compare) */
    uint32_t pad;
};

/* A client's doorbell (idx = its index): an eventfd in process `pid` (fd number `fd` there)
 * that raises the client's guest interrupt when written (docs/shmem-host.md). pid 0: none.
 * `gen` changes with every publication, so peers' cached copies are refreshed. Appended
 * after users[]: processes that predate it ignore it and keep waking watchers. */
struct shm_doorbell_slot {
    _Atomic int32_t pid;
    _Atomic int32_t fd;
    _Atomic uint32_t gen;
    uint32_t pad;
};

struct shm_header {
    uint64_t magic;
    uint32_t version;
    uint32_t header_size;
    uint64_t pages; /* data pages, fixed by the creator */
    uint32_t persistent;
    _Atomic uint32_t unlinked; /* the name no longer refers to this object */
    _Atomic uint32_t attached; /* bitmap of client slots in use */
    uint32_t pad;
    pthread_mutex_t lock; /* robust, process-shared: protects slots and flags */
    struct shm_client_slot clients[SHM_OBJ_MAX_CLIENTS];
    struct shm_user_slot users[SHM_OBJ_MAX_USERS];
    struct shm_doorbell_slot doorbells[SHM_OBJ_MAX_CLIENTS];
};

_Static_assert(sizeof(struct shm_header) <= SHM_HDR_SIZE, "header must fit its pages");

/* Our copy of a peer client's doorbell eventfd (pidfd_getfd), for (pid, fd, gen). */
struct shm_bell_cache {
    bool valid; /* describes (pid, fd, gen) */
    int32_t pid, fd;
    uint32_t gen;
    int local; /* our copy, or -1: fetching it failed (we wake the watcher instead) */
};

/* A region open in this process. */
struct shm_obj {
    struct shm_obj *next; /* registry (shm_object.c) */
    char name[SHM_NAME_MAX + 1];
    pid_t owner_pid; /* a forked child never reuses its parent's objects */
    int refs;
    int fd;
    struct shm_header *hdr;
    void *data;
    uint64_t pages;
    unsigned me; /* our user slot */
    char who[32];

    /* Local state: clients of this process, watcher hand-shake. */
    pthread_mutex_t lk;
    pthread_cond_t cv;
    struct shm_client *clients[SHM_OBJ_MAX_CLIENTS];
    pthread_t watcher;
    bool watcher_started;
    bool claim_new; /* the object is ours and not yet visible: skip the stale check */
    bool claim_done;
    int claim_result; /* enum shm_status, or SHM_RETRY / SHM_STALE */
    atomic_bool stop;

    pthread_mutex_t bell_lk; /* bells[] (notifiers on any thread) */
    struct shm_bell_cache bells[SHM_OBJ_MAX_CLIENTS];
};

struct shm_client {
    struct shm_obj *o;
    unsigned idx;
    void (*changed)(void *arg);
    void *arg;
    uint32_t seen_seq, seen_attached; /* what the watcher last reported */
    bool busy;                        /* `changed` in flight (under o->lk) */
    bool detached;                    /* detached from its own callback: watcher frees */
};

/* Internal results besides enum shm_status. */
#define SHM_RETRY 100 /* lost a race: start over */
#define SHM_STALE 101 /* the object was stale and has been removed */

/* shm_object_header.c */
int shm_name_check(const char *name);
void shm_obj_path(char *buf, size_t len, const char *name); /* "/vdevkit-shm.NAME" */
/* An opened existing object may be used: a regular file owned by us or root, not open to
 * others beyond `mode` (the mode we would give it) unless root owns it. SHM_OK, or
 * SHM_NO_PERMISSION with `why` naming the path, its owner or mode, and a hint. */
int shm_obj_trusted(int fd, const char *name, unsigned mode, char *why, size_t whylen);
void shm_setwhy(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int shm_errno_status(int err);
int shm_hdr_init(struct shm_header *h, uint64_t pages, bool persistent);
int shm_hdr_check(const struct shm_header *h, off_t size, char *why, size_t whylen);
int shm_hdr_lock(struct shm_header *h);
void shm_hdr_unlock(struct shm_header *h);
void shm_hdr_repair(struct shm_header *h);
uint64_t shm_hdr_sweep(struct shm_header *h, unsigned self);
uint64_t shm_hdr_live_users(struct shm_header *h);
void shm_hdr_reclaim_user(struct shm_header *h, unsigned u);
unsigned shm_hdr_client_user(struct shm_header *h, unsigned idx);
uint32_t shm_hdr_attached(struct shm_header *h);
void shm_hdr_wake(struct shm_header *h, uint64_t users);
int shm_life_take(struct shm_header *h, unsigned u);
int shm_map_header(int fd, bool writable, struct shm_header **out, off_t *size, char *why,
                   size_t whylen);

/* shm_object.c */
struct shm_obj *shm_obj_new(const char *name, const char *who);
void shm_obj_free(struct shm_obj *o);
int shm_create_tmp(struct shm_obj *o, uint64_t pages, bool persistent, unsigned mode, gid_t gid,
                   char *tmp, size_t tmplen, char *why, size_t whylen);
int shm_publish_tmp(const char *tmp, const char *name, char *why, size_t whylen);

/* shm_object_reap.c: `list` removes temporaries of dead creators this old (seconds: 60).
 * Alone in its file so that a test can define its own (link-time: vdev_shm is an archive). */
int shm_tmp_reap_age_s(void);

/* shm_object_bell.c */
void shm_bells_init(struct shm_obj *o);
void shm_bells_free(struct shm_obj *o);
/* Writes client idx's doorbell (pid, fd, gen as read under the header lock): true when
 * rung, false when it cannot be (the caller wakes the owner's watcher). Never blocks. */
bool shm_bell_ring(struct shm_obj *o, unsigned idx, int32_t pid, int32_t fd, uint32_t gen);
/* Withdraws client idx's doorbell (header lock held). */
void shm_bell_clear(struct shm_header *h, unsigned idx);

/* shm_object_watch.c */
int shm_watch_start(struct shm_obj *o);
void shm_watch_stop(struct shm_obj *o);

#endif
