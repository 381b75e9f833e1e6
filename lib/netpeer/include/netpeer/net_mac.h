/* MAC addresses: the stable default when `mac` is not given, and formatting. */
#ifndef VDEV_NET_MAC_H
#define VDEV_NET_MAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* FNV-1a 64 of "SYSTEM/NAME"; the MAC is the hash's low six bytes, low byte first, with
 * the first byte made locally administered (bit 1 set) and unicast (bit 0 clear). */
void net_mac_derive(const char *system, const char *name, uint8_t mac[6]);
/* "52:54:00:12:34:56" into out (18 bytes). */
void net_mac_format(const uint8_t mac[6], char out[18]);

static inline bool net_mac_is_multicast(const uint8_t *mac)
{
    return mac[0] & 1;
}
static inline bool net_mac_is_broadcast(const uint8_t *mac)
{
    return (mac[0] & mac[1] & mac[2] & mac[3] & mac[4] & mac[5]) == 0xff;
}

#endif
