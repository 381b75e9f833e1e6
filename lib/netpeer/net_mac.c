/* The default MAC: derived from names the user chose, so it survives restarts. */
#include "netpeer/net_mac.h"

#include <stdio.h>

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

void net_mac_derive(const char *system, const char *name, uint8_t mac[6])
{
    uint64_t h = fnv1a(0xcbf29ce484222325ull, system ? system : "");
    h = fnv1a(h, "/");
    h = fnv1a(h, name ? name : "");
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)(h >> (8 * i));
    mac[0] = (uint8_t)((mac[0] & 0xfc) | 0x02);
}

void net_mac_format(const uint8_t mac[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}
