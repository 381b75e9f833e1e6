/* gshm: a small library for Linux guests of `vdev shmem` (the guest_shm interface).
 *
 * Finds the device (PCI through libpciaccess, or a factory address given by the caller for
 * MMIO), maps the factory page and the regions through /dev/mem, creates/attaches regions by
 * name, notifies, and waits for notifications: on PCI through uio_pci_generic (the INTx
 * line), else by polling the control status.
 *
 * Needs root (/dev/mem, sysfs). Not thread-safe: one thread per gshm_dev.
 */
#ifndef GSHM_H
#define GSHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest_shm.h"

#define GSHM_MAX_REGIONS 8

struct gshm_region;

struct gshm_dev {
    uint64_t factory_addr;     /* guest-physical */
    volatile uint8_t *factory; /* one page, mapped uncached */
    int mem_fd;                /* /dev/mem for the data pages */
    int mem_uc_fd;             /* /dev/mem, O_SYNC: factory and control pages */
    char pci_slot[32];         /* "0000:00:03.0"; "" for MMIO */
    uint64_t bar2_addr, bar2_size;
    int uio_fd;         /* /dev/uioN, or -1: wait by polling */
    int config_fd;      /* the function's sysfs config file (INTx unmask) */
    char uio_name[16];  /* "uio0" */
    unsigned long irqs; /* interrupts seen through uio */
    uint8_t command_hi; /* PCI command bits 8-15 with INTx unmasked */
    bool command_hi_known;
    struct gshm_region *regions[GSHM_MAX_REGIONS]; /* attached, for the shared line */
};

struct gshm_region {
    struct gshm_dev *dev;
    char name[GUEST_SHM_NAME_MAX];
    uint64_t addr;          /* guest-physical address of the control page */
    uint32_t pages;         /* data pages */
    unsigned idx;           /* my client index */
    volatile uint8_t *ctl;  /* control page (uncached) */
    uint8_t *data;          /* pages * 4096 bytes of data (ordinary memory) */
    uint32_t notifiers;     /* notifier bits read from the status and not yet consumed */
    uint32_t attached;      /* attach bitmap from the last status read */
    uint32_t ever_attached; /* every client seen attached since this attach */
    bool detached;
};

/* Finds PCI function number `index` (0 = the first) with vendor 0x1C05 device 0x0001 and
 * maps its factory page (BAR0); enables the function (memory decoding). Returns 0, or -1
 * with a message in err. */
int gshm_open_pci(struct gshm_dev *d, int index, char *err, size_t errlen);
/* Maps the factory page at guest-physical `factory` (MMIO device). */
int gshm_open_mmio(struct gshm_dev *d, uint64_t factory, char *err, size_t errlen);
/* Looks for an MMIO device described in ACPI (PRP0001 with compatible "qvm,guest_shm") and
 * returns its factory address from /proc/iomem, or 0. */
uint64_t gshm_find_mmio_factory(void);
/* PCI only: binds the function to uio_pci_generic (new_id; the module must be loaded) so
 * waits sleep on its interrupt. Returns 0, or -1 with err (waits then poll). */
int gshm_use_uio(struct gshm_dev *d, char *err, size_t errlen);
void gshm_close(struct gshm_dev *d);

/* Checks the factory signature. */
bool gshm_signature_ok(const struct gshm_dev *d);
uint32_t gshm_vector(const struct gshm_dev *d);

/* Creates or attaches region `name` (pages: wanted size; the first creator decides; with
 * find_only the region must exist and pages is ignored). Returns the guest_shm status
 * (GUEST_SHM_OK with r filled and mapped), or -1 with err when mapping failed. */
int gshm_attach(struct gshm_dev *d, const char *name, uint32_t pages, bool find_only,
                struct gshm_region *r, char *err, size_t errlen);
/* Detaches (the others are told) and unmaps. */
void gshm_detach(struct gshm_region *r);

/* Reads the control status (the read clears the device's notifier bits: they are kept in
 * r->notifiers until consumed) and returns it. */
uint32_t gshm_read_status(struct gshm_region *r);
void gshm_notify(struct gshm_region *r, uint32_t mask);

/* Waits until done(r, arg) is true, reading the status of every region of the device at
 * each wake-up. Sleeps on the interrupt with uio, else polls every poll_us. Returns 0 when
 * done, -1 on timeout (timeout_ms < 0: forever). *woke_by_irq (may be NULL) tells whether
 * the last wake-up before done was an interrupt. */
int gshm_wait(struct gshm_region *r, bool (*done)(struct gshm_region *r, void *arg), void *arg,
              int timeout_ms, bool *woke_by_irq);
/* Waits for a notification from any of `from` (bitmap): consumes and returns those bits in
 * *got. 0 or -1 on timeout. */
int gshm_wait_notify(struct gshm_region *r, uint32_t from, int timeout_ms, uint32_t *got);

const char *gshm_status_name(int status);
double gshm_now(void); /* seconds, monotonic */

#endif
