/* Writing a device module: the device type, its option table and its life-cycle.
 *
 * A module is a shared object vdev-NAME.so exporting one symbol, `vdev_module_NAME`
 * (dashes become underscores), of type `const struct vdev_type`. Define it with
 * VDEV_MODULE(NAME_IDENT, ...). The same object linked statically into an embedder is
 * registered with vdev_register_type(). See docs/writing-a-vdev.md.
 */
#ifndef VDEV_MODULE_H
#define VDEV_MODULE_H

#include <stdio.h>
#include <vdev/export.h>
#include <vdev/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped only when struct vdev_type or a table a module hands in changes incompatibly: the
 * loader refuses a module of another version. 2: every ops table starts with its size
 * (0.2); members added since are appended, which needs no bump (docs/api-stability.md). */
#define VDEV_ABI_VERSION 2

struct vdev;             /* one device instance */
struct vdev_machine;     /* the VM it belongs to */
struct vdev_aml;         /* AML writer for the DSDT (ACPI); see vdev/acpi.h when present */
struct vdev_acpi_tables; /* whole ACPI tables a device adds (0.3); see vdev/acpi.h */
struct vdev_region_info; /* a region of the memory map; see vdev/bus.h */

/* Argument kinds; the core parses and checks them so modules never see raw tokens. */
enum vdev_opt_kind {
    VDEV_OPT_FLAG,   /* no argument: `legacy` */
    VDEV_OPT_STRING, /* one token, any text */
    VDEV_OPT_U64,    /* number: decimal, 0x-hex, K/M/G suffix; checked against [min, max] */
    VDEV_OPT_MAC,    /* XX:XX:XX:XX:XX:XX */
    VDEV_OPT_PATH,   /* file name; relative names resolved against the config file's folder */
    VDEV_OPT_CHOICE, /* one of `choices` */
    VDEV_OPT_STRING2 /* two tokens (like `log FILTERS DEST`): text and text2 */
};

enum vdev_opt_flags {
    VDEV_OPT_REPEAT = 1u << 0, /* every occurrence is delivered, in order; else the last wins */
};

struct vdev_option {
    const char *name;
    enum vdev_opt_kind kind;
    unsigned flags;             /* enum vdev_opt_flags */
    const char *arg;            /* argument shape, for help and errors: "XX:XX:XX:XX:XX:XX" */
    const char *def;            /* the default as text, printed by dryrun; NULL = none. Defaults are
                                   not delivered to `option`: the module starts from them itself. */
    const char *help;           /* one line */
    uint64_t min, max;          /* VDEV_OPT_U64; max 0 = no upper bound */
    const char *const *choices; /* VDEV_OPT_CHOICE, NULL-terminated */
};

/* One option occurrence as delivered to the module. */
struct vdev_optval {
    const struct vdev_option *opt;
    const char *text;  /* the (first) argument as written; "" for flags */
    const char *text2; /* VDEV_OPT_STRING2: the second argument */
    const char *path;  /* VDEV_OPT_PATH: resolved */
    uint64_t num;      /* VDEV_OPT_U64 */
    uint8_t mac[6];    /* VDEV_OPT_MAC */
    unsigned choice;   /* VDEV_OPT_CHOICE: index into choices */
    struct vdev_srcpos pos;
};

/* Where a device type may sit; `loc` is checked against it. */
enum vdev_place {
    VDEV_PLACE_IO = 1u << 0,  /* port I/O (io:PORT) */
    VDEV_PLACE_MEM = 1u << 1, /* MMIO (mem:ADDR or a bare address) */
    VDEV_PLACE_PCI = 1u << 2, /* a PCI function: the default when `loc` is left out */
};

/* Register-window accessors of the device's main window (the one `loc` places). */
struct vdev_window_ops {
    uint64_t (*read)(struct vdev *d, uint64_t offset, unsigned size);
    void (*write)(struct vdev *d, uint64_t offset, unsigned size, uint64_t value);
    unsigned sizes; /* accepted access sizes: bit n set = 2^n bytes (0x1 = bytes only, 0xf = all) */
};

struct vdev_type {
    uint32_t abi_version; /* VDEV_ABI_VERSION: checked before anything else is read */
    uint32_t type_size;   /* sizeof(struct vdev_type) the module was built with */
    const char *name;     /* "ser8250": the word after `vdev` */
    const char *summary;  /* one line for listings */

    const struct vdev_option *options; /* terminated by an entry with name NULL; may be NULL */
    size_t state_size;                 /* per-instance state, zeroed, from vdev_state() */

    unsigned places;         /* enum vdev_place */
    const char *default_loc; /* used when `loc` is not given */
    uint64_t window_size;    /* size of the main window (bytes or ports) */
    bool has_intr;           /* takes an `intr` (or gets one on PCI) */
    bool intr_optional;      /* ... but works without one (then it has no line) */
    const char *default_intr;
    struct vdev_window_ops window;

    /* Life-cycle, in this order; each may be NULL. Returning non-zero stops the build;
     * report why with vdev_error() first. */
    int (*options_start)(struct vdev *d);                       /* state is zeroed */
    int (*option)(struct vdev *d, const struct vdev_optval *v); /* each option */
    int (*options_end)(struct vdev *d);                         /* all options seen */
    int (*assign)(struct vdev *d);     /* loc/intr final: add extra windows, doorbells */
    int (*configured)(struct vdev *d); /* the machine is complete: start threads */
    int (*gen_acpi)(struct vdev *d, struct vdev_aml *dsdt); /* add DSDT nodes */
    int (*gen_fdt)(struct vdev *d, void *fdt, int parent);  /* add device-tree nodes */
    void (*reset)(struct vdev *d); /* machine reset: back to power-on state */
    /* Device state for dryrun and `stat`: one line, no trailing newline. */
    void (*status)(struct vdev *d, FILE *out);
    void (*terminate)(struct vdev *d); /* stop threads, free what options_start.. made */

    /* A device command from the control socket: `capture NAME ARG` reaches the device named
     * NAME as argv {"capture", ARG}. Runs on the core's event thread (keep it short). Writes
     * a one-line reply (no newline) to `reply` and returns 0, or writes why and returns -1
     * (the socket prefixes "error: "). NULL: the device takes no commands.
     * Members added after this one are read only when type_size covers them. */
    int (*control)(struct vdev *d, int argc, char **argv, char *reply, size_t len);

    /* 0.3: whole ACPI tables besides the DSDT (the HPET's "HPET" table), added with
     * vdev_acpi_table_add(); the embedder lists them in its XSDT. NULL: none. */
    int (*gen_acpi_tables)(struct vdev *d, struct vdev_acpi_tables *tables);

    /* 0.3: host-backed guest memory (RAM, ROM, mapped device memory) was mapped (map true)
     * or unmapped in the guest: what the embedder's map_memory hook is told, from the end
     * of the build on (before `configured` too). For a device whose DMA bypasses the core,
     * a passed host device whose IOMMU must follow guest RAM. Runs on the thread that
     * changed the map. NULL: not told. */
    void (*memory_changed)(struct vdev *d, const struct vdev_region_info *r, bool map);
};

#define VDEV_MODULE_SYMBOL_PREFIX "vdev_module_"
/* Defines the exported type of a module: VDEV_MODULE(ser8250, .name = "ser8250", ...). */
#define VDEV_MODULE(ident, ...)                                                                    \
    __attribute__((visibility("default"))) const struct vdev_type vdev_module_##ident = {          \
        .abi_version = VDEV_ABI_VERSION, .type_size = sizeof(struct vdev_type), __VA_ARGS__}

/* ---- What a module may call ---- */

VDEV_API void *vdev_state(struct vdev *d);
VDEV_API const char *vdev_type_name(const struct vdev *d);
/* The `name` option, or NULL. */
VDEV_API const char *vdev_user_name(const struct vdev *d);
/* "ser8250" or "ser8250 'console'": how messages name this instance. */
VDEV_API const char *vdev_label(const struct vdev *d);
VDEV_API struct vdev_machine *vdev_machine_of(struct vdev *d);
VDEV_API const struct vdev_loc *vdev_loc(const struct vdev *d);
VDEV_API const struct vdev_intr *vdev_intr(const struct vdev *d);
/* The config position of the `vdev` line, for errors found after option parsing. */
VDEV_API struct vdev_srcpos vdev_pos(const struct vdev *d);

/* Reports a configuration error for this device at `pos` (an option's position or
 * vdev_pos()); hint may be NULL. Returns -1. Message: "FILE:L:C: vdev TYPE: MSG (hint: HINT)". */
VDEV_API int vdev_error(struct vdev *d, struct vdev_srcpos pos, const char *hint, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

/* Per-device logging, filtered and routed by the `log` option. */
VDEV_API void vdev_log(struct vdev *d, enum vdev_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define vdev_info(d, ...)  vdev_log((d), VDEV_LOG_INFO, __VA_ARGS__)
#define vdev_warn(d, ...)  vdev_log((d), VDEV_LOG_WARNING, __VA_ARGS__)
#define vdev_debug(d, ...) vdev_log((d), VDEV_LOG_DEBUG, __VA_ARGS__)

/* Interrupts of the device's `intr` line: level (assert/deassert) or an edge. */
VDEV_API int vdev_irq_set_level(struct vdev *d, bool asserted);
VDEV_API int vdev_irq_pulse(struct vdev *d);

/* More lines (0.3), for a device whose interrupts go where the guest routes them at run
 * time (the HPET's INT_ROUTE_CNF): claims line `line` of interrupt controller `pic` besides
 * the device's `intr`. Call from `assign`. Without flags the line must be free and becomes
 * the device's, so no other device or `reserve` gets it; with VDEV_LINE_BORROW it is a
 * fixed platform wire the device drives beside its owner (the HPET's legacy replacement
 * routes to ISA IRQ 0 and 8), and its ownership does not change. At most VDEV_MAX_LINES
 * per device. Returns 0 with *gsi set, or -1 after reporting why with vdev_error at pos. */
#define VDEV_LINE_BORROW (1u << 0)
#define VDEV_MAX_LINES   32
VDEV_API int vdev_irq_claim_line(struct vdev *d, const char *pic, uint32_t line, unsigned flags,
                                 struct vdev_srcpos pos, uint32_t *gsi);
/* Drives GSI `gsi`, which must be the device's `intr` line or one it claimed; -1 otherwise.
 * A line another device drives too shows the last level written (as KVM_IRQ_LINE does). */
VDEV_API int vdev_irq_set_line(struct vdev *d, uint32_t gsi, bool asserted);

/* 0.3: tells the embedder (its vfio_group hook) that the VFIO group open as group_fd is
 * this VM's (add) or no longer (remove): what a passed host device does. 0, or -1 when the
 * embedder has no such hook or refused. Call from `configured` and `terminate`. */
VDEV_API int vdev_vfio_group(struct vdev *d, int group_fd, bool add);

/* Ends the VM with `status` (testdev, power-off paths). */
VDEV_API void vdev_request_stop(struct vdev *d, int status);

/* Registers a static (linked-in) device type; also what the loader does after dlopen.
 * Returns 0, or -1 with err set (wrong ABI, duplicate name, bad option table). */
VDEV_API int vdev_register_type(const struct vdev_type *type, struct vdev_err *err);

#ifdef __cplusplus
}
#endif
#endif
