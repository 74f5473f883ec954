/* watch: the progress of the mirrors' passes for mirrorctl: one line per
 * "progress" object of mirrord's status (status), and `status --watch`,
 * which polls once a second and redraws those lines (on a terminal; one
 * set of lines per poll otherwise) until every source mirror is in sync. */
#ifndef MIRRORCTL_WATCH_H
#define MIRRORCTL_WATCH_H
#include <stdbool.h>
#include <stddef.h>

#include "json.h"

/* "1.5 MiB" */
void human_bytes(double b, char *out, size_t len);
/* "9s", "1m05s", "2h03m"; "?" when s < 0 */
void human_eta(double s, char *out, size_t len);
/* A "progress" object (non-null) as "initial sync: 1200 of 5000 paths
 * (24.0 %, total by count), sent 3.2 MiB, 410 paths/s, 1.1 MiB/s, ETA 9s". */
void watch_progress_line(const struct json *p, char *out, size_t len);
/* Poll the control socket every second and show the progress until every
 * source mirror is in sync (0), or mirrord stays unreachable
 * (WATCH_UNREACHABLE_S in a row: -errno). */
#define WATCH_UNREACHABLE_S 10
int watch_run(const char *sock, int timeout_ms);

#endif
