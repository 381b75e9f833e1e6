#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"

void *load_file(const char *path, size_t max, size_t *len, struct vdev_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        vdev_err_set(err, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        vdev_err_set(err, "%s: not a regular file of at most %zu bytes", path, max);
        close(fd);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n ? n : 1);
    size_t got = 0;
    while (buf && got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf || got != n) {
        vdev_err_set(err, "%s: read failed", path);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

enum image_kind image_kind_of(const void *data, size_t len)
{
    const uint8_t *p = data;
    if (len >= 0x264 && memcmp(p + 0x202, "HdrS", 4) == 0)
        return IMAGE_BZIMAGE;
    if (len >= sizeof(Elf64_Ehdr) && memcmp(p, ELFMAG, SELFMAG) == 0 && p[EI_CLASS] == ELFCLASS64)
        return IMAGE_ELF64;
    if (len >= 64 && memcmp(p + 56, "ARM\x64", 4) == 0)
        return IMAGE_ARM64;
    return IMAGE_UNKNOWN;
}
