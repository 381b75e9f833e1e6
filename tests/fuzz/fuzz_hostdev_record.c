/* A hostdev state file's text as hd_record_parse reads it (lib/hostdev/hostdev_record.c):
 * the file is ours and checked before it is read, but what it says is set on a host NIC by
 * root, so the parser trusts nothing. Asserted: a record it accepts has a normalised PCI
 * address, an interface name and a driver name that cannot leave drivers/, values in range,
 * and formats back to text that parses to the same record; no crash, no overread. */
/* FUZZ_ARGS: -max_len=5000 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "hostdev_internal.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_hostdev_record: invariant broken: %s\n", #cond);                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check(const struct hd_record *r)
{
    char bdf[VDEV_HOSTDEV_BDF_MAX];
    CHECK(hd_parse_bdf(r->bdf, bdf) == 0 && strcmp(bdf, r->bdf) == 0);
    CHECK(hd_ifname_ok(r->pf_ifname));
    CHECK(!r->driver[0] || hd_name_ok(r->driver, sizeof(r->driver)));
    CHECK(!strchr(r->driver, '/'));
    CHECK(r->owner > 0 && r->vf <= 65535);
    CHECK(r->orig.vlan <= 4095 && r->orig.qos <= 7);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1); /* exactly the file: ASan sees past it */
    memcpy(copy, data, size);
    struct hd_record r, again;
    char why[256];
    if (hd_record_parse(copy, size, &r, why, sizeof(why)) == 0) {
        check(&r);
        char text[HD_RECORD_MAX];
        size_t n = hd_record_format(&r, text, sizeof(text));
        CHECK(n > 0);
        CHECK(hd_record_parse(text, n, &again, why, sizeof(why)) == 0);
        CHECK(!strcmp(again.bdf, r.bdf) && !strcmp(again.pf_ifname, r.pf_ifname) &&
              !strcmp(again.driver, r.driver) && again.vf == r.vf && again.owner == r.owner &&
              again.owner_start == r.owner_start && again.restore_mac == r.restore_mac &&
              again.restore_vlan == r.restore_vlan && again.rebind == r.rebind &&
              !memcmp(again.orig.mac, r.orig.mac, 6) && again.orig.vlan == r.orig.vlan &&
              again.orig.qos == r.orig.qos);
    } else {
        CHECK(strnlen(why, sizeof(why)) > 0 && strnlen(why, sizeof(why)) < sizeof(why));
    }
    free(copy);
    return 0;
}
