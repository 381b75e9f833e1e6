/* What the reference VMM checks before it builds anything, for `run` and `dryrun` alike, so
 * that a configuration dryrun accepts is one that starts: the image and initrd are readable
 * files of a kind the loaders take, RAM is in whole host pages and fits the memory slots,
 * and there are no more vCPUs than the VMM runs. Each error names the line it is about. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "platform.h"
#include "vmm.h"

__attribute__((format(printf, 3, 4))) static int at(struct vdev_err *err, struct vdev_srcpos pos,
                                                    const char *fmt, ...)
{
    char msg[VDEV_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vdev_err_setc(err, VDEV_E_CONFIG, "%s:%u:%u: %s", pos.file ? pos.file : "(command line)",
                         pos.line, pos.col, msg);
}

/* The first bytes say the kind; the loaders check the rest when they place the image. */
static int check_image(const struct vdev_load_cfg *l, const struct vmm_platform *p,
                       struct vdev_err *err)
{
    int fd = open(l->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return at(err, l->pos, "load: %s: %s", l->path, strerror(e));
    }
    uint8_t head[IMAGE_KIND_HEAD];
    ssize_t n = S_ISREG(st.st_mode) ? pread(fd, head, sizeof(head), 0) : -1;
    close(fd);
    if (n < 0)
        return at(err, l->pos, "load: %s: %s", l->path, "not a regular file");
    enum image_kind kind = image_kind_of(head, (size_t)n);
    if (!p->boots(kind)) {
        const char *hint = "a QNX IFS or a raw binary needs wrapping in one of them";
        if (kind == IMAGE_ARM64)
            hint = "an arm64 Image runs on the arm64 platform";
        else if (kind == IMAGE_BZIMAGE || kind == IMAGE_ELF64)
            hint = "that is an x86 image";
        else if (n >= 4 && memcmp(head,
                                  "\x7f"
                                  "ELF",
                                  4) == 0)
            hint = "a 32-bit ELF needs a 64-bit build of the guest";
        return at(err, l->pos, "load: %s: %s (hint: this VMM boots %s; %s)", l->path, p->not_images,
                  p->nimage_kinds > 1 ? "those" : "that", hint);
    }
    return 0;
}

int vmm_preflight(struct vdev_machine *m, const struct vmm_platform *p, struct vdev_err *err)
{
    const struct vdev_config *cfg = vdev_machine_config(m);
    if (cfg->ncpus > VMM_MAX_VCPUS)
        return at(err, cfg->cpus[VMM_MAX_VCPUS].pos,
                  "cpu: this VMM runs at most %d vCPUs (hint: remove the extra 'cpu' lines)",
                  VMM_MAX_VCPUS);
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        page = 4096;
    size_t nmem = 0;
    for (size_t i = 0; i < cfg->nmem; i++) {
        const struct vdev_mem_cfg *r = &cfg->mem[i];
        const char *what = r->rom ? "rom" : "ram";
        if ((r->start_given && r->start % (uint64_t)page) || r->len % (uint64_t)page)
            return at(err, r->pos,
                      "%s: start and length must be whole host pages (%ld bytes; hint: e.g. "
                      "'ram 256M')",
                      what, page);
        if (++nmem > VMM_MAX_MEM_REGIONS)
            return at(err, r->pos, "%s: more than %d RAM and ROM regions (KVM memory slots)", what,
                      VMM_MAX_MEM_REGIONS);
    }
    if (cfg->initrd) {
        int fd = open(cfg->initrd, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return at(err, cfg->initrd_pos, "initrd load: %s: %s", cfg->initrd, strerror(errno));
        close(fd);
    }
    if (cfg->nloads == 0) {
        if (!cfg->dryrun)
            return vdev_err_setc(err, VDEV_E_CONFIG, "nothing to run: give 'load FILE' with %s",
                                 p->images);
        return p->preflight ? p->preflight(m, err) : 0; /* main.c notes the missing kernel */
    }
    if (cfg->nloads > 1)
        return at(err, cfg->loads[1].pos,
                  "load: a second image (this VMM boots one: a kernel, with 'initrd load FILE' "
                  "for its initial RAM disk)");
    if (cfg->loads[0].addr_given)
        return at(err, cfg->loads[0].pos,
                  "load ADDR,FILE: images are placed by their own headers (hint: leave the "
                  "address out)");
    if (check_image(&cfg->loads[0], p, err))
        return -1;
    return p->preflight ? p->preflight(m, err) : 0;
}
