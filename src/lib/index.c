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
	sqlite3_stmt *rows_st;  /* index_rows_*: the rows in path order */
	sqlite3_stmt *stage;    /* index_stage: into table p */
	char *path, *tmp;       /* the index, and path.new while writing */
	uint64_t rows;
	int64_t staged_rows;    /* rows added (+) and removed (-) by p */
	bool writing;
};

/* Changes staged for an in-place update: type NULL for a path gone. */
#define STAGE_TABLE "CREATE TABLE IF NOT EXISTS p (path BLOB PRIMARY KEY, type INTEGER," \
	" mode INTEGER, uid INTEGER, gid INTEGER, size INTEGER, mtime INTEGER, ino INTEGER)" \
	" WITHOUT ROWID;"


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
	/* a small page cache (1 MiB): the index is read once per start-up,
	 * in its own order, and written in that order, so a larger cache is
	 * no faster, and 4 MiB of it were a quarter of the source's peak at
	 * a restart.  One lock for the whole handle instead of a lock and a
	 * check per statement. */
	return exec(ix, "PRAGMA cache_size = -1024; PRAGMA locking_mode = EXCLUSIVE");
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

/* A key that older files lack: 0 then. */
static int meta_get_opt(struct index *ix, const char *key, uint64_t *ret_v)
{
	int rc = meta_get(ix, key, ret_v);

	if (rc == -EBADMSG) {
		*ret_v = 0;
		return 0;
	}
	return rc;
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

static struct index_rec rec_at(sqlite3_stmt *st, int col)
{
	return (struct index_rec){
		.type = (uint8_t)sqlite3_column_int(st, col),
		.mode = (uint32_t)sqlite3_column_int64(st, col + 1),
		.uid = (uint32_t)sqlite3_column_int64(st, col + 2),
		.gid = (uint32_t)sqlite3_column_int64(st, col + 3),
		.size = (uint64_t)sqlite3_column_int64(st, col + 4),
		.mtime_ns = sqlite3_column_int64(st, col + 5),
		.ino = (uint64_t)sqlite3_column_int64(st, col + 6),
	};
}

static void bind_rec(sqlite3_stmt *st, int col, const struct index_rec *rec)
{
	sqlite3_bind_int(st, col, rec->type);
	sqlite3_bind_int64(st, col + 1, rec->mode);
	sqlite3_bind_int64(st, col + 2, rec->uid);
	sqlite3_bind_int64(st, col + 3, rec->gid);
	sqlite3_bind_int64(st, col + 4, (sqlite3_int64)rec->size);
	sqlite3_bind_int64(st, col + 5, rec->mtime_ns);
	sqlite3_bind_int64(st, col + 6, (sqlite3_int64)rec->ino);
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
	/* read-write: updated in place (index_apply), with a rollback journal
	 * that a crash leaves for the next open to roll back */
	if ((rc = ix_db(ix, path, SQLITE_OPEN_READWRITE)) < 0 ||
	    (rc = meta_get(ix, "format", &fmt)) < 0 ||
	    (rc = meta_get(ix, "finished", &done)) < 0 ||
	    (rc = meta_get(ix, "rows", &ix->rows)) < 0 ||
	    (rc = fmt == INDEX_FORMAT && done == 1 ? 0 : -EBADMSG) < 0 ||
	    (rc = exec(ix, "PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL;"
		       STAGE_TABLE "DELETE FROM p")) < 0 ||
	    (rc = prepare_get(ix)) < 0) {
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
	    (rc = meta_get(ix, "conf_hash", &m.conf_hash)) < 0 ||
	    (rc = meta_get_opt(ix, "listed_from", &m.listed_from)) < 0)
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
		*ret_rec = rec_at(ix->get, 0);
		sqlite3_reset(ix->get);
		return 1;
	}
	sqlite3_reset(ix->get);
	return rc == SQLITE_DONE ? 0 : err_of(rc);
}

/* One transaction for the whole read (and the changes staged meanwhile). */
int index_rows_begin(struct index *ix)
{
	int rc;

	if (ix->writing || ix->rows_st)
		return -EINVAL;
	if ((rc = exec(ix, "BEGIN")) < 0)
		return rc;
	rc = err_of(sqlite3_prepare_v2(ix->db,
		"SELECT path, type, mode, uid, gid, size, mtime, ino FROM t ORDER BY path",
		-1, &ix->rows_st, NULL));
	if (rc == 0)
		rc = err_of(sqlite3_prepare_v2(ix->db,
			"INSERT OR REPLACE INTO p (path, type, mode, uid, gid, size, mtime, ino)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", -1, &ix->stage, NULL));
	if (rc == 0)
		rc = exec(ix, "DELETE FROM p");
	if (rc < 0)
		(void)index_rows_end(ix, false);
	ix->staged_rows = 0;
	return rc;
}

int index_rows_next(struct index *ix, const char **ret_path, size_t *ret_len,
		    struct index_rec *ret_rec)
{
	int rc;

	if (!ix->rows_st)
		return -EINVAL;
	rc = sqlite3_step(ix->rows_st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : err_of(rc) < 0 ? err_of(rc) : -EIO;
	const char *p = sqlite3_column_blob(ix->rows_st, 0);
	*ret_len = (size_t)sqlite3_column_bytes(ix->rows_st, 0);
	*ret_path = p ? p : "";
	*ret_rec = rec_at(ix->rows_st, 1);
	return 1;
}

int index_stage(struct index *ix, const char *path, size_t len, const struct index_rec *rec,
		bool was_there)
{
	if (!ix->stage || len > INT_MAX)
		return -EINVAL;
	sqlite3_bind_blob(ix->stage, 1, len ? path : "", (int)len, SQLITE_STATIC);
	if (rec)
		bind_rec(ix->stage, 2, rec);
	else
		for (int i = 2; i <= 8; i++)
			sqlite3_bind_null(ix->stage, i);
	int rc = sqlite3_step(ix->stage);
	sqlite3_reset(ix->stage);
	if (rc != SQLITE_DONE)
		return err_of(rc) < 0 ? err_of(rc) : -EIO;
	ix->staged_rows += !rec ? -1 : !was_there ? 1 : 0;
	return 0;
}

int index_rows_end(struct index *ix, bool keep)
{
	sqlite3_finalize(ix->rows_st);
	sqlite3_finalize(ix->stage);
	ix->rows_st = ix->stage = NULL;
	if (!sqlite3_get_autocommit(ix->db) && !keep) {
		ix->staged_rows = 0;
		return exec(ix, "ROLLBACK");
	}
	return sqlite3_get_autocommit(ix->db) ? 0 : exec(ix, "COMMIT");
}

int index_apply(struct index *ix, const struct index_meta *meta)
{
	uint64_t rows = (uint64_t)((int64_t)ix->rows + ix->staged_rows);
	int rc;

	if (ix->writing || ix->rows_st)
		return -EINVAL;
	if ((rc = exec(ix, "BEGIN IMMEDIATE")) < 0)
		return rc;
	if ((rc = exec(ix, "INSERT OR REPLACE INTO t SELECT * FROM p WHERE type IS NOT NULL;"
		       "DELETE FROM t WHERE path IN (SELECT path FROM p WHERE type IS NULL);"
		       "DELETE FROM p")) < 0 ||
	    (rc = meta_put(ix, "journal_id", meta->journal_id)) < 0 ||
	    (rc = meta_put(ix, "seq", meta->seq)) < 0 ||
	    (rc = meta_put(ix, "sink_id", meta->sink_id)) < 0 ||
	    (rc = meta_put(ix, "conf_hash", meta->conf_hash)) < 0 ||
	    (rc = meta_put(ix, "listed_from", meta->listed_from)) < 0 ||
	    (rc = meta_put(ix, "rows", rows)) < 0 ||
	    (rc = exec(ix, "COMMIT")) < 0) {
		(void)exec(ix, "ROLLBACK");
		return rc;
	}
	ix->rows = rows;
	ix->staged_rows = 0;
	return 0;
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
		       " WITHOUT ROWID;" STAGE_TABLE
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
	bind_rec(ix->put, 2, rec);
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
	    (rc = meta_put(ix, "listed_from", meta->listed_from)) < 0 ||
	    (rc = meta_put(ix, "rows", ix->rows)) < 0 ||
	    (rc = meta_put(ix, "finished", 1)) < 0 ||
	    (rc = exec(ix, "COMMIT")) < 0 ||
	    (rc = fsync_path(ix->tmp, O_RDONLY)) < 0)
		return rc;
	/* a rollback journal left by the file replaced is not this one's */
	char *hot;
	if (asprintf(&hot, "%s-journal", ix->path) < 0)
		return -ENOMEM;
	rc = unlink(hot) < 0 && errno != ENOENT ? -errno : 0;
	free(hot);
	if (rc < 0)
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
	if (asprintf(&tmp, "%s-journal", path) < 0)
		return -ENOMEM;
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
	sqlite3_finalize(ix->rows_st);
	sqlite3_finalize(ix->stage);
	if (ix->db)
		sqlite3_close(ix->db);
	if (ix->writing && ix->tmp)
		unlink(ix->tmp);
	free(ix->path);
	free(ix->tmp);
	free(ix);
}
