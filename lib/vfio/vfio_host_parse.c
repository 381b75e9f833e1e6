/* `pass` host specs: pci:[DOMAIN:]BUS:DEV.FN and pci:0xVID/0xDID[/INDEX]. */
#include <stdio.h>
#include <string.h>
#include <vfio/vfio_host.h>

/* Hex digits (an optional 0x first) up to a byte in `stops` or the end; max `max`. */
static const char *hex(const char *p, const char *stops, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    int n = 0;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        p += 2;
    for (; *p && !strchr(stops, *p); p++, n++) {
        char c = *p;
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0 || n >= 8)
            return NULL;
        v = v * 16 + (unsigned long)d;
    }
    if (n == 0 || v > max)
        return NULL;
    *out = v;
    return p;
}

static int parse_ids(const char *p, struct vfio_host_spec *s, const char **why)
{
    unsigned long vid, did;
    *why = "expected pci:0xVID/0xDID[/INDEX], like pci:0x8086/0x10ca or pci:0x8086/0x10ca/1";
    if (!(p = hex(p, "/", 0xffff, &vid)) || *p++ != '/' || !(p = hex(p, "/", 0xffff, &did)))
        return -1;
    unsigned long idx = 0;
    if (*p == '/') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9' && n < 6; p++, n++)
            idx = idx * 10 + (unsigned long)(*p - '0');
        if (n == 0 || *p)
            return -1;
    }
    s->by_id = true;
    s->vendor = (uint16_t)vid;
    s->device = (uint16_t)did;
    s->index = (unsigned)idx;
    return 0;
}

static int parse_addr(const char *p, struct vfio_host_spec *s, const char **why)
{
    unsigned long part[3], dev, fn = 0;
    int n = 0;
    *why = "expected pci:[DOMAIN:]BUS:DEV.FN in hex, like pci:0000:01:10.0";
    for (; n < 3; n++) {
        const char *q = hex(p, ":.", 0xffff, &part[n]);
        if (!q || *q != ':')
            break;
        p = q + 1;
    }
    if (n < 1 || n > 2 || !(p = hex(p, ".", 0x1f, &dev)))
        return -1;
    if (*p == '.' && (!(p = hex(p + 1, "", 7, &fn)) || *p))
        return -1;
    if (*p && *p != '.')
        return -1;
    unsigned long domain = n == 2 ? part[0] : 0, bus = part[n - 1];
    if (bus > 0xff)
        return -1;
    s->domain = (uint16_t)domain;
    s->bus = (uint8_t)bus;
    s->dev = (uint8_t)dev;
    s->fn = (uint8_t)fn;
    return 0;
}

int vfio_host_parse(const char *text, struct vfio_host_spec *out, const char **why)
{
    struct vfio_host_spec s;
    memset(&s, 0, sizeof(s));
    const char *dummy;
    if (!why)
        why = &dummy;
    if (strncmp(text, "pci:", 4) != 0) {
        *why = "expected pci:[DOMAIN:]BUS:DEV.FN or pci:0xVID/0xDID[/INDEX]";
        return -1;
    }
    int rc = strchr(text, '/') ? parse_ids(text + 4, &s, why) : parse_addr(text + 4, &s, why);
    if (rc == 0 && out)
        *out = s;
    return rc;
}

void vfio_host_spec_str(const struct vfio_host_spec *s, char *buf, size_t len)
{
    if (s->by_id)
        snprintf(buf, len, "0x%04x/0x%04x/%u", s->vendor, s->device, s->index);
    else
        snprintf(buf, len, "%04x:%02x:%02x.%x", s->domain, s->bus, s->dev, s->fn);
}
