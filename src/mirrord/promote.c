/* promote: the promoted role of sink mirrors.  See promote.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "localjournal.h"
#include "log.h"
#include "path.h"
#include "promote.h"
#include "sinkid.h"

#define FLUSH_MS 3000
#define ACTIVE_FILE "active"

struct role {
	const struct conf_mirror *m;
	struct localjournal *lj;   /* non-NULL while promoted */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const struct conf *conf;
static struct role *roles;
static size_t n_roles;

static struct role *find(const char *mirror)
{
	for (size_t i = 0; i < n_roles; i++)
		if (strcmp(roles[i].m->name, mirror) == 0)
			return &roles[i];
	return NULL;
}

static char *active_path(const char *mirror)
{
	char *d = localjournal_dir(conf, mirror), *p = NULL;

	if (d && asprintf(&p, "%s/%s", d, ACTIVE_FILE) < 0)
		p = NULL;
	free(d);
	return p;
}

/* Persist (on) or forget (off) the promoted role. */
static int persist(const char *mirror, bool on)
{
	char *p = active_path(mirror);
	int rc = 0;

	if (!p)
		return -ENOMEM;
	if (on) {
		int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0 || fsync(fd) < 0)
			rc = -errno;
		if (fd >= 0)
			close(fd);
	} else if (unlink(p) < 0 && errno != ENOENT) {
		rc = -errno;
	}
	if (rc == 0)
		rc = path_fsync_parent(p);
	free(p);
	return rc;
}

static bool persisted(const char *mirror)
{
	char *p = active_path(mirror);
	struct stat st;
	bool on = p && stat(p, &st) == 0;

	free(p);
	return on;
}

static int do_promote(struct role *r, enum localjournal_start how, char *err, size_t len)
{
	int rc = localjournal_start(conf, r->m, how, &r->lj);

	/* the copy now changes on its own: no source may trust its index of it */
	if (rc == 0 && (rc = sinkid_rotate(conf->state_dir, r->m->name)) < 0) {
		localjournal_stop(r->lj);
		r->lj = NULL;
		snprintf(err, len, "cannot renew the copy's id of %s: %s", r->m->name,
			 strerror(-rc));
		return rc;
	}
	if (rc < 0) {
		snprintf(err, len, "cannot journal local changes of %s: %s", r->m->name,
			 strerror(-rc));
		return rc;
	}
	if ((rc = persist(r->m->name, true)) < 0) {
		log_err("mirror %s: cannot record the promotion in %s: %s (a restart would "
			"forget it)", r->m->name, conf->state_dir, strerror(-rc));
	}
	status_set_role(r->m->name, STATUS_SOURCE);
	log_notice("mirror %s: promoted: this node's copy is the source of truth, pushes "
		   "are refused until it is demoted", r->m->name);
	return 0;
}

static int do_demote(struct role *r, char *err, size_t len)
{
	int rc = persist(r->m->name, false);

	if (rc < 0) {
		snprintf(err, len, "cannot record the demotion of %s: %s", r->m->name,
			 strerror(-rc));
		return rc;
	}
	localjournal_stop(r->lj);
	r->lj = NULL;
	status_set_role(r->m->name, STATUS_SINK);
	log_notice("mirror %s: demoted: accepting pushes again", r->m->name);
	return 0;
}

int promote_role(void *ctx, const char *mirror, enum status_role want, char *err,
		 size_t err_len)
{
	(void)ctx;
	pthread_mutex_lock(&mu);
	struct role *r = find(mirror);
	int rc = 0;

	if (!r) {
		snprintf(err, err_len, "unknown mirror '%s'", mirror);
		rc = -ENOENT;
	} else if (r->m->has_peer) {
		log_info("mirror %s: has a peer: this node's live source role is unchanged",
			 mirror);
	} else if (want == STATUS_SOURCE && !r->lj) {
		bool again = localjournal_exists(conf, mirror);
		if (again)
			log_notice("mirror %s: the old master has not been the source since the last "
				   "promotion: continuing its journal", mirror);
		rc = do_promote(r, again ? LOCALJOURNAL_CONTINUE : LOCALJOURNAL_NEW, err,
				err_len);
	} else if (want == STATUS_SINK && r->lj) {
		rc = do_demote(r, err, err_len);
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

bool promote_active(const char *mirror)
{
	pthread_mutex_lock(&mu);
	struct role *r = find(mirror);
	bool on = r && r->lj;
	pthread_mutex_unlock(&mu);
	return on;
}

void promote_pushed(const char *mirror)
{
	pthread_mutex_lock(&mu);
	struct role *r = find(mirror);
	int rc = r && !r->lj && !r->m->has_peer ? localjournal_spend(conf, mirror) : 0;
	pthread_mutex_unlock(&mu);
	if (rc > 0)
		log_notice("mirror %s: pushes again: the journal of the last promotion is spent",
			   mirror);
	else if (rc < 0)
		log_warn("mirror %s: cannot remove the journal of the last promotion: %s (the "
			 "next promotion continues it)", mirror, strerror(-rc));
}

int promote_flush(const char *mirror)
{
	pthread_mutex_lock(&mu);
	struct role *r = find(mirror);
	int rc = r && r->lj ? localjournal_flush(r->lj, FLUSH_MS) : -ENOENT;
	pthread_mutex_unlock(&mu);
	return rc;
}

int promote_init(const struct conf *c)
{
	char err[256];

	pthread_mutex_lock(&mu);
	conf = c;
	if (!(roles = calloc(c->n_mirrors + 1, sizeof(*roles)))) {
		pthread_mutex_unlock(&mu);
		return -ENOMEM;
	}
	n_roles = c->n_mirrors;
	for (size_t i = 0; i < n_roles; i++) {
		roles[i].m = &c->mirrors[i];
		if (roles[i].m->has_peer || !persisted(roles[i].m->name))
			continue;
		log_notice("mirror %s: promoted before the restart, journalling again",
			   roles[i].m->name);
		if (do_promote(&roles[i], LOCALJOURNAL_RESTART, err, sizeof(err)) < 0)
			log_err("mirror %s: %s; it stays promoted on disk, retry with "
				"mirrorctl promote", roles[i].m->name, err);
	}
	pthread_mutex_unlock(&mu);
	return 0;
}

void promote_shutdown(void)
{
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < n_roles; i++) {
		localjournal_stop(roles[i].lj);
		roles[i].lj = NULL;
	}
	free(roles);
	roles = NULL;
	n_roles = 0;
	pthread_mutex_unlock(&mu);
}
