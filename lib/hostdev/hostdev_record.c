/* A VF's record as text (the state file's format, docs/passthrough.md), and its parser,
 * which takes nothing on trust: every line is known, every key appears once, every value is
 * in its range, and a driver name can only ever name a folder of drivers/.
 *
 *   # vdevkit hostdev record: 'vdevkit hostdev-cleanup 0000:01:10.0' restores it
 *   vdevkit-hostdev 1
 *   bdf 0000:01:10.0
 *   pf enp1s0
 *   vf 0
 *   owner 4242 1234567        pid, and its start time (/proc/PID/stat field 22)
 *   mac 00:00:00:00:00:00     the MAC to put back (only when we set one)
 *   vlan 0 0                  the VLAN and priority to put back (only when we set one)
 *   rebind igbvf              give it back to this driver ("-": none) (only when managed)
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostdev_internal.h"

#define MAGIC   "vdevkit-hostdev 1"
#define PID_MAX 4194304 /* the kernel's PID_MAX_LIMIT */
#define VF_MAX  65535   /* an SR-IOV capability's TotalVFs is 16 bits */

size_t hd_record_format(const struct hd_record *r, char *buf, size_t cap)
{
    char mac[18];
    hd_format_mac(r->orig.mac, mac);
    char opt[160] = "";
    size_t o = 0;
    if (r->restore_mac)
        o += (size_t)snprintf(opt + o, sizeof(opt) - o, "mac %s\n", mac);
    if (r->restore_vlan)
        o += (size_t)snprintf(opt + o, sizeof(opt) - o, "vlan %u %u\n", r->orig.vlan, r->orig.qos);
    if (r->rebind)
        snprintf(opt + o, sizeof(opt) - o, "rebind %s\n", *r->driver ? r->driver : "-");
    int n = snprintf(buf, cap,
                     "# vdevkit hostdev record: 'vdevkit hostdev-cleanup %s' restores it\n" MAGIC
                     "\nbdf %s\npf %s\nvf %u\nowner %d %llu\n%s",
                     r->bdf, r->bdf, r->pf_ifname, r->vf, (int)r->owner, r->owner_start, opt);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

static int fail(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t len, const char *fmt, ...)
{
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A decimal number in [0, max] written plainly (no sign, no leading zero); its end in *end.
 * -1 when there is none. */
static long long number(const char *s, unsigned long long max, const char **end)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 19 || (s[0] == '0' && n > 1))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno || v > max)
        return -1;
    *end = s + n;
    return (long long)v;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    if (strlen(s) != 17)
        return -1;
    for (int i = 0; i < 6; i++) {
        const char *p = s + i * 3;
        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
            (i < 5 && p[2] != ':'))
            return -1;
        mac[i] = (uint8_t)strtoul((char[3]){p[0], p[1], '\0'}, NULL, 16);
    }
    return 0;
}

/* One "key value" line into r; `seen` marks the keys met. */
static int parse_line(char *line, struct hd_record *r, unsigned *seen, char *why, size_t len)
{
    static const char *const keys[] = {"bdf", "pf", "vf", "owner", "mac", "vlan", "rebind"};
    char *val = strchr(line, ' ');
    if (!val)
        return fail(why, len, "'%.40s' is not 'KEY VALUE'", line);
    *val++ = '\0';
    unsigned k = 0;
    while (k < sizeof(keys) / sizeof(keys[0]) && strcmp(line, keys[k]))
        k++;
    if (k == sizeof(keys) / sizeof(keys[0]))
        return fail(why, len, "unknown key '%.40s'", line);
    if (*seen & (1u << k))
        return fail(why, len, "'%s' twice", line);
    *seen |= 1u << k;
    const char *end = NULL;
    long long a, b;
    switch (k) {
    case 0:
        if (hd_parse_bdf(val, r->bdf) || strcmp(val, r->bdf))
            return fail(why, len, "bdf '%.40s' is not a PCI address", val);
        return 0;
    case 1:
        if (!hd_ifname_ok(val))
            return fail(why, len, "pf '%.40s' is not an interface name", val);
        snprintf(r->pf_ifname, sizeof(r->pf_ifname), "%s", val);
        return 0;
    case 2:
        if ((a = number(val, VF_MAX, &end)) < 0 || *end)
            return fail(why, len, "vf '%.40s' is not a VF index", val);
        r->vf = (uint32_t)a;
        return 0;
    case 3:
        if ((a = number(val, PID_MAX, &end)) < 1 || *end != ' ' ||
            (b = number(end + 1, INT64_MAX, &end)) < 0 || *end)
            return fail(why, len, "owner '%.40s' is not 'PID START'", val);
        r->owner = (pid_t)a;
        r->owner_start = (unsigned long long)b;
        return 0;
    case 4:
        if (parse_mac(val, r->orig.mac))
            return fail(why, len, "mac '%.40s' is not a MAC address", val);
        r->restore_mac = true;
        return 0;
    case 5:
        if ((a = number(val, 4095, &end)) < 0 || *end != ' ' ||
            (b = number(end + 1, 7, &end)) < 0 || *end)
            return fail(why, len, "vlan '%.40s' is not 'VLAN PRIORITY' (0-4095, 0-7)", val);
        r->orig.vlan = (uint16_t)a;
        r->orig.qos = (uint8_t)b;
        r->restore_vlan = true;
        return 0;
    default:
        if (strcmp(val, "-") && !hd_name_ok(val, sizeof(r->driver)))
            return fail(why, len, "rebind '%.40s' is not a driver name", val);
        snprintf(r->driver, sizeof(r->driver), "%s", strcmp(val, "-") ? val : "");
        r->rebind = true;
        return 0;
    }
}

int hd_record_parse(const char *text, size_t len, struct hd_record *r, char *why, size_t whylen)
{
    memset(r, 0, sizeof(*r));
    if (len > HD_RECORD_MAX)
        return fail(why, whylen, "%zu bytes, more than a record has", len);
    if (len == 0 || text[len - 1] != '\n' || memchr(text, '\0', len))
        return fail(why, whylen, "not text ending in a newline");
    char buf[HD_RECORD_MAX + 1];
    memcpy(buf, text, len);
    buf[len] = '\0';
    bool magic = false;
    unsigned seen = 0, lineno = 0;
    for (char *line = buf, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        lineno++;
        if (line[0] == '#')
            continue;
        if (!magic) {
            if (strcmp(line, MAGIC))
                return fail(why, whylen, "line %u is not '" MAGIC "'", lineno);
            magic = true;
            continue;
        }
        char w[200];
        if (parse_line(line, r, &seen, w, sizeof(w)))
            return fail(why, whylen, "line %u: %s", lineno, w);
    }
    if (!magic || (seen & 0xf) != 0xf)
        return fail(why, whylen, "it lacks %s", !magic ? "'" MAGIC "'" : "bdf, pf, vf or owner");
    return 0;
}
