/* Basic value types shared by the configuration, the bus and the modules. */
#ifndef VDEV_TYPES_H
#define VDEV_TYPES_H

#include <vdev/export.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
};

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

/* A fallible call fills one of these with a complete, user-facing message. */
#define VDEV_ERR_MAX 1024
struct vdev_err {
    char msg[VDEV_ERR_MAX];
};

/* Formats into err (if not NULL) and returns -1, so callers can `return vdev_err_set(...)`. */
VDEV_API int vdev_err_set(struct vdev_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif
