/* Reads a device register with a load pair (ldp), which an MMIO trap cannot decode (the data
 * abort has no valid ISV): under vdevkit the VM must stop with status 4 and a message naming
 * the address, not hang or loop (tier3_arm64's `nisv` scenario).
 *   mmio-ldp ADDRESS       (a device's page, e.g. 0xa000000, virtio-mmio slot 0) */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mmio-ldp ADDRESS\n");
        return 2;
    }
    uint64_t addr = strtoull(argv[1], NULL, 0);
    int fd = open("/dev/mem", O_RDWR | O_SYNC);
    if (fd < 0) {
        perror("mmio-ldp: /dev/mem");
        return 1;
    }
    volatile uint64_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)addr);
    if (p == MAP_FAILED) {
        perror("mmio-ldp: mmap");
        return 1;
    }
    printf("mmio-ldp: ldp at 0x%llx\n", (unsigned long long)addr);
    fflush(stdout);
    uint64_t a, b;
    __asm__ volatile("ldp %0, %1, [%2]" : "=r"(a), "=r"(b) : "r"(p) : "memory");
    printf("mmio-ldp: read 0x%llx 0x%llx (the VMM should have stopped the VM)\n",
           (unsigned long long)a, (unsigned long long)b);
    return 0;
}
