/* The virtio-net control queue: every class and command, MAC tables of any count (and
 * counts that lie), bad lengths, commands split over descriptors, no ack byte or no command,
 * across resets; frames from the peer to every kind of destination check that what was
 * acknowledged is what the receive filter does (a model of the filter, fuzz_net.h). The
 * NIC offers NOTF_COAL (`notf-coal`): coalescing commands of every kind and value, the
 * device's defaults picked per driver start, transmit and receive traffic and a clock that
 * moves, so that held interrupts come due, are counted and never lost. The NIC has 4 queue
 * pairs (`queues 4`): drivers with and without MQ and RSS, VQ_PAIRS_SET and RSS_CONFIG of
 * every shape (a model checks what is acked), traffic on every pair's queues, frames from
 * the peer steered (only to rx queues in use). */
/* FUZZ_ARGS: -max_len=4096 */
#include "fuzz_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fn_run(data, size,
                  FN_OP_CTRL | FN_OP_RX | FN_OP_TX | FN_OP_RAW | FN_OP_RESET | FN_OP_COAL,
                  "notf-coal queues 4", NULL, NULL);
}
