/* metrics: the Prometheus text file ([node] metrics_file), from the status
 * table and, when failoverd answers on its control socket, its state.
 * Written to a temporary file beside the target and renamed over it, so
 * a collector (node_exporter's textfile collector) never reads half. */
#ifndef MIRRORD_METRICS_H
#define MIRRORD_METRICS_H

/* node is the node name; failoverd_sock may be NULL (not asked).
 * 0 or -errno (nothing is left behind on failure). */
int metrics_write(const char *path, const char *node, const char *failoverd_sock);

#endif
