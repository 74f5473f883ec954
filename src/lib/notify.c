/* notify: the notification hook (see notify.h and doc/notify.md). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "json.h"
#include "log.h"
#include "notify.h"

#define HOOK_PATH_ENV "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define N_ENV 12

enum cond_state {
	C_FREE,
	C_PENDING_RAISE,        /* raised, its hook not started yet */
	C_RAISED,               /* "raised" went out */
	C_PENDING_RESOLVE,      /* cleared after "raised", "resolved" not out yet */
};

struct cond {
	enum cond_state st;
	char *kind, *key, *summary, *detail;
	int64_t since;          /* wall seconds of the first raise */
	uint64_t last_fire_ms;  /* monotonic */
	unsigned repeat;
};

struct child {
	pid_t pid;              /* 0: free slot */
	uint64_t deadline_ms;
	bool killed;
	char what[160];         /* "lag raised www", for the log */
};

struct notify {
	pthread_mutex_t lock;
	char *hook, *node;
	unsigned timeout_ms, repeat_sec;
	int (*setup)(void);
	struct cond conds[NOTIFY_CONDS_MAX];
	struct child kids[NOTIFY_INFLIGHT_MAX];
	double tokens;
	uint64_t tokens_at_ms;
	unsigned burst, refill_ms;      /* the bucket: NOTIFY_EVENT_* by default */
	uint64_t suppressed;    /* events dropped since the last one went out */
	struct notify_stats st;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- payload and environment ---- */

void notify_json_string(FILE *out, const char *s)
{
	if (!s) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (*p == '\t')
			fputs("\\t", out);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

void notify_key_mirror(const char *kind, const char *key, char *buf, size_t len)
{
	size_t n = 0;

	if (len == 0)
		return;
	if (kind && key && strcmp(kind, "failover") != 0) {
		n = strcspn(key, "/");
		if (n > len - 1)
			n = len - 1;
		memcpy(buf, key, n);
	}
	buf[n] = '\0';
}

static bool detail_ok(const char *detail)
{
	struct json *j;
	bool ok;

	if (!detail)
		return true;
	j = json_parse(detail);
	ok = j && j->type == JSON_OBJECT;
	json_free(j);
	return ok;
}

static void iso_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%" PRId64, t);
}

/* The JSON object the hook reads on stdin, in a malloc'd string. */
static char *payload(const struct notify_msg *m, int64_t now)
{
	char mirror[256], iso[40], *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	if (!out)
		return NULL;
	notify_key_mirror(m->kind, m->key, mirror, sizeof(mirror));
	iso_time(now, iso, sizeof(iso));
	fprintf(out, "{\"version\":%d,\"event\":", NOTIFY_PAYLOAD_VERSION);
	notify_json_string(out, m->kind);
	fputs(",\"state\":", out);
	notify_json_string(out, m->state);
	fputs(",\"key\":", out);
	notify_json_string(out, m->key);
	fputs(",\"mirror\":", out);
	notify_json_string(out, mirror[0] ? mirror : NULL);
	fputs(",\"node\":", out);
	notify_json_string(out, m->node);
	fputs(",\"program\":", out);
	notify_json_string(out, program_invocation_short_name);
	fprintf(out, ",\"time\":%" PRId64 ",\"time_iso\":\"%s\"", now, iso);
	if (m->since)
		fprintf(out, ",\"since\":%" PRId64, m->since);
	fprintf(out, ",\"repeat\":%u,\"suppressed\":%" PRIu64 ",\"summary\":", m->repeat,
		m->suppressed);
	notify_json_string(out, m->summary);
	fputs(",\"detail\":", out);
	if (m->detail && detail_ok(m->detail))
		fputs(m->detail, out);
	else
		fputs("null", out);
	fputs("}\n", out);
	if (fclose(out) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* "NAME=value" with control characters turned into spaces. */
static char *env_var(const char *name, const char *value)
{
	char *s;

	if (asprintf(&s, "%s=%s", name, value ? value : "") < 0)
		return NULL;
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return s;
}

static void env_free(char **env)
{
	for (size_t i = 0; i < N_ENV; i++)
		free(env[i]);
}

static int env_build(char **env, const struct notify_msg *m, int64_t now)
{
	char mirror[256], t[24], rep[16];

	notify_key_mirror(m->kind, m->key, mirror, sizeof(mirror));
	snprintf(t, sizeof(t), "%" PRId64, now);
	snprintf(rep, sizeof(rep), "%u", m->repeat);
	memset(env, 0, sizeof(char *) * N_ENV);
	env[0] = strdup(HOOK_PATH_ENV);
	env[1] = env_var("MIRRORD_EVENT", m->kind);
	env[2] = env_var("MIRRORD_STATE", m->state);
	env[3] = env_var("MIRRORD_KEY", m->key);
	env[4] = env_var("MIRRORD_MIRROR", mirror);
	env[5] = env_var("MIRRORD_NODE", m->node);
	env[6] = env_var("MIRRORD_SUMMARY", m->summary);
	env[7] = env_var("MIRRORD_TIME", t);
	env[8] = env_var("MIRRORD_PROGRAM", program_invocation_short_name);
	env[9] = env_var("MIRRORD_REPEAT", rep);
	env[10] = NULL;         /* room for one more, and the terminator */
	for (size_t i = 0; i < 10; i++)
		if (!env[i]) {
			env_free(env);
			return -ENOMEM;
		}
	return 0;
}

/* An anonymous file holding text, at offset 0. */
static int text_fd(const char *text)
{
	size_t len = strlen(text), off = 0;
	int fd = memfd_create("mirrord-notify", MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			close(fd);
			return -e;
		}
		off += (size_t)w;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* After fork: async-signal-safe calls only. */
static void child(const char *path, char *const argv[], char *const envp[], int in,
		  int (*setup)(void))
{
	sigset_t none;

	(void)setpgid(0, 0);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)signal(SIGPIPE, SIG_DFL);
	/* dup2 onto itself (stdin was closed) would keep FD_CLOEXEC */
	if (in == STDIN_FILENO ? fcntl(in, F_SETFD, 0) < 0 : dup2(in, STDIN_FILENO) < 0)
		_exit(126);
	(void)close_range(3, ~0U, 0);
	if (setup && setup() != 0)
		_exit(126);
	execve(path, argv, envp);
	_exit(127);
}

pid_t notify_spawn(const char *path, const char *arg1, const struct notify_msg *m,
		   int (*setup)(void))
{
	char *env[N_ENV], *text;
	char *const argv[] = { (char *)path, (char *)arg1, NULL };
	int64_t now = m->time ? m->time : (int64_t)time(NULL);
	int fd, e;
	pid_t pid;

	if (!(text = payload(m, now)))
		return -ENOMEM;
	fd = text_fd(text);
	free(text);
	if (fd < 0)
		return fd;
	if (env_build(env, m, now) < 0) {
		close(fd);
		return -ENOMEM;
	}
	pid = fork();
	e = errno;
	if (pid == 0)
		child(path, argv, env, fd, setup);
	env_free(env);
	close(fd);
	if (pid < 0)
		return -e;
	(void)setpgid(pid, pid);
	return pid;
}

/* ---- hooks in flight ---- */

static struct child *free_kid(struct notify *n)
{
	for (size_t i = 0; i < NOTIFY_INFLIGHT_MAX; i++)
		if (n->kids[i].pid == 0)
			return &n->kids[i];
	return NULL;
}

/* Start the hook for m in a free slot: 1, 0 when no slot is free, -errno. */
static int fire(struct notify *n, const struct notify_msg *m)
{
	struct child *k = free_kid(n);
	pid_t pid;

	if (!k)
		return 0;
	pid = notify_spawn(n->hook, NULL, m, n->setup);
	if (pid < 0) {
		n->st.failed++;
		log_warn("notify %s %s %s %s: cannot start: %s", n->hook, m->kind, m->state,
			 m->key, strerror((int)-pid));
		return (int)pid;
	}
	k->pid = pid;
	k->killed = false;
	k->deadline_ms = mono_ms() + n->timeout_ms;
	snprintf(k->what, sizeof(k->what), "%s %s %s", m->kind, m->state, m->key);
	n->st.started++;
	n->st.in_flight++;
	log_info("notify %s: %s: %s", k->what, n->hook, m->summary ? m->summary : "");
	return 1;
}

static void kid_done(struct notify *n, struct child *k, int status)
{
	if (k->killed) {
		n->st.failed++;
		log_warn("notify %s %s: killed after %u ms", n->hook, k->what, n->timeout_ms);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		log_debug("notify %s %s: ok", n->hook, k->what);
	} else {
		n->st.failed++;
		if (WIFEXITED(status))
			log_warn("notify %s %s: exit status %d", n->hook, k->what,
				 WEXITSTATUS(status));
		else
			log_warn("notify %s %s: died on signal %d", n->hook, k->what,
				 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	}
	k->pid = 0;
	n->st.in_flight--;
}

static void kill_group(pid_t pid)
{
	(void)kill(-pid, SIGKILL);
	(void)kill(pid, SIGKILL);
}

static void reap(struct notify *n)
{
	uint64_t now = mono_ms();

	for (size_t i = 0; i < NOTIFY_INFLIGHT_MAX; i++) {
		struct child *k = &n->kids[i];
		int status = 0;
		pid_t r;

		if (k->pid == 0)
			continue;
		while ((r = waitpid(k->pid, &status, WNOHANG)) < 0 && errno == EINTR)
			;
		if (r == k->pid || (r < 0 && errno == ECHILD)) {
			kid_done(n, k, status);
			continue;
		}
		if (!k->killed && now >= k->deadline_ms) {
			k->killed = true;
			n->st.timeouts++;
			kill_group(k->pid);
		}
	}
}

/* ---- conditions ---- */

static struct cond *find(struct notify *n, const char *kind, const char *key)
{
	for (size_t i = 0; i < NOTIFY_CONDS_MAX; i++) {
		struct cond *c = &n->conds[i];
		if (c->st != C_FREE && strcmp(c->kind, kind) == 0 && strcmp(c->key, key) == 0)
			return c;
	}
	return NULL;
}

static void cond_forget(struct notify *n, struct cond *c)
{
	free(c->kind);
	free(c->key);
	free(c->summary);
	free(c->detail);
	memset(c, 0, sizeof(*c));
	n->st.conditions--;
}

/* Replace *dst by a copy of src cut at max bytes; false when out of memory. */
static bool set_str(char **dst, const char *src, size_t max)
{
	char *s = NULL;

	if (src && !(s = strndup(src, max)))
		return false;
	free(*dst);
	*dst = s;
	return true;
}

static struct cond *cond_add(struct notify *n, const char *kind, const char *key)
{
	for (size_t i = 0; i < NOTIFY_CONDS_MAX; i++) {
		struct cond *c = &n->conds[i];
		if (c->st != C_FREE)
			continue;
		if (!set_str(&c->kind, kind, NOTIFY_FIELD_MAX) ||
		    !set_str(&c->key, key, NOTIFY_FIELD_MAX)) {
			free(c->kind);
			free(c->key);
			c->kind = c->key = NULL;
			return NULL;
		}
		c->st = C_PENDING_RAISE;
		c->since = (int64_t)time(NULL);
		c->repeat = 0;
		n->st.conditions++;
		return c;
	}
	return NULL;
}

/* Take a token from the bucket events and raises share. */
static bool take_token(struct notify *n)
{
	uint64_t now = mono_ms();

	n->tokens += (double)(now - n->tokens_at_ms) / (double)n->refill_ms;
	if (n->tokens > n->burst)
		n->tokens = n->burst;
	n->tokens_at_ms = now;
	if (n->tokens < 1.0)
		return false;
	n->tokens -= 1.0;
	return true;
}

/* Send the pending notification of c: 1 started, 0 no slot or no token
 * (a raise waits for the rate limit; a resolve does not), -errno. */
static int cond_fire(struct notify *n, struct cond *c)
{
	bool resolve = c->st == C_PENDING_RESOLVE;
	struct notify_msg m = {
		.kind = c->kind, .key = c->key, .node = n->node, .summary = c->summary,
		.state = resolve ? "resolved" : "raised",
		.detail = resolve ? NULL : c->detail, .since = c->since,
		.repeat = resolve ? 0 : c->repeat,
	};
	int r;

	if (!free_kid(n) || (!resolve && !take_token(n)))
		return 0;
	r = fire(n, &m);
	if (r <= 0)
		return r;
	c->last_fire_ms = mono_ms();
	if (resolve)
		cond_forget(n, c);
	else
		c->st = C_RAISED;
	return 1;
}

static void fire_pending(struct notify *n)
{
	for (size_t i = 0; i < NOTIFY_CONDS_MAX && free_kid(n); i++) {
		struct cond *c = &n->conds[i];
		if (c->st == C_PENDING_RAISE || c->st == C_PENDING_RESOLVE)
			(void)cond_fire(n, c);
	}
}

/* ---- public ---- */

struct notify *notify_new(const char *hook_path, unsigned timeout_ms,
			  unsigned repeat_sec, const char *node_name)
{
	struct notify *n;

	if (!hook_path)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n || !(n->hook = strdup(hook_path)) ||
	    !(n->node = strdup(node_name ? node_name : ""))) {
		log_err("notify %s: out of memory, notifications are off", hook_path);
		if (n)
			free(n->hook);
		free(n);
		return NULL;
	}
	pthread_mutex_init(&n->lock, NULL);
	n->timeout_ms = timeout_ms;
	n->repeat_sec = repeat_sec;
	n->burst = NOTIFY_EVENT_BURST;
	n->refill_ms = NOTIFY_EVENT_REFILL_SEC * 1000;
	n->tokens = n->burst;
	n->tokens_at_ms = mono_ms();
	return n;
}

void notify_set_rate(struct notify *n, unsigned burst, unsigned refill_ms)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->burst = burst ? burst : 1;
	n->refill_ms = refill_ms ? refill_ms : 1;
	n->tokens = n->burst;
	n->tokens_at_ms = mono_ms();
	pthread_mutex_unlock(&n->lock);
}

void notify_free(struct notify *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < NOTIFY_INFLIGHT_MAX; i++) {
		struct child *k = &n->kids[i];
		if (k->pid == 0)
			continue;
		if (waitpid(k->pid, NULL, WNOHANG) == 0) {
			log_warn("notify %s %s: killed on shutdown", n->hook, k->what);
			kill_group(k->pid);
			while (waitpid(k->pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
	}
	for (size_t i = 0; i < NOTIFY_CONDS_MAX; i++)
		if (n->conds[i].st != C_FREE)
			cond_forget(n, &n->conds[i]);
	pthread_mutex_destroy(&n->lock);
	free(n->hook);
	free(n->node);
	free(n);
}

void notify_set_child_setup(struct notify *n, int (*fn)(void))
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->setup = fn;
	pthread_mutex_unlock(&n->lock);
}

static bool args_ok(const char *kind, const char *key)
{
	return kind && key && *kind;
}

/* The start of raise, clear and event: true with the lock held and the
 * finished hooks reaped; false with *ret the caller's result (0 without a
 * notifier: a no-op; -EINVAL for bad arguments). */
static bool enter(struct notify *n, const char *kind, const char *key, int *ret)
{
	if (!n || !args_ok(kind, key)) {
		*ret = n ? -EINVAL : 0;
		return false;
	}
	pthread_mutex_lock(&n->lock);
	reap(n);
	return true;
}

int notify_raise(struct notify *n, const char *kind, const char *key,
		 const char *summary, const char *detail)
{
	struct cond *c;
	int r = 0;

	if (!enter(n, kind, key, &r))
		return r;
	c = find(n, kind, key);
	if (!c && !(c = cond_add(n, kind, key))) {
		n->st.dropped++;
		log_warn("notify %s: %s %s not raised: %u conditions already held",
			 n->hook, kind, key, NOTIFY_CONDS_MAX);
		r = -ENOSPC;
		goto out;
	}
	if (c->st == C_PENDING_RESOLVE) {       /* back before "resolved" went out */
		c->st = C_RAISED;
		goto out;
	}
	if (c->st == C_RAISED &&
	    (n->repeat_sec == 0 || mono_ms() - c->last_fire_ms < n->repeat_sec * 1000ull))
		goto out;
	(void)set_str(&c->summary, summary, NOTIFY_FIELD_MAX);
	(void)set_str(&c->detail, detail, NOTIFY_DETAIL_MAX);
	if (c->st == C_RAISED) {
		c->st = C_PENDING_RAISE;
		c->repeat++;
	}
	r = cond_fire(n, c);
out:
	pthread_mutex_unlock(&n->lock);
	return r;
}

int notify_clear(struct notify *n, const char *kind, const char *key, const char *summary)
{
	struct cond *c;
	int r = 0;

	if (!enter(n, kind, key, &r))
		return r;
	c = find(n, kind, key);
	if (!c)
		goto out;
	if (c->st == C_PENDING_RAISE && c->last_fire_ms == 0) {
		cond_forget(n, c);      /* nothing went out: nothing to resolve */
		goto out;
	}
	c->st = C_PENDING_RESOLVE;
	(void)set_str(&c->summary, summary, NOTIFY_FIELD_MAX);
	r = cond_fire(n, c);
out:
	pthread_mutex_unlock(&n->lock);
	return r;
}

int notify_event(struct notify *n, const char *kind, const char *key,
		 const char *summary, const char *detail)
{
	struct notify_msg m = {
		.kind = kind, .key = key, .node = NULL, .summary = summary,
		.state = "event", .detail = detail,
	};
	int r = 0;

	if (!enter(n, kind, key, &r))
		return r;
	m.node = n->node;
	m.suppressed = n->suppressed;
	if (!free_kid(n) || !take_token(n)) {
		n->st.dropped++;
		n->suppressed++;
		log_warn("notify %s: %s event %s dropped (%s): %s", n->hook, kind, key,
			 free_kid(n) ? "rate limit" : "all hooks busy", summary ? summary : "");
		goto out;
	}
	r = fire(n, &m);
	if (r > 0)
		n->suppressed = 0;
out:
	pthread_mutex_unlock(&n->lock);
	return r;
}

bool notify_is_raised(struct notify *n, const char *kind, const char *key)
{
	bool r;

	if (!n || !args_ok(kind, key))
		return false;
	pthread_mutex_lock(&n->lock);
	struct cond *c = find(n, kind, key);
	r = c && c->st != C_PENDING_RESOLVE;
	pthread_mutex_unlock(&n->lock);
	return r;
}

void notify_poll(struct notify *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	reap(n);
	fire_pending(n);
	pthread_mutex_unlock(&n->lock);
}

static bool busy(struct notify *n)
{
	if (n->st.in_flight)
		return true;
	for (size_t i = 0; i < NOTIFY_CONDS_MAX; i++)
		if (n->conds[i].st == C_PENDING_RAISE || n->conds[i].st == C_PENDING_RESOLVE)
			return true;
	return false;
}

bool notify_drain(struct notify *n, unsigned max_ms)
{
	uint64_t end = mono_ms() + max_ms;
	bool more;

	if (!n)
		return true;
	for (;;) {
		pthread_mutex_lock(&n->lock);
		reap(n);
		fire_pending(n);
		more = busy(n);
		pthread_mutex_unlock(&n->lock);
		if (!more || mono_ms() >= end)
			return !more;
		struct timespec ts = { 0, 20 * 1000000L };
		(void)nanosleep(&ts, NULL);
	}
}

void notify_stats(struct notify *n, struct notify_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	*ret = n->st;
	pthread_mutex_unlock(&n->lock);
}
