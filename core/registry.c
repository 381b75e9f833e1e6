/* The process-wide table of device types: a module is registered once however many
 * instances the configuration declares. */
#include <string.h>

#include "internal.h"
#include "sized.h"

#define MAX_TYPES 128

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct vdev_type *types[MAX_TYPES];
static size_t ntypes;

/* Words an option may not take: the core's common options and the language's keywords,
 * which always end a vdev context. */
static const char *const reserved_words[] = {
    "loc",    "intr",    "name",    "log", "system", "ram",  "rom",  "cpu", "load",
    "initrd", "cmdline", "reserve", "set", "dryrun", "vdev", "pass", NULL};

static int check_options(const struct vdev_type *t, struct vdev_err *err)
{
    for (const struct vdev_option *o = t->options; o && o->name; o++) {
        for (const char *const *w = reserved_words; *w; w++)
            if (strcmp(o->name, *w) == 0)
                return vdev_err_setc(err, VDEV_E_INVAL,
                                     "module %s: option '%s' is reserved by the core", t->name,
                                     o->name);
        for (const struct vdev_option *p = t->options; p != o; p++)
            if (strcmp(p->name, o->name) == 0)
                return vdev_err_setc(err, VDEV_E_INVAL, "module %s: option '%s' declared twice",
                                     t->name, o->name);
        if (o->kind == VDEV_OPT_CHOICE && (!o->choices || !o->choices[0]))
            return vdev_err_setc(err, VDEV_E_INVAL, "module %s: option '%s' has no choices",
                                 t->name, o->name);
        if (o->kind > VDEV_OPT_STRING2)
            return vdev_err_setc(err, VDEV_E_INVAL, "module %s: option '%s' has an unknown kind",
                                 t->name, o->name);
    }
    return 0;
}

int vdev_register_type(const struct vdev_type *t, struct vdev_err *err)
{
    if (!t)
        return vdev_err_setc(err, VDEV_E_INVAL, "no device type given");
    /* Nothing but abi_version may be read before it matches. */
    if (t->abi_version != VDEV_ABI_VERSION)
        return vdev_err_setc(err, VDEV_E_ABI,
                             "module built for vdev ABI %u, this vdevkit has ABI %u (rebuild the "
                             "module against this vdevkit's headers)",
                             t->abi_version, VDEV_ABI_VERSION);
    /* ABI 2's first type has every member up to `control`; later releases append members,
     * which the core reads only when type_size covers them (core/sized.h). */
    size_t min = VDEV_SIZE_THROUGH(struct vdev_type, control);
    if (t->type_size < min)
        return vdev_err_setc(err, VDEV_E_ABI,
                             "module type size %u, at least %zu (rebuild the module)", t->type_size,
                             min);
    if (!t->name || !t->name[0])
        return vdev_err_setc(err, VDEV_E_INVAL, "module has no type name");
    if (t->window_size && !t->window.read)
        return vdev_err_setc(err, VDEV_E_INVAL, "module %s: a window without read/write handlers",
                             t->name);
    if (check_options(t, err))
        return -1;
    pthread_mutex_lock(&registry_lock);
    int rc = 0;
    for (size_t i = 0; i < ntypes; i++) {
        if (strcmp(types[i]->name, t->name) == 0) {
            if (types[i] != t)
                rc = vdev_err_setc(err, VDEV_E_EXIST, "device type '%s' is registered twice",
                                   t->name);
            pthread_mutex_unlock(&registry_lock);
            return rc;
        }
    }
    if (ntypes == MAX_TYPES)
        rc = vdev_err_set(err, "too many device types");
    else
        types[ntypes++] = t;
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

const struct vdev_type *vdev_registry_find(const char *name)
{
    const struct vdev_type *t = NULL;
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i < ntypes && !t; i++)
        if (strcmp(types[i]->name, name) == 0)
            t = types[i];
    pthread_mutex_unlock(&registry_lock);
    return t;
}

size_t vdev_registry_names(const char **names, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i < ntypes && n + 1 < max; i++)
        names[n++] = types[i]->name;
    pthread_mutex_unlock(&registry_lock);
    if (max)
        names[n] = NULL;
    return n;
}
