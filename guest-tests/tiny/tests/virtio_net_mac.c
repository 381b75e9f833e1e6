/* virtio_net_mac: finds the virtio-net function on PCI, drives the status handshake through
 * the common configuration and reads the MAC from the device configuration. */
#include "rt.h"
#include "virtio_pci_drv.h"

#define BAR_ADDR 0xc8000000u /* inside the host bridge's 32-bit window */

static const uint8_t want_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

int test_main(unsigned cpu, unsigned ncpus)
{
    struct vpd v;
    RT_CHECK(vpd_find(&v, 1, BAR_ADDR));
    RT_CHECK(v.ncaps >= 4 && v.device && v.device_len >= 6);
    RT_CHECK(pci_cfg_read(v.bdf, 0x08, 4) >> 8 == 0x020000); /* ethernet */
    RT_CHECK(v.notify_mult == 4);

    vpd_set_status(&v, 0);
    RT_CHECK(vpd_status(&v) == 0);
    vpd_set_status(&v, 1);     /* ACKNOWLEDGE */
    vpd_set_status(&v, 1 | 2); /* DRIVER */
    uint64_t f = vpd_device_features(&v);
    RT_CHECK(f >> 32 & 1); /* VERSION_1 */
    RT_CHECK(f >> 5 & 1);  /* VIRTIO_NET_F_MAC */
    RT_CHECK(vpd_num_queues(&v) >= 2);

    uint8_t mac[6];
    uint8_t gen;
    do {
        gen = vpd_config_generation(&v);
        for (unsigned i = 0; i < 6; i++)
            mac[i] = vpd_config8(&v, i);
    } while (gen != vpd_config_generation(&v));
    rt_printf("virtio_net_mac: %s MAC %02x:%02x:%02x:%02x:%02x:%02x, %u queues\n", "pci", mac[0],
              mac[1], mac[2], mac[3], mac[4], mac[5], vpd_num_queues(&v));
    for (unsigned i = 0; i < 6; i++)
        RT_CHECK(mac[i] == want_mac[i]);

    vpd_set_driver_features(&v, 1ull << 32 | 1ull << 5);
    vpd_set_status(&v, 1 | 2 | 8); /* FEATURES_OK */
    RT_CHECK(vpd_status(&v) == (1 | 2 | 8));
    vpd_set_status(&v, 0);
    RT_CHECK(vpd_status(&v) == 0);
    RT_CHECK((*v.isr & 3) == 0);
    rt_printf("PASS virtio_net_mac\n");
    return 0;
}
