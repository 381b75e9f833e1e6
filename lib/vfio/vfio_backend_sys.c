/* The real kernel behind struct vfio_backend. */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vfio/vfio_dev.h>

static int sys_open(void *ctx, const char *path, int flags)
{
    (void)ctx;
    return open(path, flags | O_CLOEXEC);
}

static int sys_close(void *ctx, int fd)
{
    (void)ctx;
    return close(fd);
}

static int sys_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
    (void)ctx;
    return ioctl(fd, req, arg);
}

static ssize_t sys_pread(void *ctx, int fd, void *buf, size_t len, off_t off)
{
    (void)ctx;
    return pread(fd, buf, len, off);
}

static ssize_t sys_pwrite(void *ctx, int fd, const void *buf, size_t len, off_t off)
{
    (void)ctx;
    return pwrite(fd, buf, len, off);
}

static void *sys_mmap(void *ctx, size_t len, int prot, int fd, off_t off)
{
    (void)ctx;
    void *p = mmap(NULL, len, prot, MAP_SHARED, fd, off);
    return p == MAP_FAILED ? NULL : p;
}

static int sys_munmap(void *ctx, void *addr, size_t len)
{
    (void)ctx;
    return munmap(addr, len);
}

const struct vfio_backend vfio_backend_sys = {NULL,      sys_open,   sys_close, sys_ioctl,
                                              sys_pread, sys_pwrite, sys_mmap,  sys_munmap};
