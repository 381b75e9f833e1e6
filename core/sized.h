/* Tables the library is handed (ops of embedders and modules) start with `size_t size`:
 * sizeof the table in the caller's build. The library never reads past it, so a table
 * built from older headers, which lacks the members added since, keeps working: a member
 * beyond its size counts as NULL (hooks) or 0 (values). docs/api-stability.md. */
#ifndef VDEV_CORE_SIZED_H
#define VDEV_CORE_SIZED_H

#include <stddef.h>

/* Bytes of `type` up to and including `member`. */
#define VDEV_SIZE_THROUGH(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))

/* True when the caller's table p (of type `type`) has `member`. */
#define VDEV_SIZED_HAS(p, type, member) ((p)->size >= VDEV_SIZE_THROUGH(type, member))

/* p->member when the caller's table has it, else 0 / NULL. */
#define VDEV_SIZED_GET(p, type, member) (VDEV_SIZED_HAS(p, type, member) ? (p)->member : 0)

/* The same for a module's struct vdev_type, whose size member is type_size. */
#define VDEV_TYPE_HAS(t, member) ((t)->type_size >= VDEV_SIZE_THROUGH(struct vdev_type, member))

/* Hook `member` of the caller's table p (which may be NULL), or NULL when it has none. */
#define VDEV_HOOK(p, type, member) ((p) && VDEV_SIZED_HAS(p, type, member) ? (p)->member : NULL)

#endif
