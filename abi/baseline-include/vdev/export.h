/* VDEV_API marks what libvdev exports. libvdev is built with -fvisibility=hidden, so a
 * function without it stays inside the library; every function declared with it is part of
 * the stable ABI (docs/api-stability.md) and is listed in core/libvdev.map and
 * abi/libvdev.symbols. */
#ifndef VDEV_EXPORT_H
#define VDEV_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define VDEV_API __attribute__((visibility("default")))
#else
#define VDEV_API
#endif

#endif
