/* Packet capture of one NIC to a pcap file (classic libpcap format, little-endian,
 * nanosecond timestamps, LINKTYPE_ETHERNET, snaplen 262144: frames are recorded whole,
 * up to NET_MAX_FRAME bytes).
 *
 * A capture is opened by whoever starts it (the build for the `capture` option, the
 * core's event thread for the control command) and then used by the NIC's data thread
 * only, under run_lock: records go to a memory buffer that is written out when it is full
 * and when the thread is about to sleep, so a busy NIC makes one write() per
 * NET_CAPTURE_BUF bytes. A write error ends the capture (the caller logs it once); the
 * NIC never stops for it.
 */
#ifndef VDEV_NET_CAPTURE_H
#define VDEV_NET_CAPTURE_H

#include <stddef.h>
#include <stdint.h>
#include <vdev/types.h>

#define NET_CAPTURE_SNAPLEN 262144u /* libpcap's largest; our frames are at most 65550 */

#define PCAP_MAGIC_NS       0xa1b23c4du
#define PCAP_LINKTYPE_ETHER 1u
#define PCAP_GLOBAL_HDR_LEN 24u
#define PCAP_RECORD_HDR_LEN 16u

/* 256 KiB of records plus one record header: the longest record (a frame cut to the
 * snapshot length) always fits in the empty buffer, so no length can overflow it. */
#define NET_CAPTURE_BUF ((256u << 10) + PCAP_RECORD_HDR_LEN)
_Static_assert(NET_CAPTURE_BUF >= PCAP_RECORD_HDR_LEN + NET_CAPTURE_SNAPLEN,
               "the capture buffer must hold the longest record");

struct net_capture;

/* Creates (or truncates) `path` with mode 0600 and writes the pcap header. Refuses a
 * symbolic link as the last component (O_NOFOLLOW) and anything but a regular file (a
 * FIFO would block the data thread). A relative path is relative to the process's working
 * directory. NULL with err set ("cannot capture to PATH: why"). */
struct net_capture *net_capture_open(const char *path, struct vdev_err *err);

/* Appends one frame stamped with the current time (CLOCK_REALTIME, never earlier than the
 * previous record). Returns 0, or -1 when the file failed: the capture is then dead
 * (every later call returns -1) and net_capture_error() says why. */
int net_capture_frame(struct net_capture *c, const void *frame, size_t len);

/* Writes the buffered records out. 0, or -1 as above. */
int net_capture_flush(struct net_capture *c);

/* Flushes, closes and frees. 0, or -1 when something was lost (why in err, may be NULL). */
int net_capture_close(struct net_capture *c, struct vdev_err *err);

const char *net_capture_path(const struct net_capture *c);
uint64_t net_capture_frames(const struct net_capture *c);
/* The error that killed the capture ("write: No space left on device"), or NULL. */
const char *net_capture_error(const struct net_capture *c);

#endif
