/* `vdevkit hostdev-cleanup [--json] [BDF...]`: after a VMM died, sets its VFs back as their
 * records say (vdev_hostdev_recover: MAC, VLAN, host driver) and removes the records. Without
 * a BDF, every record whose owner is gone; a record whose owner runs is left alone.
 *
 * One line per record on standard output ("BDF: OUTCOME: DETAIL"), or with --json one array
 * (docs/vmm.md); a record that could not be restored, or a named VF whose owner runs, is also
 * a message on standard error and makes the status 1. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vdev/hostdev.h>

#include "hostdev_cli.h"
#include "json_out.h"
#include "tool_exit.h"
#include "tool_msg.h"

#define CMD "hostdev-cleanup"

struct run {
    bool named;
    FILE *json; /* the array, built aside: an error prints nothing on standard output */
    unsigned shown;
    int status;
};

static void json_report(FILE *out, const struct vdev_hostdev_report *r, bool first)
{
    fputs(first ? "" : ",\n ", out);
    fputs("{\"bdf\": ", out);
    json_string(out, r->bdf);
    fputs(", \"outcome\": ", out);
    json_string(out, vdev_hostdev_outcome_name(r->outcome));
    fputs(", \"pf\": ", out);
    json_string(out, r->pf_ifname);
    fputs(", \"vf\": ", out);
    if (r->vf < 0)
        fputs("null", out);
    else
        fprintf(out, "%lld", (long long)r->vf);
    fputs(", \"owner\": ", out);
    if (r->owner <= 0)
        fputs("null", out);
    else
        fprintf(out, "%d", (int)r->owner);
    fputs(", \"detail\": ", out);
    json_string(out, r->detail);
    fputc('}', out);
}

static void report(void *ctx, const struct vdev_hostdev_report *r)
{
    struct run *run = ctx;
    bool failed =
        r->outcome == VDEV_HOSTDEV_FAILED || (run->named && r->outcome == VDEV_HOSTDEV_IN_USE);
    if (run->json) {
        json_report(run->json, r, run->shown == 0);
    } else if (!failed) {
        printf("%s: %s: ", r->bdf, vdev_hostdev_outcome_name(r->outcome));
        tool_put_text(stdout, r->detail); /* the kernel's words may be in it */
        putchar('\n');
    }
    if (failed) {
        fprintf(stderr, "vdevkit " CMD ": %s: ", r->bdf);
        tool_put_text(stderr, r->detail);
        fputc('\n', stderr);
        run->status = TOOL_EXIT_HOST;
    }
    run->shown++;
}

int vmm_cmd_hostdev_cleanup(int argc, char **argv)
{
    struct run run = {.status = 0};
    bool opts = true, is_json = false;
    int n = 0;
    char **bdfs = calloc((size_t)argc + 1, sizeof(*bdfs));
    if (!bdfs) {
        tool_error(CMD, "out of memory");
        return TOOL_EXIT_HOST;
    }
    for (int i = 0; i < argc; i++) {
        if (opts && strcmp(argv[i], "--") == 0) {
            opts = false;
        } else if (opts && strcmp(argv[i], "--json") == 0) {
            is_json = true;
        } else if (opts && argv[i][0] == '-' && argv[i][1]) {
            free(bdfs);
            return tool_usage_error(CMD, "unknown option '%s'", argv[i]);
        } else {
            /* Every address is checked before any VF is touched. */
            struct vdev_hostdev_vf vf;
            struct vdev_err err = {0};
            if (vdev_hostdev_find(NULL, argv[i], &vf, &err) && err.code == VDEV_E_INVAL) {
                free(bdfs);
                return tool_usage_error(CMD, "%s", err.msg);
            }
            bdfs[n++] = argv[i];
        }
    }
    run.named = n > 0;
    char *json = NULL;
    size_t jlen = 0;
    if (is_json && !(run.json = open_memstream(&json, &jlen))) {
        free(bdfs);
        tool_error(CMD, "out of memory");
        return TOOL_EXIT_HOST;
    }
    bool looked = true;
    for (int i = 0; i == 0 || i < n; i++) {
        struct vdev_err err = {0};
        if (vdev_hostdev_recover(NULL, n ? bdfs[i] : NULL, 0, report, &run, &err) < 0) {
            tool_error(CMD, "%s", err.msg);
            run.status = TOOL_EXIT_HOST;
            looked = false;
            break;
        }
    }
    if (run.json) {
        fclose(run.json);
        if (looked)
            printf("[%s]\n", json);
        free(json);
    }
    free(bdfs);
    return run.status;
}
