/* The VM's run-time folder: where named endpoints and the control socket live. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host_owner.h"
#include "internal.h"

const char *vdev_machine_runtime_base(const struct vdev_machine *m)
{
    const char *dir = vdev_config_var(&m->cfg, "runtime-dir");
    if (!dir || !*dir)
        dir = getenv("VDEVKIT_RUNTIME_DIR");
    return dir && *dir ? dir : "/run/vdevkit";
}

const char *vdev_machine_system_name(const struct vdev_machine *m)
{
    static __thread char fallback[32];
    if (m->cfg.system && *m->cfg.system)
        return m->cfg.system;
    snprintf(fallback, sizeof(fallback), "vm-%ld", (long)getpid());
    return fallback;
}

/* mkdir -p of the run-time folder, component by component (openat/mkdirat, no symbolic link
 * another user made is followed); an existing component that another user owns or may
 * change is refused, since whoever controls the folder controls our sockets. The folder
 * itself must not be writable by others even if sticky. */
static int make_dirs(const char *path, struct vdev_err *err)
{
    char why[VDEV_ERR_MAX];
    int fd = host_owner_open_dir(path, true, 0755, false,
                                 "set VDEVKIT_RUNTIME_DIR or 'set runtime-dir' to a folder of "
                                 "this user that others cannot write",
                                 why, sizeof(why));
    if (fd < 0)
        return vdev_err_setc(err, VDEV_E_PERM, "run-time folder %s: %s", path, why);
    close(fd);
    return 0;
}

int vdev_machine_runtime_path(struct vdev_machine *m, const char *leaf, char *buf, size_t len,
                              struct vdev_err *err)
{
    if (!buf || len == 0)
        return vdev_err_setc(err, VDEV_E_INVAL, "vdev_machine_runtime_path: no buffer");
    char dir[512];
    int n = snprintf(dir, sizeof(dir), "%s/%s", vdev_machine_runtime_base(m),
                     vdev_machine_system_name(m));
    if (n < 0 || (size_t)n >= sizeof(dir))
        return vdev_err_set(err, "run-time folder name too long");
    if (make_dirs(dir, err))
        return -1;
    n = snprintf(buf, len, "%s/%s", dir, leaf);
    if (n < 0 || (size_t)n >= len)
        return vdev_err_set(err, "run-time path %s/%s is too long", dir, leaf);
    return 0;
}
