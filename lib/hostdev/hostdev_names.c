/* PCI addresses and names as the hostdev code takes them: strictly, since each ends up in a
 * sysfs path or a state file's name. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "hostdev_internal.h"

/* `n` hex digits at s into *v; the number of characters used, or 0. */
static size_t hex_field(const char *s, size_t n, unsigned *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)s[i]))
            return 0;
        *v = *v << 4 |
             (unsigned)(isdigit((unsigned char)s[i]) ? s[i] - '0'
                                                     : tolower((unsigned char)s[i]) - 'a' + 10);
    }
    return n;
}

int hd_parse_bdf(const char *s, char out[VDEV_HOSTDEV_BDF_MAX])
{
    unsigned dom = 0, bus, dev, fn;
    if (!s)
        return -1;
    size_t len = strlen(s);
    if (len == 12) { /* DDDD:BB:DD.F */
        if (!hex_field(s, 4, &dom) || s[4] != ':')
            return -1;
        s += 5;
    } else if (len != 7) { /* BB:DD.F */
        return -1;
    }
    if (!hex_field(s, 2, &bus) || s[2] != ':' || !hex_field(s + 3, 2, &dev) || s[5] != '.' ||
        !hex_field(s + 6, 1, &fn))
        return -1;
    if (dev > 0x1f || fn > 7)
        return -1;
    snprintf(out, VDEV_HOSTDEV_BDF_MAX, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
    return 0;
}

bool hd_name_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= max || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") == n;
}

bool hd_ifname_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= 16 || !strcmp(s, ".") || !strcmp(s, "..")) /* IFNAMSIZ */
        return false;
    for (size_t i = 0; i < n; i++) { /* the kernel's dev_valid_name, and printable */
        unsigned char ch = (unsigned char)s[i];
        if (ch <= ' ' || ch == 0x7f || ch == '/' || ch == ':')
            return false;
    }
    return true;
}

void hd_format_mac(const uint8_t mac[6], char buf[18])
{
    snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}
