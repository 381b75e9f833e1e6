/* A fake host sysfs and /dev/vfio for passthrough tests (fake_sysfs.h). */
#include "fake_sysfs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Set-up that fails is a broken test machine: stop there (no Check: fuzz targets use it). */
#define FAKE_OK(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #c);                         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void mkdirs(const char *path)
{
    char p[512];
    snprintf(p, sizeof(p), "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    FAKE_OK(f);
    fputs(text, f);
    fclose(f);
}

void fake_sysfs_new(struct fake_sysfs *fs, bool vfio)
{
    char p[512];
    snprintf(fs->root, sizeof(fs->root), "/tmp/vdevkit-sysfs-XXXXXX");
    FAKE_OK(mkdtemp(fs->root));
    snprintf(fs->sys, sizeof(fs->sys), "%s/sys", fs->root);
    snprintf(fs->dev, sizeof(fs->dev), "%s/dev", fs->root);
    snprintf(p, sizeof(p), "%s/bus/pci/devices", fs->sys);
    mkdirs(p);
    snprintf(p, sizeof(p), "%s/kernel/iommu_groups", fs->sys);
    mkdirs(p);
    snprintf(p, sizeof(p), "%s/vfio", fs->dev);
    mkdirs(p);
    if (vfio) {
        snprintf(p, sizeof(p), "%s/vfio/vfio", fs->dev);
        write_file(p, "");
    }
}

void fake_sysfs_add(struct fake_sysfs *fs, const char *bdf, unsigned vendor, unsigned device,
                    const char *driver, int group)
{
    char d[256], p[1024], t[512], id[16];
    snprintf(d, sizeof(d), "%s/bus/pci/devices/%s", fs->sys, bdf);
    mkdirs(d);
    snprintf(p, sizeof(p), "%s/vendor", d);
    snprintf(id, sizeof(id), "0x%04x\n", vendor);
    write_file(p, id);
    snprintf(p, sizeof(p), "%s/device", d);
    snprintf(id, sizeof(id), "0x%04x\n", device);
    write_file(p, id);
    if (driver) {
        snprintf(t, sizeof(t), "%s/bus/pci/drivers/%s", fs->sys, driver);
        mkdirs(t);
        snprintf(p, sizeof(p), "%s/driver", d);
        FAKE_OK((symlink(t, p)) == 0);
    }
    if (group >= 0) {
        snprintf(t, sizeof(t), "%s/kernel/iommu_groups/%d/devices", fs->sys, group);
        mkdirs(t);
        snprintf(p, sizeof(p), "%s/%s", t, bdf);
        FAKE_OK((symlink(d, p)) == 0);
        snprintf(t, sizeof(t), "%s/kernel/iommu_groups/%d", fs->sys, group);
        snprintf(p, sizeof(p), "%s/iommu_group", d);
        FAKE_OK((symlink(t, p)) == 0);
        if (driver && !strcmp(driver, "vfio-pci")) {
            snprintf(p, sizeof(p), "%s/vfio/%d", fs->dev, group);
            write_file(p, "");
        }
    }
}

void fake_sysfs_free(struct fake_sysfs *fs)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fs->root);
    FAKE_OK((system(cmd)) == 0);
}
