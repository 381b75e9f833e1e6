/* Private structures of libvdev, shared between the core's files only. */
#ifndef VDEV_CORE_INTERNAL_H
#define VDEV_CORE_INTERNAL_H

#include <pthread.h>
#include <vdev/vdev.h>

#include "sized.h"
#include "transport_api.h"

#define VDEV_MAX_PICS           8
#define VDEV_MAX_MODULE_DIRS    8
#define VDEV_MAX_BUS_PROVIDERS  2
#define VDEV_MAX_PLATFORM_VDEVS 16

struct vdev_aml;

struct vdev_pic {
    char name[VDEV_PIC_NAME_MAX];
    uint32_t lines;
    uint32_t gsi_base;
    const char **line_owner; /* who uses each line: for collisions and automatic assignment */
};

/* Another name of a controller: qvm's `vdev ioapic ... name myioapic` (platform_vdev.c). */
struct vdev_pic_alias {
    char name[VDEV_PIC_NAME_MAX];
    size_t pic; /* index into pics */
};

struct vdev_platform_dev; /* platform_vdev.c */

/* One delivered option, kept for printing "options after defaults". */
struct vdev_opt_setting {
    const struct vdev_option *opt;
    char *text;
    char *text2;
    struct vdev_srcpos pos;
};

/* A log source's token bucket: a guest that provokes a message per access gets a burst,
 * then a steady trickle and a count of what was dropped (log.c). */
struct vdev_log_limit {
    uint64_t last_ms;      /* when tokens were last topped up */
    unsigned tokens;       /* lines that may go out now */
    unsigned long dropped; /* lines suppressed since the last one that went out */
    bool primed;
};

struct vdev {
    struct vdev_machine *m;
    const struct vdev_type *type;
    const struct vdev_vdev_cfg *cfg;
    struct vdev_platform_dev *platform; /* a platform device's line: no module behind it */
    size_t index;                       /* configuration order */
    char *user_name;                    /* `name` */
    char label[96];                     /* "ser8250 'console'" or "ser8250 #1" */
    struct vdev_loc loc;
    bool loc_given;
    struct vdev_srcpos loc_pos;
    struct vdev_intr intr;
    bool intr_given;
    struct vdev_srcpos intr_pos;
    uint32_t gsi; /* resolved intr line */
    bool has_gsi;
    uint32_t lines[VDEV_MAX_LINES]; /* GSIs of vdev_irq_claim_line, owned or borrowed */
    unsigned nlines;
    struct vdev_region *window;
    struct vdev_region_ops window_ops;
    /* fdt_gen.c, acpi_gen.c: the transport's own nodes (virtio-mmio) */
    struct vdev_transport_nodes transport_nodes;

    /* logging (`log FILTERS DEST`) */
    unsigned log_mask; /* bit per enum vdev_log_level */
    int log_fd;        /* -1: the embedder's log hook */
    bool log_fd_owned;
    struct vdev_log_limit log_limit;

    struct vdev_opt_setting *settings;
    size_t nsettings;

    void *state;
    bool options_ended;
    bool configured;
};

struct vdev_event_loop;
struct vdev_doorbell;

/* bus.c: a window of the memory or I/O map. Regions are freed only with the bus, so a
 * vCPU holding a pointer from a snapshot never sees freed memory. */
struct vdev_region {
    struct vdev_bus *bus;
    char *owner;
    enum vdev_space space;
    enum vdev_region_kind kind;
    uint64_t base, size;
    const struct vdev_region_ops *ops;
    void *opaque;
    void *host;
    bool enabled;
    bool removed;
    struct vdev_doorbell *_Atomic doorbells; /* trapped doorbells inside this window */
    /* Windows (VDEV_REGION_WINDOW) hold children: a child's base stays absolute (updated
     * when its window moves, for writers and messages) and `offset` is where it sits
     * inside the window (what the window's snapshot of children is sorted by). */
    struct vdev_region *parent;
    uint64_t offset;
    struct snapshot *_Atomic kids; /* enabled children sorted by offset */
};

/* Translates gpa for device DMA: only guest RAM, and ROM when !writable (docs/security.md).
 * Returns 0 with the host address and the bytes of the region from there on, or -1. */
int vdev_bus_translate(struct vdev_bus *bus, uint64_t gpa, bool writable, void **host,
                       uint64_t *avail);

/* The guest RAM (or ROM: not writable) region holding gpa. Guest memory stays put and keeps
 * its host pointer for the machine's life, so a caller may keep the span and translate
 * within it without looking the map up again. 0, or -1 when gpa is not guest memory. */
struct vdev_gmem_span {
    uint64_t base, size;
    uint8_t *host;
    bool writable;
};
int vdev_bus_guest_span(struct vdev_bus *bus, uint64_t gpa, struct vdev_gmem_span *out);

/* Called when a host-backed region appears (map=true) or goes (map=false). */
void vdev_bus_set_listener(struct vdev_bus *bus,
                           void (*fn)(void *arg, const struct vdev_region *r, bool map), void *arg);

/* A bus the platform added (bus_provider.c). */
struct vdev_bus_slot {
    const struct vdev_bus_provider *p;
    void *bus;
};

struct vdev_machine {
    const struct vdev_embedder_ops *ops; /* read through EMB_HOOK only */
    void *ctx;
    struct vdev_config cfg;
    struct vdev_bus *bus;

    struct vdev_pic pics[VDEV_MAX_PICS];
    size_t npics;
    struct vdev_pic_alias pic_aliases[VDEV_MAX_PICS];
    size_t npic_aliases;
    struct vdev_platform_dev *platform[VDEV_MAX_PLATFORM_VDEVS];
    size_t nplatform;

    char *module_dirs[VDEV_MAX_MODULE_DIRS];
    size_t nmodule_dirs;

    struct vdev **devs;
    size_t ndevs;
    bool built;

    struct vdev_event_loop *loop;
    int stop_status;                 /* -1 while running */
    struct vdev_err *build_err;      /* where vdev_error() writes while building */
    struct vdev_doorbell *doorbells; /* all of them, freed with the machine */
    struct vdev_virtio *virtios;     /* virtio.c: every virtio device, freed with the machine */
    struct vdev_bus_slot buses[VDEV_MAX_BUS_PROVIDERS]; /* bus_provider.c: PCI */
    size_t nbuses;
    pthread_mutex_t log_lock; /* also guards every log_limit of the machine */
    struct vdev_log_limit log_limit;
    struct vdev_control *control;                 /* control.c: the control socket, or NULL */
    const struct vdev_fdt_platform *fdt_platform; /* fdt_gen.c: set while building a tree */
    uint32_t fdt_intc_phandle;                    /* fdt_gen.c: 0 outside a build */
    const struct vdev_fdt_platform_ext *fdt_ext;  /* fdt_gen.c: complete, while building */
};

/* registry.c: the process-wide table of device types. */
const struct vdev_type *vdev_registry_find(const char *name);
/* NULL-terminated list of registered names (static storage, valid until the next register). */
size_t vdev_registry_names(const char **names, size_t max);

/* loader.c: finds, registers (dlopen) and returns the type for `name`. */
const struct vdev_type *vdev_load_module(struct vdev_machine *m, const char *name,
                                         struct vdev_srcpos pos, struct vdev_err *err);

/* options.c: validates a vdev's raw tokens against its type's table and the common options,
 * delivering each to the module. */
int vdev_apply_options(struct vdev *d, struct vdev_err *err);

/* device.c */
struct vdev *vdev_device_new(struct vdev_machine *m, const struct vdev_type *type,
                             const struct vdev_vdev_cfg *cfg, size_t index);
void vdev_device_free(struct vdev *d);
int vdev_device_assign(struct vdev *d, struct vdev_err *err);
/* Places pinned on a bus (`loc pci:B:D`) are claimed before any device is placed. */
int vdev_device_claim_pinned(struct vdev_machine *m, struct vdev_err *err);

/* bus_provider.c: the machine's bus for a location kind, or NULL. */
const struct vdev_bus_slot *vdev_bus_for(const struct vdev_machine *m, enum vdev_loc_kind kind);

/* irq.c: a controller by its name or an alias. */
struct vdev_pic *vdev_pic_find(struct vdev_machine *m, const char *name);
int vdev_pic_add_alias(struct vdev_machine *m, const char *alias, const char *pic,
                       struct vdev_err *err);

/* platform_vdev.c: `vdev TYPE` lines for what the platform provides. */
struct vdev_platform_dev *vdev_platform_find(const struct vdev_machine *m, const char *type);
const struct vdev_type *vdev_platform_type(const struct vdev_platform_dev *p);
const char *vdev_platform_summary(const struct vdev_platform_dev *p);
const char *vdev_platform_intr(const struct vdev_platform_dev *p);
bool vdev_platform_is_pic(const struct vdev_platform_dev *p);
int vdev_platform_intr_out(struct vdev *d, const struct vdev_optval *v, struct vdev_err *err);
int vdev_platform_alias(struct vdev *d, const struct vdev_optval *v, struct vdev_err *err);
int vdev_platform_assign(struct vdev *d, struct vdev_err *err);
void vdev_platform_free_all(struct vdev_machine *m);
int vdev_claim_line(struct vdev_machine *m, const struct vdev_intr *intr, const char *owner,
                    bool shared_ok, uint32_t *gsi, struct vdev_srcpos pos, struct vdev_err *err);

/* events.c */
struct vdev_event_loop *vdev_event_loop_new(struct vdev_machine *m);
void vdev_event_loop_free(struct vdev_event_loop *l);
int vdev_event_loop_start(struct vdev_event_loop *l);
void vdev_event_loop_stop(struct vdev_event_loop *l);
/* Frees every doorbell; after the loop thread stopped and devices terminated. */
void vdev_events_free_all(struct vdev_machine *m);
/* A watch owned by the core itself rather than a device (the control socket). */
struct vdev_watch *vdev_machine_watch_fd(struct vdev_machine *m, int fd,
                                         void (*fn)(void *opaque, int fd), void *opaque,
                                         struct vdev_err *err);
/* A write into a region with trapped doorbells: true when one rang (the write is consumed). */
bool vdev_doorbell_trap(struct vdev_region *r, uint64_t addr, unsigned size, uint64_t value);

/* control.c: closes the control socket and removes its file; after the loop stopped. */
void vdev_control_close(struct vdev_machine *m);

/* virtio.c: machine reset of every virtio device; freeing them after devices terminated. */
void vdev_virtio_reset_all(struct vdev_machine *m);
void vdev_virtio_free_all(struct vdev_machine *m);

/* log.c */
int vdev_log_parse(struct vdev *d, const char *filters, const char *dest, const char **why);
void vdev_log_close(struct vdev *d);
const char *vdev_log_level_name(enum vdev_log_level level);

/* The embedder's hook `h`, or NULL when it has none or its table (an older build) ends
 * before h (core/sized.h). */
#define EMB_HOOK(m, h) VDEV_HOOK((m)->ops, struct vdev_embedder_ops, h)

/* err.c helpers (vdev_err_at, vdev_err_atc, VDEV_AT_CODE and vdev_strdup: transport_api.h) */
/* hostio.c: whether a run could open (creating it if missing) PATH for appending, without
 * creating anything (dryrun); 0, or -1 with errno set. */
int vdev_host_file_check(const char *path);
/* A DEVICE region's ops from a module or the embedder: sized, with read and write. */
int vdev_region_ops_check(const struct vdev_region_ops *ops, const char *owner,
                          struct vdev_err *err);
/* Appends ", did you mean 'X'?" style hint: returns " (did you mean 'X'?)" or "". */
const char *vdev_did_you_mean(char *buf, size_t len, const char *word, const char *const *cands);

#endif
