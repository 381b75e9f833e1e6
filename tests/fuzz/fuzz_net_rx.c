/* virtio-net receive: frames of any size and header from the peer (up to the largest ring
 * record), receive chains of any size and shape posted a few at a time, so that frames wait
 * with chains held across passes (mergeable buffers), transmissions in between, driver
 * resets under held chains. Every delivered frame must be one the peer sent, in order,
 * within the chains' room, with a header the guest negotiated (fuzz_net.h). */
/* FUZZ_ARGS: -max_len=4096 */
#include "fuzz_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fn_run(data, size, FN_OP_RX | FN_OP_TX | FN_OP_RAW | FN_OP_RESET, NULL, NULL, NULL);
}
