/* outcome: the restore's result as a notification (see outcome.h). */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "notify.h"
#include "outcome.h"

static const char *result(const struct outcome *o)
{
	if (!o->ok)
		return "failed";
	return o->conflicts > 0 ? "conflicts" : "restored";
}

/* "www,db": the key of the event. */
static char *mirror_list(const struct outcome *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; i < o->n_mirrors; i++)
		fprintf(f, "%s%s", i ? "," : "", o->mirrors[i]);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static char *detail(const struct outcome *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f, "{\"result\":\"%s\",\"exit\":%d,\"failback\":%s,\"conflicts\":%zu,"
		"\"created\":%" PRIu64 ",\"changed\":%" PRIu64 ",\"removed\":%" PRIu64
		",\"bytes\":%" PRIu64 ",\"seconds\":%.2f,\"mirrors\":[", result(o), o->exit_code,
		o->failback ? "true" : "false", o->conflicts, o->created, o->changed, o->removed,
		o->bytes, o->seconds);
	for (size_t i = 0; i < o->n_mirrors; i++) {
		if (i)
			fputc(',', f);
		notify_json_string(f, o->mirrors[i]);
	}
	fputs("]}", f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

void outcome_notify(const struct conf *c, const struct outcome *o)
{
	struct notify *n;
	char summary[512], *key, *d;

	if (!c->notify)
		return;
	n = notify_new(c->notify, c->notify_timeout_ms, 0, c->node_name);
	key = mirror_list(o);
	d = detail(o);
	if (!n || !key) {
		log_err("cannot notify %s of the restore's result: out of memory", c->notify);
		goto out;
	}
	snprintf(summary, sizeof(summary), "mirror-restore of %s on %s: %s (exit %d, %zu "
		 "conflicts%s)", key, c->node_name, result(o), o->exit_code, o->conflicts,
		 o->failback ? o->exit_code == 0 || o->exit_code == 1 ? ", failed back" :
		 ", failback not done" : "");
	if (notify_event(n, "restore", key, summary, d) > 0 &&
	    !notify_drain(n, c->notify_timeout_ms + 500))
		log_warn("notify %s: the restore's notification did not finish in time",
			 c->notify);
out:
	notify_free(n);
	free(key);
	free(d);
}
