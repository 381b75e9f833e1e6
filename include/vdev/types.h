/* Basic value types shared by the configuration, the bus and the modules. */
#ifndef VDEV_TYPES_H
#define VDEV_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vdev/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where a configuration token came from, for error messages. */
struct vdev_srcpos {
    const char *file; /* "guest.conf", or "command line"; owned by the config */
    unsigned line;    /* 1-based; for the command line: 1 */
    unsigned col;     /* 1-based; for the command line: the argument number */
};

/* Address spaces a device window can live in. */
enum vdev_space {
    VDEV_SPACE_MEM = 0, /* guest-physical memory (MMIO) */
    VDEV_SPACE_IO = 1,  /* x86 port I/O */
};

/* A `loc` value: where a device sits. */
enum vdev_loc_kind {
    VDEV_LOC_NONE = 0, /* not given: the device type or the PCI core assigns one */
    VDEV_LOC_MEM,      /* mem:ADDR[,LEN] or a bare ADDR[,LEN] */
    VDEV_LOC_IO,       /* io:PORT[,LEN] */
    VDEV_LOC_PCI,      /* pci:BUS:DEV[.FN]: pins a PCI slot (vdevkit extension) */
};

struct vdev_loc {
    enum vdev_loc_kind kind;
    uint64_t addr;        /* MEM/IO */
    uint64_t len;         /* MEM/IO; 0 = the device's own window size */
    uint8_t bus, dev, fn; /* PCI */
};

/* An `intr` value: PIC:LINE, where PIC names an interrupt controller of the machine. */
#define VDEV_PIC_NAME_MAX 32
struct vdev_intr {
    bool given;
    char pic[VDEV_PIC_NAME_MAX];
    uint32_t line;
};

/* A message-signalled interrupt as the guest programmed it. */
struct vdev_msi {
    uint64_t addr;
    uint32_t data;
    /* Since VDEVKIT_0.3, in what was padding (the struct's size is unchanged): the PCI
     * requester ID of the function that sends it (bus << 8 | device << 3 | function), valid
     * when flags has VDEV_MSI_REQUESTER_ID. An interrupt translation service (ARM's GICv3
     * ITS, through the device tree's msi-map) tells devices apart by it; KVM wants it as
     * KVM_MSI_VALID_DEVID. The PCI core sets both; other senders leave them 0. */
    uint16_t requester_id;
    uint16_t flags;
};
#define VDEV_MSI_REQUESTER_ID 0x0001u /* requester_id is valid */

/* Log levels, from most to least severe (qvm's names). */
enum vdev_log_level {
    VDEV_LOG_FATAL = 0,
    VDEV_LOG_INTERNAL,
    VDEV_LOG_ERROR,
    VDEV_LOG_WARNING,
    VDEV_LOG_INFO,
    VDEV_LOG_DEBUG,
    VDEV_LOG_VERBOSE,
    VDEV_LOG_LEVELS
};

/* What went wrong, for programs; the message says it for people. Codes are only ever
 * added, never renumbered or reused (docs/api-stability.md). */
enum vdev_errc {
    VDEV_E_OK = 0,
    VDEV_E_FAILED,      /* not classified: the message is all there is */
    VDEV_E_INVAL,       /* a bad argument or table from the program (not the user) */
    VDEV_E_NOMEM,       /* out of memory */
    VDEV_E_NOENT,       /* no such module, file, device, controller or line */
    VDEV_E_CONFIG,      /* the configuration is wrong: syntax or value; FILE:LINE:COL first */
    VDEV_E_RANGE,       /* a number, address or size out of its range */
    VDEV_E_BUSY,        /* overlaps or takes what something else holds (region, slot, line) */
    VDEV_E_EXIST,       /* already there: a type registered twice, a name taken */
    VDEV_E_PERM,        /* not allowed: host permissions or an ownership check */
    VDEV_E_IO,          /* a host call failed (the message has the system's reason) */
    VDEV_E_UNSUPPORTED, /* not available here (no PCI bus, ...) */
    VDEV_E_ABI,         /* a module built for another vdev ABI version or layout */
};

/* A fallible call fills one of these with a code and a complete, user-facing message.
 * The struct stays VDEV_ERR_MAX bytes: the code sits after the message. */
#define VDEV_ERR_MAX     1024
#define VDEV_ERR_MSG_MAX (VDEV_ERR_MAX - 8)
struct vdev_err {
    char msg[VDEV_ERR_MSG_MAX];
    int32_t code; /* enum vdev_errc; VDEV_E_FAILED where the library does not classify */
    uint32_t reserved_;
};

/* Formats into err (if not NULL) with code VDEV_E_FAILED and returns -1, so callers can
 * `return vdev_err_set(...)`. */
VDEV_API int vdev_err_set(struct vdev_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The same with an enum vdev_errc code. */
VDEV_API int vdev_err_setc(struct vdev_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "VDEV_E_NOENT" for VDEV_E_NOENT; "VDEV_E_?" for a code this library does not know. */
VDEV_API const char *vdev_errc_name(int code);

#ifdef __cplusplus
}
#endif
#endif
