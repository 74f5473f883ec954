/* index: the tree index in SQLite (see index.h).  The only file that
 * includes sqlite3.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>

#include "index.h"

#define INDEX_FORMAT 1

struct index {
	sqlite3 *db;
	sqlite3_stmt *get, *put;
	char *path, *tmp;       /* the index, and path.new while writing */
	uint64_t rows;
	bool writing;
};

static int err_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW: return 0;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_CORRUPT: case SQLITE_NOTADB: case SQLITE_FORMAT: return -EBADMSG;
	case SQLITE_CANTOPEN: return -ENOENT;
	case SQLITE_READONLY: case SQLITE_PERM: return -EACCES;
	default: return -EIO;
	}
}

static int exec(struct index *ix, const char *sql)
{
	return err_of(sqlite3_exec(ix->db, sql, NULL, NULL, NULL));
}

static struct index *ix_new(const char *path)
{
	struct index *ix = calloc(1, sizeof(*ix));

	if (!ix)
		return NULL;
	if (!(ix->path = strdup(path)) || asprintf(&ix->tmp, "%s.new", path) < 0) {
		ix->tmp = NULL;
		index_close(ix);
		return NULL;
	}
	return ix;
}

static int ix_db(struct index *ix, const char *file, int flags)
{
	int rc = sqlite3_open_v2(file, &ix->db, flags | SQLITE_OPEN_NOMUTEX, NULL);

	if (rc != SQLITE_OK)
		return err_of(rc);
	/* a small page cache: the index is read once per start-up; one lock
	 * for the whole handle instead of a lock and a check per statement */
	return exec(ix, "PRAGMA cache_size = -4096; PRAGMA locking_mode = EXCLUSIVE");
}

static int meta_get(struct index *ix, const char *key, uint64_t *ret_v)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(ix->db, "SELECT v FROM meta WHERE k = ?1", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return -EBADMSG;        /* no meta table: not an index */
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret_v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -EBADMSG : err_of(rc);
}

static int meta_put(struct index *ix, const char *key, uint64_t v)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(ix->db, "INSERT OR REPLACE INTO meta (k, v) VALUES (?1, ?2)",
				    -1, &st, NULL);

	if (rc != SQLITE_OK)
		return err_of(rc);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)v);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return err_of(rc);
}

static int prepare_get(struct index *ix)
{
	return err_of(sqlite3_prepare_v2(ix->db,
		"SELECT type, mode, uid, gid, size, mtime, ino FROM t WHERE path = ?1",
		-1, &ix->get, NULL));
}

int index_open(const char *path, struct index **ret_ix)
{
	struct index *ix;
	uint64_t fmt = 0, done = 0;
	int rc;

	if (access(path, F_OK) < 0)
		return -errno;
	if (!(ix = ix_new(path)))
		return -ENOMEM;
	if ((rc = ix_db(ix, path, SQLITE_OPEN_READONLY)) < 0 ||
	    (rc = meta_get(ix, "format", &fmt)) < 0 ||
	    (rc = meta_get(ix, "finished", &done)) < 0 ||
	    (rc = meta_get(ix, "rows", &ix->rows)) < 0 ||
	    (rc = fmt == INDEX_FORMAT && done == 1 ? 0 : -EBADMSG) < 0 ||
	    (rc = prepare_get(ix)) < 0 || (rc = exec(ix, "BEGIN")) < 0) {
		index_close(ix);
		return rc;
	}
	*ret_ix = ix;
	return 0;
}

int index_meta(struct index *ix, struct index_meta *ret_meta)
{
	struct index_meta m = { .rows = ix->rows };
	int rc;

	if ((rc = meta_get(ix, "journal_id", &m.journal_id)) < 0 ||
	    (rc = meta_get(ix, "seq", &m.seq)) < 0 ||
	    (rc = meta_get(ix, "sink_id", &m.sink_id)) < 0 ||
	    (rc = meta_get(ix, "conf_hash", &m.conf_hash)) < 0)
		return rc;
	*ret_meta = m;
	return 0;
}

int index_lookup(struct index *ix, const char *path, size_t len, struct index_rec *ret_rec)
{
	int rc;

	if (!ix->get || len > INT_MAX)
		return -EINVAL;
	sqlite3_bind_blob(ix->get, 1, len ? path : "", (int)len, SQLITE_STATIC);
	rc = sqlite3_step(ix->get);
	if (rc == SQLITE_ROW) {
		ret_rec->type = (uint8_t)sqlite3_column_int(ix->get, 0);
		ret_rec->mode = (uint32_t)sqlite3_column_int64(ix->get, 1);
		ret_rec->uid = (uint32_t)sqlite3_column_int64(ix->get, 2);
		ret_rec->gid = (uint32_t)sqlite3_column_int64(ix->get, 3);
		ret_rec->size = (uint64_t)sqlite3_column_int64(ix->get, 4);
		ret_rec->mtime_ns = sqlite3_column_int64(ix->get, 5);
		ret_rec->ino = (uint64_t)sqlite3_column_int64(ix->get, 6);
		sqlite3_reset(ix->get);
		return 1;
	}
	sqlite3_reset(ix->get);
	return rc == SQLITE_DONE ? 0 : err_of(rc);
}

static int path_cmp(sqlite3_stmt *a, sqlite3_stmt *b)
{
	int na = sqlite3_column_bytes(a, 0), nb = sqlite3_column_bytes(b, 0);
	const void *pa = sqlite3_column_blob(a, 0), *pb = sqlite3_column_blob(b, 0);
	int c = memcmp(pa ? pa : "", pb ? pb : "", (size_t)(na < nb ? na : nb));

	return c != 0 ? c : na - nb;
}

/* Both tables in path order (their primary key, memcmp order), merged. */
int index_each_missing(struct index *ix, struct index *other,
		       int (*fn)(void *ctx, const char *path, size_t len), void *ctx)
{
	static const char *sql = "SELECT path FROM t ORDER BY path";
	sqlite3_stmt *a = NULL, *b = NULL;
	int ra, rb = SQLITE_DONE, r = 0;

	if (sqlite3_prepare_v2(ix->db, sql, -1, &a, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(other->db, sql, -1, &b, NULL) != SQLITE_OK) {
		r = -EIO;
		goto out;
	}
	rb = sqlite3_step(b);
	while (r == 0 && (ra = sqlite3_step(a)) == SQLITE_ROW) {
		int c = -1;
		while (rb == SQLITE_ROW && (c = path_cmp(a, b)) > 0)
			rb = sqlite3_step(b);
		if (rb == SQLITE_ROW && c == 0)
			continue;
		if (rb != SQLITE_ROW && rb != SQLITE_DONE)
			break;
		const char *p = sqlite3_column_blob(a, 0);
		r = fn(ctx, p ? p : "", (size_t)sqlite3_column_bytes(a, 0));
	}
	if (r == 0 && ((ra != SQLITE_DONE && ra != SQLITE_ROW) ||
		       (rb != SQLITE_DONE && rb != SQLITE_ROW)))
		r = err_of(ra != SQLITE_DONE && ra != SQLITE_ROW ? ra : rb);
	if (r == 0 && ra == SQLITE_ROW)
		r = -EIO;                /* left the loop on an error of b */
out:
	sqlite3_finalize(a);
	sqlite3_finalize(b);
	return r;
}

int index_create(const char *path, struct index **ret_ix)
{
	struct index *ix = ix_new(path);
	int rc;

	if (!ix)
		return -ENOMEM;
	if (unlink(ix->tmp) < 0 && errno != ENOENT) {
		rc = -errno;
		index_close(ix);
		return rc;
	}
	ix->writing = true;
	/* no rollback journal, no syncs: the file only counts once finished */
	if ((rc = ix_db(ix, ix->tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) < 0 ||
	    (rc = exec(ix, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
		       "CREATE TABLE meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
		       "CREATE TABLE t (path BLOB PRIMARY KEY, type INTEGER, mode INTEGER,"
		       " uid INTEGER, gid INTEGER, size INTEGER, mtime INTEGER, ino INTEGER)"
		       " WITHOUT ROWID;"
		       "BEGIN")) < 0 ||
	    (rc = err_of(sqlite3_prepare_v2(ix->db,
		"INSERT OR REPLACE INTO t (path, type, mode, uid, gid, size, mtime, ino)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", -1, &ix->put, NULL))) < 0) {
		index_close(ix);
		return rc;
	}
	*ret_ix = ix;
	return 0;
}

int index_put(struct index *ix, const char *path, size_t len, const struct index_rec *rec)
{
	if (!ix->put || len > INT_MAX)
		return -EINVAL;
	sqlite3_bind_blob(ix->put, 1, len ? path : "", (int)len, SQLITE_STATIC);
	sqlite3_bind_int(ix->put, 2, rec->type);
	sqlite3_bind_int64(ix->put, 3, rec->mode);
	sqlite3_bind_int64(ix->put, 4, rec->uid);
	sqlite3_bind_int64(ix->put, 5, rec->gid);
	sqlite3_bind_int64(ix->put, 6, (sqlite3_int64)rec->size);
	sqlite3_bind_int64(ix->put, 7, rec->mtime_ns);
	sqlite3_bind_int64(ix->put, 8, (sqlite3_int64)rec->ino);
	int rc = sqlite3_step(ix->put);
	sqlite3_reset(ix->put);
	if (rc != SQLITE_DONE)
		return err_of(rc) < 0 ? err_of(rc) : -EIO;
	ix->rows++;
	return 0;
}

static int fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int fsync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	int rc;

	if (!dir)
		return -ENOMEM;
	rc = fsync_path(dir, O_RDONLY | O_DIRECTORY);
	free(dir);
	return rc;
}

int index_finish(struct index *ix, const struct index_meta *meta)
{
	int rc;

	if (!ix->writing)
		return -EINVAL;
	sqlite3_finalize(ix->put);
	ix->put = NULL;
	if ((rc = meta_put(ix, "format", INDEX_FORMAT)) < 0 ||
	    (rc = meta_put(ix, "journal_id", meta->journal_id)) < 0 ||
	    (rc = meta_put(ix, "seq", meta->seq)) < 0 ||
	    (rc = meta_put(ix, "sink_id", meta->sink_id)) < 0 ||
	    (rc = meta_put(ix, "conf_hash", meta->conf_hash)) < 0 ||
	    (rc = meta_put(ix, "rows", ix->rows)) < 0 ||
	    (rc = meta_put(ix, "finished", 1)) < 0 ||
	    (rc = exec(ix, "COMMIT")) < 0 ||
	    (rc = fsync_path(ix->tmp, O_RDONLY)) < 0)
		return rc;
	if (rename(ix->tmp, ix->path) < 0)
		return -errno;
	ix->writing = false;
	if ((rc = fsync_parent(ix->path)) < 0)
		return rc;
	return prepare_get(ix);
}

int index_remove(const char *path)
{
	char *tmp;

	if (asprintf(&tmp, "%s.new", path) < 0)
		return -ENOMEM;
	int rc = unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	if (unlink(tmp) < 0 && errno != ENOENT && rc == 0)
		rc = -errno;
	free(tmp);
	return rc;
}

void index_close(struct index *ix)
{
	if (!ix)
		return;
	sqlite3_finalize(ix->get);
	sqlite3_finalize(ix->put);
	if (ix->db)
		sqlite3_close(ix->db);
	if (ix->writing && ix->tmp)
		unlink(ix->tmp);
	free(ix->path);
	free(ix->tmp);
	free(ix);
}
