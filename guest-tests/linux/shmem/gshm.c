/* gshm: the guest side of `vdev shmem` for Linux guests (see gshm.h). */
#define _GNU_SOURCE
#include "gshm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <pciaccess.h>

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

double gshm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- trapped pages: one access of the field's width each ---- */

static uint32_t rd32(volatile uint8_t *page, unsigned off)
{
    return *(volatile uint32_t *)(page + off);
}

static uint64_t rd64(volatile uint8_t *page, unsigned off)
{
    return *(volatile uint64_t *)(page + off);
}

static void wr32(volatile uint8_t *page, unsigned off, uint32_t v)
{
    *(volatile uint32_t *)(page + off) = v;
}

/* ---- /dev/mem ---- */

static void *map_phys(int fd, uint64_t addr, size_t len, char *err, size_t errlen)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)addr);
    if (p == MAP_FAILED) {
        seterr(err, errlen, "mmap /dev/mem at 0x%" PRIx64 " (%zu bytes): %s", addr, len,
               strerror(errno));
        return NULL;
    }
    return p;
}

static int open_mem(struct gshm_dev *d, char *err, size_t errlen)
{
    d->mem_fd = open("/dev/mem", O_RDWR | O_CLOEXEC);
    d->mem_uc_fd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
    if (d->mem_fd < 0 || d->mem_uc_fd < 0) {
        seterr(err, errlen, "/dev/mem: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void dev_init(struct gshm_dev *d)
{
    memset(d, 0, sizeof *d);
    d->mem_fd = d->mem_uc_fd = d->uio_fd = d->config_fd = -1;
}

static int map_factory(struct gshm_dev *d, uint64_t addr, char *err, size_t errlen)
{
    if (addr == 0 || addr % GUEST_SHM_PAGE_SIZE) {
        seterr(err, errlen, "factory address 0x%" PRIx64 " is not a page address", addr);
        return -1;
    }
    if (open_mem(d, err, errlen))
        return -1;
    d->factory_addr = addr;
    d->factory = map_phys(d->mem_uc_fd, addr, GUEST_SHM_PAGE_SIZE, err, errlen);
    return d->factory ? 0 : -1;
}

int gshm_open_mmio(struct gshm_dev *d, uint64_t factory, char *err, size_t errlen)
{
    dev_init(d);
    if (map_factory(d, factory, err, errlen)) {
        gshm_close(d);
        return -1;
    }
    return 0;
}

int gshm_open_pci(struct gshm_dev *d, int index, char *err, size_t errlen)
{
    dev_init(d);
    int rc = pci_system_init();
    if (rc) {
        seterr(err, errlen, "libpciaccess: pci_system_init: %s", strerror(rc));
        return -1;
    }
    struct pci_id_match match = {
        .vendor_id = GUEST_SHM_PCI_VENDOR,
        .device_id = GUEST_SHM_PCI_DEVICE,
        .subvendor_id = PCI_MATCH_ANY,
        .subdevice_id = PCI_MATCH_ANY,
    };
    struct pci_device_iterator *it = pci_id_match_iterator_create(&match);
    struct pci_device *dev = NULL;
    for (int i = 0; it && (dev = pci_device_next(it)) != NULL; i++)
        if (i == index)
            break;
    pci_iterator_destroy(it);
    if (!dev) {
        seterr(err, errlen, "no PCI function %04x:%04x (number %d)", GUEST_SHM_PCI_VENDOR,
               GUEST_SHM_PCI_DEVICE, index);
        pci_system_cleanup();
        return -1;
    }
    /* Memory decoding on (no driver may have enabled the function). */
    pci_device_enable(dev);
    rc = pci_device_probe(dev);
    if (rc) {
        seterr(err, errlen, "pci_device_probe: %s", strerror(rc));
        pci_system_cleanup();
        return -1;
    }
    snprintf(d->pci_slot, sizeof d->pci_slot, "%04x:%02x:%02x.%u", dev->domain, dev->bus, dev->dev,
             dev->func);
    uint64_t bar0 = dev->regions[0].base_addr;
    d->bar2_addr = dev->regions[2].base_addr;
    d->bar2_size = dev->regions[2].size;
    pci_system_cleanup();
    if (bar0 == 0) {
        seterr(err, errlen, "%s: BAR0 is not assigned", d->pci_slot);
        return -1;
    }
    if (map_factory(d, bar0, err, errlen)) {
        gshm_close(d);
        return -1;
    }
    return 0;
}

/* Reads a whole small sysfs file (NUL-terminated, trailing newline removed). */
static int read_small(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == 0))
        buf[--n] = 0;
    return 0;
}

static int write_small(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* The uio device a PCI function is bound to ("uio0"), from its sysfs folder. */
static int find_uio(const char *slot, char *name, size_t len)
{
    char path[128];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/uio", slot);
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    struct dirent *e;
    int rc = -1;
    while ((e = readdir(dir)) != NULL) {
        if (strncmp(e->d_name, "uio", 3) == 0) {
            snprintf(name, len, "%.15s", e->d_name);
            rc = 0;
            break;
        }
    }
    closedir(dir);
    return rc;
}

/* uio_pci_generic masks INTx (command bit 10) in its handler; we unmask it through config
 * space once the status has been read. After an interrupt the bit is known to be set, so
 * the command's high byte read when the wait started is written back without reading it
 * again (each config access is a VM exit); its other bits (SERR, fast back-to-back) do not
 * change under us. */
static void unmask_intx(struct gshm_dev *d, bool after_irq)
{
    uint8_t hi = d->command_hi;
    if (!after_irq || !d->command_hi_known) {
        if (pread(d->config_fd, &hi, 1, 5) != 1)
            return;
        d->command_hi = hi & (uint8_t)~0x4;
        d->command_hi_known = true;
        if (!(hi & 0x4))
            return;
    }
    hi &= (uint8_t)~0x4;
    if (pwrite(d->config_fd, &hi, 1, 5) != 1)
        perror("gshm: INTx unmask");
}

int gshm_use_uio(struct gshm_dev *d, char *err, size_t errlen)
{
    char path[160], drv[160] = "";
    if (!d->pci_slot[0]) {
        seterr(err, errlen, "not a PCI device");
        return -1;
    }
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/driver", d->pci_slot);
    ssize_t n = readlink(path, drv, sizeof drv - 1);
    if (n < 0) {
        /* Unbound: teach uio_pci_generic our ID; it binds every matching function. */
        char id[32];
        snprintf(id, sizeof id, "%04x %04x", GUEST_SHM_PCI_VENDOR, GUEST_SHM_PCI_DEVICE);
        if (write_small("/sys/bus/pci/drivers/uio_pci_generic/new_id", id) && errno != EEXIST) {
            seterr(err, errlen, "uio_pci_generic/new_id: %s (is the module loaded?)",
                   strerror(errno));
            return -1;
        }
        /* new_id binds asynchronously on some kernels: give it a moment. */
        for (int i = 0; i < 50 && find_uio(d->pci_slot, d->uio_name, sizeof d->uio_name); i++)
            usleep(20000);
    }
    if (find_uio(d->pci_slot, d->uio_name, sizeof d->uio_name)) {
        drv[n > 0 ? n : 0] = 0;
        seterr(err, errlen, "%s: no uio device (driver %s)", d->pci_slot,
               n > 0 ? strrchr(drv, '/') + 1 : "none");
        return -1;
    }
    snprintf(path, sizeof path, "/dev/%s", d->uio_name);
    d->uio_fd = open(path, O_RDWR | O_CLOEXEC);
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/config", d->pci_slot);
    d->config_fd = open(path, O_RDWR | O_CLOEXEC);
    if (d->uio_fd < 0 || d->config_fd < 0) {
        seterr(err, errlen, "%s: %s", path, strerror(errno));
        if (d->uio_fd >= 0)
            close(d->uio_fd);
        d->uio_fd = -1;
        return -1;
    }
    unmask_intx(d, false);
    return 0;
}

uint64_t gshm_find_mmio_factory(void)
{
    /* The kernel names the platform device after the ACPI one ("PRP0001:00"); its modalias
     * carries the compatible string (ACPI's PRP0001 and a device tree's node alike),
     * /proc/iomem its memory resource. */
    const char *base = "/sys/bus/platform/devices";
    DIR *dir = opendir(base);
    if (!dir)
        return 0;
    char want[64] = "";
    struct dirent *e;
    while ((e = readdir(dir)) != NULL && !want[0]) {
        char path[300], alias[256];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s/modalias", base, e->d_name);
        if (read_small(path, alias, sizeof alias) == 0 && strstr(alias, GUEST_SHM_COMPATIBLE))
            snprintf(want, sizeof want, "%.63s", e->d_name);
    }
    closedir(dir);
    if (!want[0])
        return 0;
    FILE *f = fopen("/proc/iomem", "re");
    if (!f)
        return 0;
    char line[256];
    uint64_t addr = 0;
    while (fgets(line, sizeof line, f)) {
        uint64_t start, end;
        char owner[128];
        if (sscanf(line, " %" SCNx64 "-%" SCNx64 " : %127[^\n]", &start, &end, owner) == 3 &&
            strcmp(owner, want) == 0 && end - start + 1 == GUEST_SHM_PAGE_SIZE) {
            /* (its other resource is the region window) */
            addr = start;
            break;
        }
    }
    fclose(f);
    /* From a device tree the device is "<first reg, hex>.<node name>" ("d1000000.guest_shm"),
     * and /proc/iomem names its resources after the node: the first reg is the factory. */
    char *dot = strchr(want, '.');
    if (!addr && dot && dot != want) {
        char *end;
        uint64_t a = strtoull(want, &end, 16);
        if (end == dot)
            addr = a;
    }
    return addr;
}

void gshm_close(struct gshm_dev *d)
{
    if (d->factory)
        munmap((void *)d->factory, GUEST_SHM_PAGE_SIZE);
    if (d->mem_fd >= 0)
        close(d->mem_fd);
    if (d->mem_uc_fd >= 0)
        close(d->mem_uc_fd);
    if (d->uio_fd >= 0)
        close(d->uio_fd);
    if (d->config_fd >= 0)
        close(d->config_fd);
    dev_init(d);
}

bool gshm_signature_ok(const struct gshm_dev *d)
{
    return rd64(d->factory, GUEST_SHM_F_SIGNATURE) == GUEST_SHM_SIGNATURE;
}

uint32_t gshm_vector(const struct gshm_dev *d)
{
    return rd32(d->factory, GUEST_SHM_F_VECTOR);
}

/* The name as 8 little-endian words, zero padded. */
static void write_name(struct gshm_dev *d, const char *name)
{
    char buf[GUEST_SHM_NAME_MAX] = {0};
    size_t len = strnlen(name, GUEST_SHM_NAME_MAX);
    memcpy(buf, name, len); /* a 32-byte name is left unterminated: the device decides */
    for (unsigned i = 0; i < GUEST_SHM_NAME_MAX; i += 4) {
        uint32_t w;
        memcpy(&w, buf + i, 4);
        wr32(d->factory, GUEST_SHM_F_NAME + i, w);
    }
}

static void track(struct gshm_dev *d, struct gshm_region *r, bool add)
{
    for (unsigned i = 0; i < GSHM_MAX_REGIONS; i++) {
        if (add && !d->regions[i]) {
            d->regions[i] = r;
            return;
        }
        if (!add && d->regions[i] == r)
            d->regions[i] = NULL;
    }
}

int gshm_attach(struct gshm_dev *d, const char *name, uint32_t pages, bool find_only,
                struct gshm_region *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->dev = d;
    snprintf(r->name, sizeof r->name, "%s", name);
    write_name(d, name);
    __sync_synchronize();
    if (find_only)
        wr32(d->factory, GUEST_SHM_F_FIND, 1);
    else
        wr32(d->factory, GUEST_SHM_F_SIZE, pages);
    __sync_synchronize();
    uint32_t st = rd32(d->factory, GUEST_SHM_F_STATUS);
    if (st != GUEST_SHM_OK)
        return (int)st;
    r->addr = rd64(d->factory, GUEST_SHM_F_SHMEM);
    r->pages = rd32(d->factory, GUEST_SHM_F_SIZE);
    if (r->addr == 0 || r->addr % GUEST_SHM_PAGE_SIZE || r->pages == 0) {
        seterr(err, errlen, "status OK but shmem 0x%" PRIx64 " size %u", r->addr, r->pages);
        return -1;
    }
    r->ctl = map_phys(d->mem_uc_fd, r->addr, GUEST_SHM_PAGE_SIZE, err, errlen);
    if (!r->ctl)
        return -1;
    r->data = map_phys(d->mem_fd, r->addr + GUEST_SHM_PAGE_SIZE,
                       (size_t)r->pages * GUEST_SHM_PAGE_SIZE, err, errlen);
    if (!r->data) {
        munmap((void *)r->ctl, GUEST_SHM_PAGE_SIZE);
        r->ctl = NULL;
        return -1;
    }
    r->idx = rd32(r->ctl, GUEST_SHM_C_IDX);
    track(d, r, true);
    gshm_read_status(r);
    return GUEST_SHM_OK;
}

void gshm_detach(struct gshm_region *r)
{
    if (!r->ctl)
        return;
    wr32(r->ctl, GUEST_SHM_C_DETACH, 1);
    track(r->dev, r, false);
    munmap(r->data, (size_t)r->pages * GUEST_SHM_PAGE_SIZE);
    munmap((void *)r->ctl, GUEST_SHM_PAGE_SIZE);
    r->ctl = NULL;
    r->data = NULL;
    r->detached = true;
}

uint32_t gshm_read_status(struct gshm_region *r)
{
    uint32_t s = rd32(r->ctl, GUEST_SHM_C_STATUS);
    r->notifiers |= GUEST_SHM_STATUS_NOTIFIERS(s);
    r->attached = GUEST_SHM_STATUS_ATTACHED(s);
    r->ever_attached |= r->attached;
    return s;
}

void gshm_notify(struct gshm_region *r, uint32_t mask)
{
    wr32(r->ctl, GUEST_SHM_C_NOTIFY, mask);
}

static void read_all(struct gshm_dev *d)
{
    for (unsigned i = 0; i < GSHM_MAX_REGIONS; i++)
        if (d->regions[i])
            gshm_read_status(d->regions[i]);
}

int gshm_wait(struct gshm_region *r, bool (*done)(struct gshm_region *r, void *arg), void *arg,
              int timeout_ms, bool *woke_by_irq)
{
    struct gshm_dev *d = r->dev;
    double end = gshm_now() + timeout_ms / 1000.0;
    /* unmask first too: an earlier process may have left INTx masked by the handler */
    bool irq = false, unmask = d->uio_fd >= 0, after_irq = false;
    unsigned polls = 0;
    for (;;) {
        /* Read the status before unmasking: the read lowers the line, and a change after it
         * raises it again, so no wake-up is lost. */
        read_all(d);
        if (unmask) {
            unmask_intx(d, after_irq);
            unmask = after_irq = false;
        }
        if (done(r, arg)) {
            if (woke_by_irq)
                *woke_by_irq = irq;
            return 0;
        }
        double left = end - gshm_now();
        if (timeout_ms >= 0 && left <= 0)
            return -1;
        irq = false;
        if (d->uio_fd >= 0) {
            int ms = timeout_ms < 0 ? 1000 : (int)(left * 1000) + 1;
            struct pollfd p = {.fd = d->uio_fd, .events = POLLIN};
            if (poll(&p, 1, ms) > 0 && (p.revents & POLLIN)) {
                uint32_t count;
                if (read(d->uio_fd, &count, sizeof count) == sizeof count) {
                    d->irqs++;
                    irq = true;
                }
                unmask = after_irq = true;
            }
        } else {
            /* 1 ms, doubling every 64 polls up to 16 ms: each status read is a VM exit,
             * and a long wait should not keep the vCPU busy */
            usleep(1000u << (polls < 256 ? polls / 64 : 4));
            polls++;
        }
    }
}

struct notify_wait {
    uint32_t from;
};

static bool notified(struct gshm_region *r, void *arg)
{
    const struct notify_wait *w = arg;
    return (r->notifiers & w->from) != 0;
}

int gshm_wait_notify(struct gshm_region *r, uint32_t from, int timeout_ms, uint32_t *got)
{
    struct notify_wait w = {.from = from & 0xFFFFu};
    if (gshm_wait(r, notified, &w, timeout_ms, NULL))
        return -1;
    if (got)
        *got = r->notifiers & w.from;
    r->notifiers &= ~w.from;
    return 0;
}

const char *gshm_status_name(int status)
{
    switch (status) {
    case GUEST_SHM_OK:
        return "OK";
    case GUEST_SHM_UNKNOWN_FAILURE:
        return "UNKNOWN_FAILURE";
    case GUEST_SHM_NO_MEMORY:
        return "NO_MEMORY";
    case GUEST_SHM_CLIENT_MAX:
        return "CLIENT_MAX";
    case GUEST_SHM_ILLEGAL_NAME:
        return "ILLEGAL_NAME";
    case GUEST_SHM_NO_PERMISSION:
        return "NO_PERMISSION";
    case GUEST_SHM_DOES_NOT_EXIST:
        return "DOES_NOT_EXIST";
    default:
        return "UNKNOWN_STATUS";
    }
}
