/* The host side of a shmem region: a named POSIX shared-memory object shared by every VM
 * process on the host, with no daemon.
 *
 * Object "/dev/shm/vdevkit-shm.NAME" = a header (two pages, never mapped into a guest)
 * followed by the data pages. The header holds the size the first creator chose, up to
 * SHM_OBJ_MAX_USERS process slots (one per VM process that has the region open) and
 * SHM_OBJ_MAX_CLIENTS client slots (one per guest connection: the `idx` of the guest
 * interface), the attach bitmap and each client's pending notification bits, under a
 * process-shared robust mutex.
 *
 * Notifications cross processes through futexes on the header (each process slot has a
 * wake word its watcher thread sleeps on), or through a client's doorbell: an eventfd its
 * process published, which the notifier writes itself (shm_client_set_doorbell). A process that
 * dies is found by its robust "life" mutex (held by its watcher thread for as long as it has the
 * region open): the others reclaim its slots and see the detach within SHM_OBJ_SWEEP_MS.
 *
 * Trust: every process that can open the object (its mode/gid) is trusted not to be
 * hostile to its peers; see docs/shmem-host.md for what such a process can still do.
 *
 * Names given here are host names: already validated and substituted by the device
 * (shmem_policy.c); this layer still refuses anything that is not a plain file name.
 */
#ifndef VDEVKIT_SHM_OBJECT_H
#define VDEVKIT_SHM_OBJECT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SHM_OBJ_PREFIX      "vdevkit-shm." /* object name prefix under /dev/shm */
#define SHM_OBJ_MAX_CLIENTS 16             /* guest connections per region (guest_shm) */
#define SHM_OBJ_MAX_USERS   64             /* VM processes (and tools) per region */
#define SHM_OBJ_PAGE        4096u
#define SHM_OBJ_SWEEP_MS    200 /* how often watchers look for dead processes */
/* Refuses sizes above this many data pages (16 GiB): a guest writes the size. */
#define SHM_OBJ_MAX_PAGES (1u << 22)

/* Status codes: the guest interface's values. */
enum shm_status {
    SHM_OK = 0,
    SHM_UNKNOWN = 1,
    SHM_NO_MEMORY = 2,
    SHM_CLIENT_MAX = 3,
    SHM_ILLEGAL_NAME = 4,
    SHM_NO_PERMISSION = 5,
    SHM_DOES_NOT_EXIST = 6,
};

struct shm_open_args {
    uint64_t pages;  /* data pages wanted when this call creates the region (>= 1) */
    bool create;     /* false: only open an existing region (else SHM_DOES_NOT_EXIST) */
    bool persistent; /* `vdevkit shmem create`: the region outlives its last user */
    unsigned mode;   /* permission bits for a new object (umask already applied) */
    gid_t gid;       /* group of a new object, (gid_t)-1 to keep the process's */
    const char *who; /* this process's name in listings ("alpha"), may be NULL */
};

struct shm_obj;    /* a region open in this process (one per name, reference counted) */
struct shm_client; /* one guest connection to a region */

/* Opens region `name`, creating it (size a->pages) when it does not exist or when its
 * only users are dead; otherwise the size is the existing one. The same name opened twice
 * in one process returns the same object with one more reference. Returns an enum
 * shm_status (SHM_OK with *out set); `why` (may be NULL) gets a host-side explanation for
 * the log (errno text, "mode 0640 refuses uid 1000"). */
int shm_obj_open(const char *name, const struct shm_open_args *a, struct shm_obj **out, char *why,
                 size_t whylen);
/* Drops a reference (never from a `changed` callback); the last one detaches any client left, frees
 * the process slot and, when no user is left and the region is not persistent, removes the object.
 */
void shm_obj_close(struct shm_obj *o);

const char *shm_obj_name(const struct shm_obj *o);
uint64_t shm_obj_pages(const struct shm_obj *o);
/* Host mapping of the data pages (pages * SHM_OBJ_PAGE bytes, page aligned, shared). */
void *shm_obj_data(const struct shm_obj *o);
/* Bitmap of attached clients (bit idx). */
uint32_t shm_obj_attached(const struct shm_obj *o);

/* Takes a free client slot: SHM_OK, or SHM_CLIENT_MAX when all 16 are in use by live
 * processes. `changed` runs on this region's watcher thread (never with a lock of this
 * layer held) whenever this client's pending bits or the attach bitmap may have changed:
 * a notification for it, another client attaching or detaching (also by death). */
int shm_client_attach(struct shm_obj *o, void (*changed)(void *arg), void *arg,
                      struct shm_client **out);
unsigned shm_client_idx(const struct shm_client *c);
/* The guest's status read: pending notification bits (cleared by this read) in the low 16
 * bits, the attach bitmap in the high 16. */
uint32_t shm_client_read_status(struct shm_client *c);
/* Pending bits without clearing them (to compute an interrupt level). */
uint32_t shm_client_pending(const struct shm_client *c);
/* Notifies the attached clients in `mask` (~0u = every attached client but me; bits of
 * free slots are ignored; a client may notify itself by naming its own bit). */
void shm_client_notify(struct shm_client *c, uint32_t mask);
/* Publishes (efd >= 0) or withdraws (-1) this client's doorbell: an eventfd of this
 * process that raises the client's guest interrupt when written (the device's MSI-X vector
 * eventfd). Notifiers in other processes then set the pending bits and write it themselves
 * (a copy through pidfd_getfd) instead of waking our watcher, so `changed` is not called
 * for their notifications; attaches and detaches still are. The fd must stay open until it
 * is withdrawn (detach withdraws it too). */
void shm_client_set_doorbell(struct shm_client *c, int efd);
/* Frees the slot; the others are told. After this `changed` is never called again for
 * it (waits for a callback in flight on another thread to end). */
void shm_client_detach(struct shm_client *c);

/* Process-wide counts (tests, debugging): doorbells rung by our notifies, and `changed`
 * callbacks run by our watchers. */
unsigned long shm_stat_bells_rung(void);
unsigned long shm_stat_callbacks(void);

/* ---- host tools (`vdevkit shmem`) ---- */

struct shm_obj_info {
    char name[256]; /* host name without the prefix */
    uint64_t pages;
    unsigned mode;
    uid_t uid;
    gid_t gid;
    bool persistent;
    bool corrupt;   /* not a valid region (pages and clients unknown): remove it */
    bool readonly;  /* we may not write it: shown as is, dead users not reclaimed */
    bool foreign;   /* owned by another user (not root): never used; pages and clients unknown */
    unsigned users; /* live processes with the region open */
    uint32_t attached;
    struct {
        pid_t pid; /* 0 when free */
        char who[32];
    } clients[SHM_OBJ_MAX_CLIENTS];
};

/* Calls fn for each region on the host (dead users reclaimed first). Returns the count,
 * or -1 with errno. */
int shm_obj_list(void (*fn)(const struct shm_obj_info *info, void *arg), void *arg);
/* Creates a persistent region (SHM_OK, or a status with `why`). Existing: SHM_UNKNOWN
 * with why "exists". */
int shm_obj_create_persistent(const char *name, uint64_t pages, unsigned mode, gid_t gid, char *why,
                              size_t whylen);
/* Removes the name: processes attached keep their memory until they detach; the next
 * open creates a new region. Returns 0 or -1 with errno. */
int shm_obj_remove(const char *name);

#endif
