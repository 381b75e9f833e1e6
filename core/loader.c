/* Finds and loads device modules: vdev-NAME.so on the search path, registered through its
 * exported `vdev_module_NAME` symbol after an ABI check. */
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define MAX_DIRS       32
#define MAX_CANDIDATES 128

int vdev_machine_add_module_dir(struct vdev_machine *m, const char *dir)
{
    if (m->nmodule_dirs == VDEV_MAX_MODULE_DIRS)
        return -1;
    m->module_dirs[m->nmodule_dirs++] = vdev_strdup(dir);
    return 0;
}

/* Type names become file and symbol names, so only a safe alphabet is allowed. */
static bool valid_type_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 48)
        return false;
    for (const char *p = name; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-' && *p != '_')
            return false;
    return true;
}

/* The search path: $VDEVKIT_MODULE_PATH, embedder dirs, beside libvdev, the install dir. */
static size_t search_dirs(struct vdev_machine *m, char **dirs, char *envcopy, char installed[4096],
                          char built[4096])
{
    size_t n = 0;
    if (envcopy) {
        char *save = NULL;
        for (char *d = strtok_r(envcopy, ":", &save); d && n < MAX_DIRS;
             d = strtok_r(NULL, ":", &save))
            dirs[n++] = d;
    }
    for (size_t i = 0; i < m->nmodule_dirs && n < MAX_DIRS; i++)
        dirs[n++] = m->module_dirs[i];
    /* Next to the library itself: <libdir>/vdevkit/modules when installed (wherever the
     * prefix is), <build>/modules when run from the build tree. */
    Dl_info info;
    if (dladdr((void *)vdev_machine_new, &info) && info.dli_fname && strchr(info.dli_fname, '/')) {
        char *copy = vdev_strdup(info.dli_fname);
        const char *libdir = dirname(copy);
        snprintf(installed, 4096, "%s/vdevkit/modules", libdir);
        snprintf(built, 4096, "%s/../modules", libdir);
        free(copy);
        if (n < MAX_DIRS)
            dirs[n++] = installed;
        if (n < MAX_DIRS && access(built, F_OK) == 0)
            dirs[n++] = built;
    }
    if (n < MAX_DIRS)
        dirs[n++] = (char *)VDEVKIT_INSTALL_MODULE_DIR;
    return n;
}

/* Collects the type names available in dirs and the registry, for "did you mean". */
static size_t known_names(char **dirs, size_t ndirs, char **out, size_t max)
{
    size_t n = 0;
    const char *reg[MAX_CANDIDATES];
    size_t nreg = vdev_registry_names(reg, MAX_CANDIDATES);
    for (size_t i = 0; i < nreg && n + 1 < max; i++)
        out[n++] = vdev_strdup(reg[i]);
    for (size_t i = 0; i < ndirs; i++) {
        DIR *dir = opendir(dirs[i]);
        if (!dir)
            continue;
        for (struct dirent *e; (e = readdir(dir)) && n + 1 < max;) {
            size_t len = strlen(e->d_name);
            if (len > 8 && strncmp(e->d_name, "vdev-", 5) == 0 &&
                strcmp(e->d_name + len - 3, ".so") == 0) {
                out[n] = vdev_strdup(e->d_name + 5);
                out[n][len - 8] = '\0';
                n++;
            }
        }
        closedir(dir);
    }
    out[n] = NULL;
    return n;
}

static int not_found(const char *name, char **dirs, size_t ndirs, struct vdev_srcpos pos,
                     struct vdev_err *err)
{
    char *names[MAX_CANDIDATES];
    size_t nn = known_names(dirs, ndirs, names, MAX_CANDIDATES);
    char hint[96];
    const char *dym = vdev_did_you_mean(hint, sizeof(hint), name, (const char *const *)names);
    char where[512] = "";
    for (size_t i = 0; i < ndirs; i++) {
        size_t used = strlen(where);
        snprintf(where + used, sizeof(where) - used, "%s%s", i ? ":" : "", dirs[i]);
    }
    vdev_err_atc(err, VDEV_E_NOENT, pos,
                 "vdev %s: no such device module: vdev-%s.so is not in %s%s (set "
                 "VDEVKIT_MODULE_PATH to add folders)",
                 name, name, where, dym);
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    return -1;
}

const struct vdev_type *vdev_load_module(struct vdev_machine *m, const char *name,
                                         struct vdev_srcpos pos, struct vdev_err *err)
{
    if (!valid_type_name(name)) {
        vdev_err_at(err, pos,
                    "vdev %s: not a device type name (lower-case letters, digits, '-' and '_')",
                    name);
        return NULL;
    }
    const struct vdev_type *t = vdev_registry_find(name);
    if (t)
        return t;

    const char *env = getenv("VDEVKIT_MODULE_PATH");
    char *envcopy = env ? vdev_strdup(env) : NULL;
    char *dirs[MAX_DIRS];
    char installed[4096], built[4096];
    size_t ndirs = search_dirs(m, dirs, envcopy, installed, built);
    char symbol[96];
    snprintf(symbol, sizeof(symbol), VDEV_MODULE_SYMBOL_PREFIX "%s", name);
    for (char *p = symbol; *p; p++)
        if (*p == '-')
            *p = '_';

    for (size_t i = 0; i < ndirs; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/vdev-%s.so", dirs[i], name);
        if (stat(path, &st) != 0)
            continue;
        /* RTLD_LOCAL: modules share nothing but libvdev, which the process already has. */
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            vdev_err_atc(err, VDEV_E_IO, pos, "vdev %s: cannot load %s: %s", name, path, dlerror());
            break;
        }
        const struct vdev_type *mt = dlsym(h, symbol);
        struct vdev_err rerr;
        if (!mt) {
            vdev_err_atc(err, VDEV_E_ABI, pos, "vdev %s: %s is not a vdevkit module (no symbol %s)",
                         name, path, symbol);
        } else if (mt->abi_version == VDEV_ABI_VERSION && mt->name && strcmp(mt->name, name)) {
            vdev_err_atc(err, VDEV_E_ABI, pos, "vdev %s: %s declares type '%s'", name, path,
                         mt->name);
        } else if (vdev_register_type(mt, &rerr)) {
            vdev_err_atc(err, rerr.code, pos, "vdev %s: %s: %s", name, path, rerr.msg);
        } else {
            t = mt;
            break;
        }
        dlclose(h);
        break;
    }
    if (!t && err && !err->msg[0])
        not_found(name, dirs, ndirs, pos, err);
    free(envcopy);
    return t;
}
