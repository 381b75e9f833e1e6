/* shmem: the device's state, shared by its files.
 *
 *   shmem_module.c   the type, placement (PCI or MMIO), ACPI/FDT nodes, status, life-cycle
 *   shmem_options.c  the options
 *   shmem_factory.c  the factory page, attachments, control pages, the interrupt level
 *   shmem_policy.c   allow/deny, subst, name checks
 *   shmem_life.c     the lifetime cap on attachments (alone: white-box tests replace it)
 *
 * Locking: one mutex per device (`lock`) guards the factory registers and the attachment
 * table. The host layer's `changed` callback takes it too, so shm_client_detach (which waits
 * for a callback in flight) is only ever called with `lock` released.
 */
#ifndef VDEVKIT_SHMEM_DEV_H
#define VDEVKIT_SHMEM_DEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <vdev/bus.h>
#include <vdev/module.h>

#include "shm/shm_object.h"
#include "shmem_policy.h"

#define SHMEM_PAGE           4096u
#define SHMEM_FACTORY_SIZE   0x1000u
#define SHMEM_SIGNATURE      0x4d534732474d5651ull /* "QVMG2GSM" */
#define SHMEM_PCI_VENDOR     0x1c05
#define SHMEM_PCI_DEVICE     0x0001
#define SHMEM_PCI_CLASS      0x050000 /* memory controller, RAM */
#define SHMEM_BAR_FACTORY    0
#define SHMEM_BAR_WINDOW     2
#define SHMEM_BAR_MSIX       4 /* 4 KiB, 32-bit: the MSI-X table at 0, the PBA at 0x800 */
#define SHMEM_MSIX_SIZE      0x1000u
#define SHMEM_MSIX_TABLE     0x0u
#define SHMEM_MSIX_PBA       0x800u
#define SHMEM_DEFAULT_WINDOW (1ull << 30)
#define SHMEM_MAX_ATTACH     32    /* regions attached at once per factory */
#define SHMEM_LIFE_MAPS      65536 /* region mappings a factory may make over the VM's life */
#define SHMEM_MMIO_WIN_FROM  (64ull << 30)

/* Factory page offsets (guest_shm). */
#define SHMEM_F_SIGNATURE 0x00
#define SHMEM_F_SHMEM     0x08
#define SHMEM_F_VECTOR    0x10
#define SHMEM_F_STATUS    0x14
#define SHMEM_F_SIZE      0x18
#define SHMEM_F_NAME      0x1c
#define SHMEM_F_FIND      0x3c
#define SHMEM_F_END       0x40

/* Control page offsets. */
#define SHMEM_C_STATUS 0x0
#define SHMEM_C_IDX    0x4
#define SHMEM_C_NOTIFY 0x8
#define SHMEM_C_DETACH 0xc

struct shmem;
struct shmem_att;

/* The opaque of one control-page mapping. The bus keeps a removed region (and may still
 * dispatch an access that raced its removal), so each mapping has its own handle that
 * says whether it is still the attachment's; handles are freed at terminate. */
struct shmem_map {
    struct shmem *s;
    struct shmem_att *att;
    bool live;
    struct shmem_map *next;
};

enum shmem_att_state { ATT_FREE, ATT_LIVE, ATT_GOING };

struct shmem_att {
    enum shmem_att_state state;
    struct shm_obj *obj;
    struct shm_client *cl;
    uint64_t off;   /* of the control page in the window */
    uint64_t pages; /* data pages */
    struct vdev_region *ctl, *data;
    struct shmem_map *map;
    uint32_t seen; /* attach bitmap the guest last read through status */
    char name[SHMEM_NAME_FIELD];
};

/* A `create NAME,SIZE[,MODE[,GID]]` line. */
struct shmem_create {
    char *name;
    uint64_t pages;
    bool has_mode, has_gid;
    unsigned mode;
    gid_t gid;
    struct vdev_srcpos pos;
    struct shm_obj *obj; /* held from `configured` to terminate */
};

struct shmem {
    struct vdev *d;
    pthread_mutex_t lock;
    bool lock_ready;

    /* options */
    struct shmem_policy pol;
    struct shmem_create *creates;
    size_t ncreates;
    gid_t gid;      /* (gid_t)-1: the process's */
    unsigned umask; /* applied to MODE 0666 of regions guests create */
    uint64_t window_size;
    uint64_t sched;

    /* placement */
    bool pci;
    struct vdev_pci_func *f;
    struct vdev_region *win; /* where the regions go (BAR 2, or the MMIO window) */
    uint64_t mmio_win_base;
    uint32_t vector;
    bool has_vector;
    /* PCI: MSI-X vector 0 replaces INTx while the guest has MSI-X on (under lock). Its
     * eventfd is every attachment's doorbell then: other processes raise it exitlessly. */
    bool msix;
    int msix_efd; /* -1: none (MMIO, or the core could not make one) */

    /* factory registers */
    uint32_t status, size;
    uint8_t name[SHMEM_NAME_FIELD];
    bool has_last;
    uint64_t last_off; /* `shmem`: window base + this */

    struct shmem_att att[SHMEM_MAX_ATTACH];
    struct shmem_map *maps;
    unsigned life_maps;
    bool life_logged;
    unsigned guest_logs; /* refusals logged (bounded) */
    bool level;
};

/* shmem_options.c */
extern const struct vdev_option shmem_options[];
int shmem_options_start(struct vdev *d);
int shmem_option(struct vdev *d, const struct vdev_optval *v);
int shmem_options_end(struct vdev *d);
void shmem_options_free(struct shmem *s);
/* Opens the `create` regions (configured). */
int shmem_create_regions(struct shmem *s);

/* shmem_life.c: SHMEM_LIFE_MAPS. Alone in its file so that a white-box test can define a
 * lower cap (vdev-shmem-whitebox is an archive: the test's definition keeps this one out). */
unsigned shmem_life_maps(void);

/* shmem_factory.c */
uint64_t shmem_factory_read(struct shmem *s, uint64_t off, unsigned size);
void shmem_factory_write(struct shmem *s, uint64_t off, unsigned size, uint64_t value);
/* Detaches every region and clears the factory registers (reset, terminate). */
void shmem_detach_all(struct shmem *s);
/* Frees the mapping handles (terminate, after shmem_detach_all). */
void shmem_free_maps(struct shmem *s);
uint64_t shmem_window_base(const struct shmem *s);
void shmem_print_status(struct shmem *s, FILE *out);
/* The guest turned MSI-X on or off (PCI core callback, vCPU thread). */
void shmem_msix_changed(void *opaque, bool enabled);

#endif
