/* Umbrella header: everything an embedder or a module needs. */
#ifndef VDEV_VDEV_H
#define VDEV_VDEV_H

#include <vdev/acpi.h>
#include <vdev/bus.h>
#include <vdev/config.h>
#include <vdev/embedder.h>
#include <vdev/events.h>
#include <vdev/gmem.h>
#include <vdev/hostio.h>
#include <vdev/machine.h>
#include <vdev/module.h>
#include <vdev/types.h>
#include <vdev/version.h>

#endif
