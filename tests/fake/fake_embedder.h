/* A fake embedder for unit tests: records interrupts, MSIs, stops and log lines, and backs
 * guest RAM with plain host memory so guest-memory accessors work without KVM. */
#ifndef FAKE_EMBEDDER_H
#define FAKE_EMBEDDER_H

#include <vdev/vdev.h>

#define FAKE_MAX_GSI 64
#define FAKE_MAX_MSI 64
#define FAKE_LOG_MAX 8192

struct fake_embedder {
    struct vdev_embedder_ops ops;
    struct vdev_machine *m;
    bool gsi_level[FAKE_MAX_GSI];      /* current level of each GSI */
    unsigned gsi_raises[FAKE_MAX_GSI]; /* low-to-high transitions seen */
    struct vdev_msi msis[FAKE_MAX_MSI];
    unsigned nmsi;
    int stop_status; /* -1 until a device asked to stop */
    bool exitless;   /* accept ioeventfd/irqfd binding (default false: the core falls back) */
    unsigned ioeventfds_bound;
    /* MSI irqfds (opt-in: exitless_msi): bound fds with their message, as KVM holds them;
     * fake_irqfd_msi_deliver plays KVM's part. */
    bool exitless_msi;
    struct {
        int fd;
        struct vdev_msi msi;
    } msi_fds[FAKE_MAX_MSI];
    unsigned nmsi_fds, msi_assigns, msi_deassigns;
    /* level irqfds with a resampler (opt-in: exitless_line), as KVM holds them */
    bool exitless_line;
    struct {
        int fd, resample_fd;
        uint32_t gsi;
    } line_fds[8];
    unsigned nline_fds;
    char log[FAKE_LOG_MAX]; /* every log line, "who: msg\n" */
    size_t log_len;
    void *ram[16];
    unsigned nram;
    /* vfio_group: the last group fd and the calls seen; vfio_group_refuse makes it fail */
    int vfio_group_fd;
    unsigned vfio_group_adds, vfio_group_dels;
    bool vfio_group_refuse;
};

/* A machine with the usual x86 platform: "ioapic" (24 lines, GSI 0..23) and its window. */
struct vdev_machine *fake_machine_new(struct fake_embedder *fe);
/* Parses `text` (a config), builds, backs RAM; returns 0 or -1 with err set. */
int fake_machine_build_string(struct fake_embedder *fe, const char *text, struct vdev_err *err);
/* Backs every RAM/ROM region with zeroed host memory (after build). */
void fake_back_ram(struct fake_embedder *fe);
void fake_machine_free(struct fake_embedder *fe);
/* KVM's part for bound MSI irqfds: drains each, recording one MSI (in msis) per fd that was
 * written. Returns how many fired. */
unsigned fake_irqfd_msi_deliver(struct fake_embedder *fe);

#endif
