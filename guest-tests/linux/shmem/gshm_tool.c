/* gshm: a command-line tool over the gshm library for `vdev shmem` guests.
 *
 *   gshm [--factory ADDR | --acpi] [--pci N] [--poll] STEP...
 *
 * The steps run in order in one process (a region stays attached between steps) and each
 * prints one line "gshm: STEP ok|FAIL ...". Exit status: 0 every step ok, 1 a step failed,
 * 2 usage, 3 no device, 4 a wait timed out. See README.md for the steps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gshm.h"

enum { EXIT_STEP = 1, EXIT_USAGE = 2, EXIT_NODEV = 3, EXIT_TIMEOUT = 4 };

static const char usage_text[] =
    "usage: gshm [--factory ADDR | --acpi] [--pci N] [--poll] STEP...\n"
    "  device: PCI (vendor 0x1C05 device 0x0001) unless --factory ADDR (MMIO factory page)\n"
    "          or --acpi (the MMIO device the ACPI tables describe); --pci N: the Nth function;\n"
    "          --poll: poll the status instead of sleeping on the interrupt (uio_pci_generic)\n"
    "  steps:  info | attach NAME PAGES | find NAME | expect STATUS (the next attach/find\n"
    "          must fail with it: number or name) | status | notify MASK|all |\n"
    "          wait SECS | wait-peers N SECS | wait-detach SECS | write-pattern SEED |\n"
    "          checksum SEED | write-msg TEXT | read-msg | ping N SECS | pong N SECS |\n"
    "          detach | sleep SECS\n";

static struct gshm_dev dev;
static struct gshm_region region; /* the one the steps act on */
static bool attached_any;

static void die_usage(const char *why)
{
    if (why)
        fprintf(stderr, "gshm: %s\n", why);
    fputs(usage_text, stderr);
    exit(EXIT_USAGE);
}

static uint64_t parse_u64(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end)
        die_usage(what);
    return v;
}

static const char *need(char **argv, int *i, int argc, const char *what)
{
    if (*i + 1 >= argc)
        die_usage(what);
    return argv[++*i];
}

static void need_region(const char *step)
{
    if (!attached_any || !region.ctl) {
        printf("gshm: %s FAIL no region attached\n", step);
        exit(EXIT_STEP);
    }
}

static int parse_status(const char *s)
{
    for (int st = 0; st <= GUEST_SHM_DOES_NOT_EXIST; st++)
        if (strcasecmp(s, gshm_status_name(st)) == 0)
            return st;
    return (int)parse_u64(s, "expect: a status number or name");
}

/* ---- the data pattern: data page 0 is a message box, pages 1.. carry the pattern ---- */

static inline uint64_t pattern_word(uint64_t seed, uint64_t i)
{
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed * 0xBF58476D1CE4E5B9ull;
    return x ^ (x >> 29);
}

static size_t pattern_words(void)
{
    return ((size_t)region.pages - 1) * GUEST_SHM_PAGE_SIZE / 8;
}

static uint64_t *pattern_base(void)
{
    return (uint64_t *)(region.data + GUEST_SHM_PAGE_SIZE);
}

static double mib_per_s(size_t bytes, double secs)
{
    return secs > 0 ? (double)bytes / (1024.0 * 1024.0) / secs : 0;
}

static int step_write_pattern(uint64_t seed)
{
    need_region("write-pattern");
    if (region.pages < 2) {
        printf("gshm: write-pattern FAIL the region has no pattern pages (size %u)\n",
               region.pages);
        return EXIT_STEP;
    }
    size_t n = pattern_words();
    uint64_t *p = pattern_base(), sum = 0xcbf29ce484222325ull;
    double t0 = gshm_now();
    for (size_t i = 0; i < n; i++) {
        uint64_t w = pattern_word(seed, i);
        p[i] = w;
        sum = (sum ^ w) * 0x100000001b3ull;
    }
    __sync_synchronize();
    double t = gshm_now() - t0;
    printf("gshm: write-pattern ok seed=%" PRIu64 " bytes=%zu checksum=%016" PRIx64
           " secs=%.3f MiB/s=%.0f\n",
           seed, n * 8, sum, t, mib_per_s(n * 8, t));
    return 0;
}

static int step_checksum(uint64_t seed)
{
    need_region("checksum");
    size_t n = region.pages > 1 ? pattern_words() : 0, bad = 0, first_bad = 0;
    const uint64_t *p = pattern_base();
    uint64_t sum = 0xcbf29ce484222325ull;
    __sync_synchronize(); /* (one pass reads each word once: no volatile needed) */
    double t0 = gshm_now();
    for (size_t i = 0; i < n; i++) {
        uint64_t w = p[i];
        sum = (sum ^ w) * 0x100000001b3ull;
        if (w != pattern_word(seed, i) && bad++ == 0)
            first_bad = i;
    }
    double t = gshm_now() - t0;
    if (n == 0 || bad) {
        printf("gshm: checksum FAIL seed=%" PRIu64 " bytes=%zu checksum=%016" PRIx64
               " bad-words=%zu first-bad-offset=0x%zx\n",
               seed, n * 8, sum, bad, (first_bad + GUEST_SHM_PAGE_SIZE / 8) * 8);
        return EXIT_STEP;
    }
    printf("gshm: checksum ok seed=%" PRIu64 " bytes=%zu checksum=%016" PRIx64
           " secs=%.3f MiB/s=%.0f\n",
           seed, n * 8, sum, t, mib_per_s(n * 8, t));
    return 0;
}

/* ---- steps ---- */

static void print_status(const char *step)
{
    printf("gshm: %s ok name=%s idx=%u size=%u shmem=0x%" PRIx64 " attached=0x%04x\n", step,
           region.name, region.idx, region.pages, region.addr, region.attached);
}

static int step_attach(const char *name, uint32_t pages, bool find_only, int expect)
{
    const char *step = find_only ? "find" : "attach";
    char err[256] = "";
    struct gshm_region r;
    int st = gshm_attach(&dev, name, pages, find_only, &r, err, sizeof err);
    if (st < 0) {
        printf("gshm: %s FAIL %s: %s\n", step, name, err);
        return EXIT_STEP;
    }
    if (expect >= 0) {
        if (st == GUEST_SHM_OK)
            gshm_detach(&r);
        if (st != expect) {
            printf("gshm: %s FAIL %s: status %d %s, expected %d %s\n", step, name, st,
                   gshm_status_name(st), expect, gshm_status_name(expect));
            return EXIT_STEP;
        }
        printf("gshm: %s ok %s: status %d %s as expected\n", step, name, st, gshm_status_name(st));
        return 0;
    }
    if (st != GUEST_SHM_OK) {
        printf("gshm: %s FAIL %s: status %d %s\n", step, name, st, gshm_status_name(st));
        return EXIT_STEP;
    }
    if (attached_any && region.ctl)
        gshm_detach(&region); /* the steps act on one region at a time */
    region = r;
    /* the device's list points at r: move it to the kept copy */
    for (unsigned i = 0; i < GSHM_MAX_REGIONS; i++)
        if (dev.regions[i] == &r)
            dev.regions[i] = &region;
    attached_any = true;
    print_status(step);
    return 0;
}

static bool peers_at_least(struct gshm_region *r, void *arg)
{
    return (unsigned)__builtin_popcount(r->attached) >= *(unsigned *)arg;
}

static bool someone_left(struct gshm_region *r, void *arg)
{
    uint32_t before = *(uint32_t *)arg;
    return (r->attached & before) != before;
}

static bool any_notification(struct gshm_region *r, void *arg)
{
    (void)arg;
    return r->notifiers != 0;
}

static int step_wait(int secs)
{
    need_region("wait");
    bool irq = false;
    double t0 = gshm_now();
    unsigned long irqs0 = dev.irqs;
    if (gshm_wait(&region, any_notification, NULL, secs * 1000, &irq)) {
        printf("gshm: wait FAIL no notification in %d s (attached=0x%04x irqs=%lu)\n", secs,
               region.attached, dev.irqs - irqs0);
        return EXIT_TIMEOUT;
    }
    uint32_t from = region.notifiers;
    region.notifiers = 0;
    printf("gshm: wait ok from=0x%04x attached=0x%04x by=%s irqs=%lu secs=%.3f\n", from,
           region.attached, irq ? "interrupt" : (dev.uio_fd >= 0 ? "status" : "poll"),
           dev.irqs - irqs0, gshm_now() - t0);
    return 0;
}

static int step_wait_peers(unsigned n, int secs)
{
    need_region("wait-peers");
    double t0 = gshm_now();
    if (gshm_wait(&region, peers_at_least, &n, secs * 1000, NULL)) {
        printf("gshm: wait-peers FAIL %u clients not attached in %d s (attached=0x%04x)\n", n, secs,
               region.attached);
        return EXIT_TIMEOUT;
    }
    printf("gshm: wait-peers ok attached=0x%04x secs=%.3f\n", region.attached, gshm_now() - t0);
    return 0;
}

static int step_wait_detach(int secs)
{
    need_region("wait-detach");
    gshm_read_status(&region);
    /* every other client seen since the attach: one that left before this step counts */
    uint32_t before = region.ever_attached & ~(1u << region.idx);
    if (!before) {
        printf("gshm: wait-detach FAIL no other client was ever attached (attached=0x%04x)\n",
               region.attached);
        return EXIT_STEP;
    }
    bool irq = false;
    double t0 = gshm_now();
    unsigned long irqs0 = dev.irqs;
    if (gshm_wait(&region, someone_left, &before, secs * 1000, &irq)) {
        printf("gshm: wait-detach FAIL nobody left in %d s (attached=0x%04x)\n", secs,
               region.attached);
        return EXIT_TIMEOUT;
    }
    printf("gshm: wait-detach ok left=0x%04x attached=0x%04x by=%s irqs=%lu secs=%.3f\n",
           before & ~region.attached, region.attached,
           irq ? "interrupt" : (dev.uio_fd >= 0 ? "status" : "poll"), dev.irqs - irqs0,
           gshm_now() - t0);
    return 0;
}

/* Notification round trips: ping notifies the others and waits for the answer; pong waits
 * and answers. Prints the mean round trip. */
static int step_pingpong(bool ping, unsigned n, int secs)
{
    const char *step = ping ? "ping" : "pong";
    need_region(step);
    double t0 = gshm_now(), end = t0 + secs;
    for (unsigned i = 0; i < n; i++) {
        if (ping)
            gshm_notify(&region, GUEST_SHM_NOTIFY_OTHERS);
        int left = (int)((end - gshm_now()) * 1000);
        if (left < 1 || gshm_wait(&region, any_notification, NULL, left, NULL)) {
            printf("gshm: %s FAIL round %u of %u timed out\n", step, i, n);
            return EXIT_TIMEOUT;
        }
        region.notifiers = 0;
        if (!ping)
            gshm_notify(&region, GUEST_SHM_NOTIFY_OTHERS);
    }
    double t = gshm_now() - t0;
    printf("gshm: %s ok rounds=%u secs=%.3f round-trip-us=%.0f\n", step, n, t, n ? t * 1e6 / n : 0);
    return 0;
}

static int step_info(void)
{
    printf("gshm: info ok factory=0x%" PRIx64 " signature=%s vector=%u pci=%s bar2=0x%" PRIx64
           "+0x%" PRIx64 " wait=%s%s\n",
           dev.factory_addr, gshm_signature_ok(&dev) ? "ok" : "BAD", gshm_vector(&dev),
           dev.pci_slot[0] ? dev.pci_slot : "none", dev.bar2_addr, dev.bar2_size,
           dev.uio_fd >= 0 ? "interrupt/" : "poll", dev.uio_fd >= 0 ? dev.uio_name : "");
    return gshm_signature_ok(&dev) ? 0 : EXIT_STEP;
}

/* One step of the command line, parsed before the device is opened (a typo fails at once
 * with exit 2, not after the steps before it ran). */
enum step_kind {
    S_INFO,
    S_ATTACH,
    S_FIND,
    S_STATUS,
    S_NOTIFY,
    S_WAIT,
    S_WAIT_PEERS,
    S_WAIT_DETACH,
    S_WRITE_PATTERN,
    S_CHECKSUM,
    S_WRITE_MSG,
    S_READ_MSG,
    S_PING,
    S_PONG,
    S_DETACH,
    S_SLEEP,
};

struct step {
    enum step_kind kind;
    const char *text; /* NAME or TEXT */
    uint64_t a, b;    /* PAGES, MASK, SECS, N, SEED */
    int expect;       /* attach/find: the status it must fail with, or -1 */
};

static uint64_t parse_secs(const char *s)
{
    uint64_t v = parse_u64(s, "SECS: a number of seconds");
    if (v > 86400)
        die_usage("SECS: at most 86400");
    return v;
}

/* Parses argv[i..] into steps (allocated; *n set). Usage errors exit 2. */
static struct step *parse_steps(int argc, char **argv, int i, size_t *n)
{
    struct step *st = calloc((size_t)argc, sizeof *st);
    int expect = -1;
    *n = 0;
    if (!st)
        exit(EXIT_USAGE);
    for (; i < argc; i++) {
        const char *s = argv[i];
        struct step x = {.expect = -1};
        if (!strcmp(s, "expect")) {
            expect = parse_status(need(argv, &i, argc, "expect: STATUS"));
            continue;
        }
        if (!strcmp(s, "info")) {
            x.kind = S_INFO;
        } else if (!strcmp(s, "attach") || !strcmp(s, "find")) {
            x.kind = s[0] == 'f' ? S_FIND : S_ATTACH;
            x.text = need(argv, &i, argc, "attach/find: NAME");
            if (x.kind == S_ATTACH) {
                x.a = parse_u64(need(argv, &i, argc, "attach: PAGES"), "attach: PAGES");
                if (x.a > UINT32_MAX)
                    die_usage("attach: PAGES too large");
            }
            x.expect = expect;
            expect = -1;
        } else if (!strcmp(s, "status")) {
            x.kind = S_STATUS;
        } else if (!strcmp(s, "notify")) {
            const char *m = need(argv, &i, argc, "notify: MASK");
            x.kind = S_NOTIFY;
            x.a = !strcmp(m, "all") ? GUEST_SHM_NOTIFY_OTHERS : parse_u64(m, "notify: MASK");
            if (x.a > UINT32_MAX)
                die_usage("notify: MASK is 32 bits");
        } else if (!strcmp(s, "wait") || !strcmp(s, "wait-detach") || !strcmp(s, "sleep")) {
            x.kind = s[0] == 's' ? S_SLEEP : s[4] == '-' ? S_WAIT_DETACH : S_WAIT;
            x.a = parse_secs(need(argv, &i, argc, "SECS"));
        } else if (!strcmp(s, "wait-peers")) {
            x.kind = S_WAIT_PEERS;
            x.a = parse_u64(need(argv, &i, argc, "wait-peers: N"), "wait-peers: N");
            x.b = parse_secs(need(argv, &i, argc, "SECS"));
        } else if (!strcmp(s, "write-pattern") || !strcmp(s, "checksum")) {
            x.kind = s[0] == 'w' ? S_WRITE_PATTERN : S_CHECKSUM;
            x.a = parse_u64(need(argv, &i, argc, "SEED"), "SEED");
        } else if (!strcmp(s, "write-msg")) {
            x.kind = S_WRITE_MSG;
            x.text = need(argv, &i, argc, "write-msg: TEXT");
        } else if (!strcmp(s, "read-msg")) {
            x.kind = S_READ_MSG;
        } else if (!strcmp(s, "ping") || !strcmp(s, "pong")) {
            x.kind = s[1] == 'i' ? S_PING : S_PONG;
            x.a = parse_u64(need(argv, &i, argc, "N"), "N");
            if (x.a > 1000000)
                die_usage("ping/pong: N at most 1000000");
            x.b = parse_secs(need(argv, &i, argc, "SECS"));
        } else if (!strcmp(s, "detach")) {
            x.kind = S_DETACH;
        } else {
            fprintf(stderr, "gshm: unknown step '%s'\n", s);
            die_usage(NULL);
        }
        st[(*n)++] = x;
    }
    if (expect >= 0)
        die_usage("expect: must come before an attach or find");
    if (*n == 0)
        die_usage("no step");
    return st;
}

static int run_step(const struct step *x)
{
    switch (x->kind) {
    case S_INFO:
        return step_info();
    case S_ATTACH:
        return step_attach(x->text, (uint32_t)x->a, false, x->expect);
    case S_FIND:
        return step_attach(x->text, 0, true, x->expect);
    case S_STATUS:
        need_region("status");
        gshm_read_status(&region);
        printf("gshm: status ok idx=%u notifiers=0x%04x attached=0x%04x\n", region.idx,
               region.notifiers, region.attached);
        return 0;
    case S_NOTIFY:
        need_region("notify");
        gshm_notify(&region, (uint32_t)x->a);
        printf("gshm: notify ok mask=0x%x\n", (uint32_t)x->a);
        return 0;
    case S_WAIT:
        return step_wait((int)x->a);
    case S_WAIT_PEERS:
        return step_wait_peers((unsigned)x->a, (int)x->b);
    case S_WAIT_DETACH:
        return step_wait_detach((int)x->a);
    case S_WRITE_PATTERN:
        return step_write_pattern(x->a);
    case S_CHECKSUM:
        return step_checksum(x->a);
    case S_WRITE_MSG: {
        need_region("write-msg");
        size_t len = strnlen(x->text, GUEST_SHM_PAGE_SIZE - 1);
        memcpy(region.data, x->text, len);
        region.data[len] = 0;
        __sync_synchronize();
        printf("gshm: write-msg ok \"%.*s\"\n", (int)len, x->text);
        return 0;
    }
    case S_READ_MSG:
        need_region("read-msg");
        printf("gshm: read-msg ok \"%.*s\"\n",
               (int)strnlen((const char *)region.data, GUEST_SHM_PAGE_SIZE - 1),
               (const char *)region.data);
        return 0;
    case S_PING:
    case S_PONG:
        return step_pingpong(x->kind == S_PING, (unsigned)x->a, (int)x->b);
    case S_DETACH:
        need_region("detach");
        gshm_detach(&region);
        printf("gshm: detach ok\n");
        return 0;
    case S_SLEEP:
        sleep((unsigned)x->a);
        return 0;
    }
    return EXIT_STEP;
}

int main(int argc, char **argv)
{
    uint64_t factory = 0;
    bool acpi = false, poll_only = false, have_factory = false;
    int pci_index = 0, i = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--factory")) {
            factory = parse_u64(need(argv, &i, argc, "--factory ADDR"), "--factory ADDR");
            have_factory = true;
        } else if (!strcmp(argv[i], "--acpi"))
            acpi = true;
        else if (!strcmp(argv[i], "--pci"))
            pci_index = (int)parse_u64(need(argv, &i, argc, "--pci N"), "--pci N");
        else if (!strcmp(argv[i], "--poll"))
            poll_only = true;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else
            die_usage("unknown option");
    }
    size_t nsteps;
    struct step *steps = parse_steps(argc, argv, i, &nsteps);
    char err[256] = "";
    if (acpi && !(factory = gshm_find_mmio_factory())) {
        printf("gshm: open FAIL no ACPI device with compatible %s in "
               "/sys/bus/platform/devices\n",
               GUEST_SHM_COMPATIBLE);
        return EXIT_NODEV;
    }
    int rc = have_factory || acpi ? gshm_open_mmio(&dev, factory, err, sizeof err)
                                  : gshm_open_pci(&dev, pci_index, err, sizeof err);
    if (rc) {
        printf("gshm: open FAIL %s\n", err);
        return EXIT_NODEV;
    }
    if (!gshm_signature_ok(&dev)) {
        printf("gshm: open FAIL bad signature at 0x%" PRIx64 "\n", dev.factory_addr);
        return EXIT_NODEV;
    }
    if (dev.pci_slot[0] && !poll_only && gshm_use_uio(&dev, err, sizeof err))
        fprintf(stderr, "gshm: %s; waits will poll\n", err);
    rc = 0;
    for (size_t k = 0; k < nsteps && rc == 0; k++) {
        rc = run_step(&steps[k]);
        fflush(stdout);
    }
    gshm_close(&dev);
    free(steps);
    return rc;
}
