/* virtio-net transmit as a hostile guest drives it: virtio_net_hdr checks, software TSO
 * (IPv4/IPv6, VLAN, options, the largest gso_size) and checksum completion for a peer that
 * cannot take them, descriptor chains of any shape (split anywhere, indirect, a writable
 * tail, scribbled rings), a peer ring that fills (back-pressure, the stall limit, drops),
 * peerfeats and driver resets. Invariants: fuzz_net.h. */
/* FUZZ_ARGS: -max_len=4096 */
#include "fuzz_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fn_run(data, size, FN_OP_TX | FN_OP_RAW | FN_OP_FLOW | FN_OP_RESET, NULL, NULL, NULL);
}
