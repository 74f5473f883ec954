/* test_apply: the sink's changes to a mirror tree, in a temporary directory.
 * "test_apply --bench" instead times 20,000 files of 4 KiB in 200
 * directories, committed in batches of 1000. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "apply.h"
#include "fsmeta.h"
#include "tmptree.h"

struct fixture {
	char dir[TMPTREE_DIR_MAX];
	int rootfd, dfd;
	struct apply *a;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct apply_opts o = { .meta_flags = FSMETA_OWNER | FSMETA_XATTRS };
	char cmd[1200];

	if (!fx || tmptree_make(fx->dir, "apply", NULL) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "cd %s && mkdir root out && echo secret > out/keep && "
		 "ln -s ../out root/evil && ln -s /etc root/etc", fx->dir);
	if (system(cmd) != 0)
		return -1;
	fx->dfd = open(fx->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fx->rootfd = openat(fx->dfd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fx->a = apply_new(fx->rootfd, &o);
	if (fx->dfd < 0 || fx->rootfd < 0 || !fx->a)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	int r;

	apply_free(fx->a);
	close(fx->rootfd);
	close(fx->dfd);
	r = tmptree_remove(fx->dir);
	free(fx);
	return r;
}

static void shell(struct fixture *fx, const char *cmd)
{
	tmptree_shell(fx->dir, "root", cmd);
}

static struct entry ent(const char *path, int type, unsigned mode)
{
	struct entry e = { .type = (uint8_t)type, .mode = mode };

	e.path = (char *)path;
	e.path_len = strlen(path);
	e.mtime_sec = 1234567890;
	e.mtime_nsec = 987654321;
	return e;
}

/* Write content through apply_file_* in chunks of step bytes. */
static int put_file(struct apply *a, const struct entry *e, const void *data, size_t step,
		    const uint8_t *digest)
{
	uint8_t d[HASH_LEN];
	struct apply_file *f;
	size_t off, n;
	int r;

	r = apply_file_open(a, e, &f);
	if (r < 0)
		return r;
	for (off = 0; off < e->size; off += n) {
		n = e->size - off < step ? e->size - off : step;
		r = apply_file_write(f, (const uint8_t *)data + off, n);
		if (r < 0) {
			apply_file_abort(f);
			return r;
		}
	}
	hash_buf(data, e->size, d);
	return apply_file_close(f, digest ? digest : d);
}


static int count_temps(struct fixture *fx)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd), "test -z \"$(find %s/root -name '.mirrord.tmp.*')\"", fx->dir);
	return system(cmd) == 0 ? 0 : 1;
}

/* The two halves of a commit: in place first, durable at the next syncfs
 * (apply_sync, or the first syncfs of the next commit). */
static void test_commit_visible_then_sync(void **state)
{
	struct fixture *fx = *state;
	struct entry e = ent("v", ENT_FILE, 0644), e2 = ent("w", ENT_FILE, 0644);

	e.size = e2.size = 2;
	assert_false(apply_unsynced(fx->a));
	assert_int_equal(put_file(fx->a, &e, "v\n", 2, NULL), 0);
	assert_int_equal(apply_commit_visible(fx->a), 0);
	assert_int_equal(apply_pending(fx->a), 0);
	assert_string_equal(tmptree_slurp(fx->rootfd, "v"), "v\n");
	assert_true(apply_unsynced(fx->a));
	assert_int_equal(apply_sync(fx->a), 0);
	assert_false(apply_unsynced(fx->a));
	assert_int_equal(apply_sync(fx->a), 0);          /* nothing owed: no-op */
	/* the next commit's first syncfs covers the batch before it */
	assert_int_equal(put_file(fx->a, &e2, "w\n", 2, NULL), 0);
	assert_int_equal(apply_commit_visible(fx->a), 0);
	assert_true(apply_unsynced(fx->a));
	assert_int_equal(apply_commit_visible(fx->a), 0); /* nothing pending */
	assert_false(apply_unsynced(fx->a));
	assert_string_equal(tmptree_slurp(fx->rootfd, "w"), "w\n");
	/* apply_commit leaves nothing unsynced */
	assert_int_equal(put_file(fx->a, &e, "V\n", 2, NULL), 0);
	assert_int_equal(apply_commit(fx->a), 0);
	assert_false(apply_unsynced(fx->a));
	assert_string_equal(tmptree_slurp(fx->rootfd, "v"), "V\n");
	assert_int_equal(count_temps(fx), 0);
}

static void test_new_file(void **state)
{
	struct fixture *fx = *state;
	struct entry e = ent("f", ENT_FILE, 04640), got = { 0 };
	const char *data = "hello, mirror\n";
	struct stat st;

	e.size = strlen(data);
	e.uid = 321;
	e.gid = 654;
	assert_int_equal(put_file(fx->a, &e, data, 3, NULL), 0);
	assert_int_equal(apply_pending(fx->a), 1);
	assert_int_equal(fstatat(fx->rootfd, "f", &st, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(apply_commit(fx->a), 0);
	assert_int_equal(apply_pending(fx->a), 0);
	assert_string_equal(tmptree_slurp(fx->rootfd, "f"), data);
	assert_int_equal(apply_lookup(fx->a, "f", 1, &got), 0);
	assert_true(fsmeta_equal(&e, &got, FSMETA_OWNER | FSMETA_XATTRS));
	assert_int_equal(got.mode, 04640);
	assert_int_equal(got.mtime_nsec, 987654321);
	assert_int_equal(got.uid, 321);
	entry_clear(&got);
	assert_int_equal(apply_stats(fx->a)->files_written, 1);
	assert_int_equal(apply_stats(fx->a)->bytes_written, e.size);
	assert_int_equal(count_temps(fx), 0);
}

/* New files are created with their mode when that makes them right at once
 * (no chown, chmod or xattr read after), and the usual way when the
 * directory would give them something else: a default ACL, a set-group-ID
 * bit, a umask that takes bits away, other owners, setuid bits.  The
 * directory is looked at again when the next file is in another one. */
static void test_fresh_files(void **state)
{
	struct fixture *fx = *state;
	mode_t old = umask(022);
	struct apply_opts o = { .meta_flags = FSMETA_OWNER | FSMETA_XATTRS };
	struct apply *a = apply_new(fx->rootfd, &o);
	static const uint8_t xattr[] = { 0, 6, 'u', 's', 'e', 'r', '.', 'x', 0, 0, 0, 1, 'v' };
	struct {
		const char *path;
		unsigned mode, uid, gid;
		bool with_xattr;
	} c[] = {
		{ "plain/a", 0644, 0, 0, false },
		{ "plain/b", 0600, 0, 0, true },
		{ "plain/c", 0666, 0, 0, false },        /* the umask would drop 022 */
		{ "plain/d", 02755, 0, 0, false },       /* setgid */
		{ "plain/e", 0640, 321, 654, false },    /* another owner */
		{ "acl/a", 0644, 0, 0, false },          /* the default ACL must go */
		{ "plain/f", 0444, 0, 0, false },        /* back to a plain one */
		{ "sgid/a", 0644, 0, 0, false },         /* gid 777 would be inherited */
		{ "acl/b", 0640, 0, 0, true },
	};

	umask(old);
	assert_non_null(a);
	shell(fx, "mkdir plain acl sgid && setfacl -d -m u:12345:rwx acl && "
		  "chgrp 777 sgid && chmod 2775 sgid");
	/* one commit at the end: the directory cache goes from one to the next */
	for (int pass = 0; pass < 2; pass++)
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct entry e = ent(c[i].path, ENT_FILE, c[i].mode), got = { 0 };
		e.size = 3;
		e.uid = c[i].uid;
		e.gid = c[i].gid;
		if (c[i].with_xattr) {
			e.xattrs = (uint8_t *)xattr;
			e.xattrs_len = sizeof(xattr);
		}
		if (pass == 0) {
			assert_int_equal(put_file(a, &e, "abc", 3, NULL), 0);
			continue;
		}
		if (i == 0)
			assert_int_equal(apply_commit(a), 0);
		assert_int_equal(apply_lookup(a, e.path, e.path_len, &got), 0);
		assert_int_equal(got.mode, c[i].mode);
		assert_int_equal(got.uid, c[i].uid);
		assert_int_equal(got.gid, c[i].gid);
		assert_int_equal(got.xattrs_len, e.xattrs_len);
		assert_true(fsmeta_equal(&e, &got, FSMETA_OWNER | FSMETA_XATTRS));
		entry_clear(&got);
	}
	apply_free(a);
	assert_int_equal(count_temps(fx), 0);
}

static void test_bad_digest(void **state)
{
	struct fixture *fx = *state;
	struct entry e = ent("f", ENT_FILE, 0644);
	uint8_t wrong[HASH_LEN] = { 1 };
	struct apply_file *f;
	struct stat st;

	e.size = 5;
	assert_int_equal(put_file(fx->a, &e, "abcde", 2, wrong), -EBADMSG);
	assert_int_equal(apply_file_open(fx->a, &e, &f), 0);     /* short */
	assert_int_equal(apply_file_write(f, "abcd", 4), 0);
	hash_buf("abcd", 4, wrong);
	assert_int_equal(apply_file_close(f, wrong), -EBADMSG);
	assert_int_equal(apply_file_open(fx->a, &e, &f), 0);     /* long */
	assert_int_equal(apply_file_write(f, "abcdef", 6), -EBADMSG);
	apply_file_abort(f);
	assert_int_equal(apply_pending(fx->a), 0);
	assert_int_equal(apply_commit(fx->a), 0);
	assert_int_equal(fstatat(fx->rootfd, "f", &st, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(count_temps(fx), 0);
}


/* Offer an append of add to path, whose copy should hold the base bytes of
 * have (tail digest computed from have, as the source does). */
static int try_append(struct fixture *fx, const char *path, const char *have, size_t base,
		      const char *add, size_t step)
{
	uint32_t tail = base < APPEND_TAIL_MAX ? (uint32_t)base : APPEND_TAIL_MAX;
	uint8_t td[HASH_LEN], d[HASH_LEN];
	struct apply_append *ap;
	size_t len = strlen(add), n;
	int r;

	hash_buf(have + base - tail, tail, td);
	r = apply_append_open(fx->a, path, strlen(path), base, len, tail, td, &ap);
	if (r < 0)
		return r;
	for (size_t off = 0; off < len; off += n) {
		n = len - off < step ? len - off : step;
		if ((r = apply_append_write(ap, add + off, n)) < 0) {
			apply_append_abort(ap);
			return r;
		}
	}
	hash_buf(add, len, d);
	return apply_append_close(fx->a, ap, d);
}

static void test_append_in_place(void **state)
{
	struct fixture *fx = *state;
	struct stat st0, st1;

	shell(fx, "printf 'line one\\n' > log && ln -s log sym && mkdir d && mkfifo p");
	assert_int_equal(fstatat(fx->rootfd, "log", &st0, 0), 0);
	assert_int_equal(try_append(fx, "log", "line one\n", 9, "line two\n", 4), 0);
	assert_string_equal(tmptree_slurp(fx->rootfd, "log"), "line one\nline two\n");
	assert_int_equal(fstatat(fx->rootfd, "log", &st1, 0), 0);
	assert_true(st0.st_ino == st1.st_ino);     /* in place, no temp file */
	assert_int_equal(apply_pending(fx->a), 0);
	assert_int_equal(count_temps(fx), 0);
	/* the copy must end exactly at base, and end the same way */
	assert_int_equal(try_append(fx, "log", "line one\nline two\n", 9, "x", 1), -ESTALE);
	assert_int_equal(try_append(fx, "log", "line 1\nline two\nmore", 18, "x", 1),
			 -ESTALE);
	assert_int_equal(try_append(fx, "log", "LINE one\nline two\n", 18, "x", 1), -ESTALE);
	/* not a regular file, or absent: never written */
	assert_int_equal(try_append(fx, "sym", "line one\n", 9, "x", 1), -ESTALE);
	assert_true(try_append(fx, "d", "", 0, "x", 1) < 0);
	assert_true(try_append(fx, "p", "", 0, "x", 1) < 0);
	assert_int_equal(try_append(fx, "none", "", 0, "x", 1), -ENOENT);
	assert_int_equal(try_append(fx, "evil/keep", "secret\n", 7, "x", 1), -ELOOP);
	shell(fx, "ln ../out/keep shared");        /* a name outside the tree */
	assert_int_equal(try_append(fx, "shared", "secret\n", 7, "x", 1), -ESTALE);
	assert_string_equal(tmptree_slurp(fx->dfd, "out/keep"), "secret\n");
	assert_string_equal(tmptree_slurp(fx->rootfd, "log"), "line one\nline two\n");
}

/* Bytes that do not add up are cut back: the copy ends at base again. */
static void test_append_bad_content(void **state)
{
	struct fixture *fx = *state;
	const char *have = "0123456789";
	uint8_t td[HASH_LEN], wrong[HASH_LEN] = { 7 };
	struct apply_append *ap;

	shell(fx, "printf 0123456789 > log");
	hash_buf(have, 10, td);
	assert_int_equal(apply_append_open(fx->a, "log", 3, 10, 4, 10, td, &ap), 0);
	assert_int_equal(apply_append_write(ap, "abcd", 4), 0);
	assert_int_equal(apply_append_close(fx->a, ap, wrong), -EBADMSG);
	assert_string_equal(tmptree_slurp(fx->rootfd, "log"), have);
	assert_int_equal(apply_append_open(fx->a, "log", 3, 10, 4, 10, td, &ap), 0);
	assert_int_equal(apply_append_write(ap, "abcde", 5), -EBADMSG);   /* too long */
	assert_int_equal(apply_append_write(ap, "ab", 2), 0);
	hash_buf("ab", 2, wrong);
	assert_int_equal(apply_append_close(fx->a, ap, wrong), -EBADMSG); /* too short */
	assert_string_equal(tmptree_slurp(fx->rootfd, "log"), have);
	assert_int_equal(apply_append_open(fx->a, "log", 3, 10, 4, 10, td, &ap), 0);
	assert_int_equal(apply_append_write(ap, "ab", 2), 0);
	assert_int_equal(apply_append_abort(ap), 0); /* the source gave up */
	assert_string_equal(tmptree_slurp(fx->rootfd, "log"), have);
	assert_int_equal(apply_append_abort(NULL), 0);
}

/* A queued replacement of the target is committed before the check, so the
 * append lands on the new content, not on the file it replaces. */
static void test_append_after_pending(void **state)
{
	struct fixture *fx = *state;
	struct entry e = ent("log", ENT_FILE, 0644);

	shell(fx, "printf old > log");
	e.size = 5;
	assert_int_equal(put_file(fx->a, &e, "fresh", 5, NULL), 0);
	assert_int_equal(apply_pending(fx->a), 1);
	assert_int_equal(try_append(fx, "log", "fresh", 5, "+more", 2), 0);
	assert_int_equal(apply_pending(fx->a), 0);
	assert_string_equal(tmptree_slurp(fx->rootfd, "log"), "fresh+more");
}

/* 64 MiB with 3 data blocks: the holes must stay holes. */
static void test_sparse(void **state)
{
	struct fixture *fx = *state;
	struct entry e = ent("sparse", ENT_FILE, 0600), got = { 0 };
	uint8_t want[HASH_LEN], have[HASH_LEN];
	size_t size = 64u << 20;
	uint8_t *data = calloc(1, size);
	struct stat st;
	int fd;

	assert_non_null(data);
	memset(data + 8192, 'a', 100);            /* inside one block */
	memset(data + (32u << 20) - 10, 'b', 20); /* straddles two blocks */
	data[size - 1] = 'z';                     /* last byte */
	e.size = size;
	assert_int_equal(put_file(fx->a, &e, data, 65536 + 7, NULL), 0);
	assert_int_equal(apply_commit(fx->a), 0);
	assert_int_equal(fstatat(fx->rootfd, "sparse", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_size, size);
	assert_true(st.st_blocks * 512 <= 64 * 1024);
	fd = openat(fx->rootfd, "sparse", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(hash_fd(fd, have), 0);
	close(fd);
	hash_buf(data, size, want);
	assert_memory_equal(want, have, HASH_LEN);
	/* an all-zero file is a single hole */
	e = ent("zero", ENT_FILE, 0600);
	e.size = 1u << 20;
	memset(data, 0, size);
	assert_int_equal(put_file(fx->a, &e, data, 4096, NULL), 0);
	assert_int_equal(apply_commit(fx->a), 0);
	assert_int_equal(apply_lookup(fx->a, "zero", 4, &got), 0);
	assert_int_equal(got.size, 1u << 20);
	assert_int_equal(fstatat(fx->rootfd, "zero", &st, 0), 0);
	assert_int_equal(st.st_blocks, 0);
	entry_clear(&got);
	free(data);
}

static void test_reader_atomicity(void **state)
{
	struct fixture *fx = *state;
	struct entry e = ent("f", ENT_FILE, 0644);
	struct apply_file *f;
	uint8_t d[HASH_LEN];

	shell(fx, "echo old > f");
	e.size = 4;
	assert_int_equal(apply_file_open(fx->a, &e, &f), 0);
	assert_int_equal(apply_file_basis(f) >= 0, 1);
	assert_int_equal(apply_file_write(f, "new\n", 4), 0);
	assert_string_equal(tmptree_slurp(fx->rootfd, "f"), "old\n");
	hash_buf("new\n", 4, d);
	assert_int_equal(apply_file_close(f, d), 0);
	assert_string_equal(tmptree_slurp(fx->rootfd, "f"), "old\n");
	assert_int_equal(apply_commit(fx->a), 0);
	assert_string_equal(tmptree_slurp(fx->rootfd, "f"), "new\n");
	/* a basis that is not a regular file is no basis */
	shell(fx, "mkfifo fifo && ln -s f sl");
	e = ent("fifo", ENT_FILE, 0644);
	assert_int_equal(apply_file_open(fx->a, &e, &f), 0);
	assert_int_equal(apply_file_basis(f), -ENOENT);
	apply_file_abort(f);
	e = ent("sl", ENT_FILE, 0644);
	assert_int_equal(apply_file_open(fx->a, &e, &f), 0);
	assert_int_equal(apply_file_basis(f), -ENOENT);
	apply_file_abort(f);
	assert_int_equal(count_temps(fx), 0);
}

static void test_replace_types(void **state)
{
	struct fixture *fx = *state;
	struct entry d = ent("x", ENT_DIR, 0755), f = ent("y", ENT_FILE, 0600), got = { 0 };

	shell(fx, "echo a > x && mkdir -p y/sub/deeper && echo b > y/sub/deeper/z");
	assert_int_equal(apply_entry(fx->a, &d), 0);
	f.size = 2;
	assert_int_equal(put_file(fx->a, &f, "hi", 2, NULL), 0);
	assert_int_equal(apply_commit(fx->a), 0);
	assert_int_equal(apply_lookup(fx->a, "x", 1, &got), 0);
	assert_int_equal(got.type, ENT_DIR);
	assert_int_equal(got.mode, 0755);
	assert_int_equal(got.mtime_nsec, 987654321);
	entry_clear(&got);
	assert_int_equal(apply_lookup(fx->a, "y", 1, &got), 0);
	assert_int_equal(got.type, ENT_FILE);
	entry_clear(&got);
	assert_string_equal(tmptree_slurp(fx->rootfd, "y"), "hi");
}

static void test_symlink(void **state)
{
	struct fixture *fx = *state;
	struct entry e = ent("l", ENT_SYMLINK, 0777), got = { 0 };

	e.link = "one";
	e.link_len = 3;
	e.uid = 77;
	assert_int_equal(apply_entry(fx->a, &e), 0);
	e.link = "two/three";
	e.link_len = 9;
	assert_int_equal(apply_entry(fx->a, &e), 0);
	assert_int_equal(apply_lookup(fx->a, "l", 1, &got), 0);
	assert_int_equal(got.type, ENT_SYMLINK);
	assert_string_equal(got.link, "two/three");
	assert_int_equal(got.uid, 77);
	assert_true(fsmeta_equal(&e, &got, FSMETA_OWNER));
	entry_clear(&got);
	shell(fx, "mkdir -p d/e && touch d/e/f");    /* a directory in the way */
	e = ent("d", ENT_SYMLINK, 0777);
	e.link = "/etc";
	e.link_len = 4;
	assert_int_equal(apply_entry(fx->a, &e), 0);
	assert_int_equal(apply_lookup(fx->a, "d", 1, &got), 0);
	assert_string_equal(got.link, "/etc");
	entry_clear(&got);
	e.link = "a\0b";
	e.link_len = 3;
	assert_int_equal(apply_entry(fx->a, &e), -EINVAL);
	assert_int_equal(count_temps(fx), 0);
}

static void test_special_nodes(void **state)
{
	struct fixture *fx = *state;
	struct entry e = ent("p", ENT_FIFO, 0620), got = { 0 };

	assert_int_equal(apply_entry(fx->a, &e), 0);
	assert_int_equal(apply_lookup(fx->a, "p", 1, &got), 0);
	assert_true(fsmeta_equal(&e, &got, 0));
	entry_clear(&got);
	e = ent("null", ENT_CHR, 0666);
	e.rdev = makedev(1, 3);
	assert_int_equal(apply_entry(fx->a, &e), 0);
	assert_int_equal(apply_lookup(fx->a, "null", 4, &got), 0);
	assert_int_equal(got.type, ENT_CHR);
	assert_true(fsmeta_equal(&e, &got, 0));
	entry_clear(&got);
	/* metadata only, on an existing file; a FIFO is not a file */
	shell(fx, "echo data > reg");
	e = ent("reg", ENT_FILE, 0404);
	assert_int_equal(apply_entry(fx->a, &e), 0);
	assert_int_equal(apply_lookup(fx->a, "reg", 3, &got), 0);
	assert_int_equal(got.mode, 0404);
	assert_int_equal(got.mtime_sec, 1234567890);
	entry_clear(&got);
	e = ent("p", ENT_FILE, 0404);
	assert_int_equal(apply_entry(fx->a, &e), -ESTALE);
	e = ent("absent", ENT_FILE, 0404);
	assert_int_equal(apply_entry(fx->a, &e), -ENOENT);
}

/* A file of the tree that is also a name of a file outside it (nlink > 1):
 * its metadata is not changed in place, which would change the outside file
 * too; apply_entry refuses with -EMLINK (the receiver then sends the content
 * through a temporary file and a rename).  When all names are in the tree,
 * in place as usual. */
static void test_meta_shared_inode(void **state)
{
	struct fixture *fx = *state;
	struct entry e = ent("shared", ENT_FILE, 0666);
	struct stat st;

	shell(fx, "chmod 600 ../out/keep && ln ../out/keep shared");
	e.size = 7;
	assert_int_equal(apply_entry(fx->a, &e), -EMLINK);
	assert_int_equal(fstatat(fx->dfd, "out/keep", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_nlink, 2);
	assert_true(st.st_mtim.tv_sec != 1234567890);
	assert_string_equal(tmptree_slurp(fx->dfd, "out/keep"), "secret\n");
	/* new content replaces the name and leaves the outside file alone */
	assert_int_equal(put_file(fx->a, &e, "public\n", 7, NULL), 0);
	assert_int_equal(apply_commit(fx->a), 0);
	assert_int_equal(fstatat(fx->rootfd, "shared", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0666);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(fstatat(fx->dfd, "out/keep", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_nlink, 1);
	assert_string_equal(tmptree_slurp(fx->dfd, "out/keep"), "secret\n");
	/* a single name: metadata in place as before */
	e.mode = 0640;
	assert_int_equal(apply_entry(fx->a, &e), 0);
	assert_int_equal(fstatat(fx->rootfd, "shared", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* all names inside the tree (a group of the mirror): in place too */
	shell(fx, "mkdir -p g/h && ln shared g/h/again");
	e.mode = 0604;
	assert_int_equal(apply_entry(fx->a, &e), 0);
	assert_int_equal(fstatat(fx->rootfd, "g/h/again", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0604);
	assert_int_equal(st.st_nlink, 2);
}

static void test_hardlink(void **state)
{
	struct fixture *fx = *state;
	struct entry f = ent("a/t", ENT_FILE, 0644), l = ent("b/l", ENT_HARDLINK, 0644);
	struct stat s1, s2;

	shell(fx, "mkdir a b && echo old > b/l");
	f.size = 3;
	assert_int_equal(put_file(fx->a, &f, "abc", 3, NULL), 0);
	l.link = "a/t";
	l.link_len = 3;
	assert_int_equal(apply_entry(fx->a, &l), 0);
	assert_string_equal(tmptree_slurp(fx->rootfd, "b/l"), "old\n");
	assert_int_equal(apply_pending(fx->a), 2);
	assert_int_equal(apply_commit(fx->a), 0);
	assert_int_equal(fstatat(fx->rootfd, "a/t", &s1, 0), 0);
	assert_int_equal(fstatat(fx->rootfd, "b/l", &s2, 0), 0);
	assert_int_equal(s1.st_ino, s2.st_ino);
	assert_int_equal(s1.st_nlink, 2);
	assert_int_equal(apply_entry(fx->a, &l), 0);   /* already linked: no-op */
	assert_int_equal(apply_commit(fx->a), 0);
	assert_int_equal(fstatat(fx->rootfd, "b/l", &s2, 0), 0);
	assert_int_equal(s1.st_ino, s2.st_ino);
	assert_int_equal(count_temps(fx), 0);
	l.link = "../x";
	l.link_len = 4;
	assert_int_equal(apply_entry(fx->a, &l), -EINVAL);
}

static void test_dir_meta_deferred(void **state)
{
	struct fixture *fx = *state;
	struct entry d = ent("d", ENT_DIR, 0750), s = ent("d/s", ENT_DIR, 0700);
	struct entry f = ent("d/s/f", ENT_FILE, 0600), got = { 0 };

	d.mtime_sec = 1000;
	s.mtime_sec = 2000;
	assert_int_equal(apply_entry(fx->a, &d), 0);
	assert_int_equal(apply_entry(fx->a, &s), 0);
	f.size = 1;
	assert_int_equal(put_file(fx->a, &f, "x", 1, NULL), 0);
	assert_int_equal(apply_pending(fx->a), 3);
	assert_int_equal(apply_commit(fx->a), 0);
	assert_int_equal(apply_lookup(fx->a, "d", 1, &got), 0);
	assert_true(fsmeta_equal(&d, &got, FSMETA_OWNER | FSMETA_XATTRS));
	entry_clear(&got);
	assert_int_equal(apply_lookup(fx->a, "d/s", 3, &got), 0);
	assert_true(fsmeta_equal(&s, &got, FSMETA_OWNER | FSMETA_XATTRS));
	entry_clear(&got);
	d = ent("", ENT_DIR, 0711);
	assert_int_equal(apply_entry(fx->a, &d), 0);
	assert_int_equal(apply_commit(fx->a), 0);
	assert_int_equal(apply_lookup(fx->a, "", 0, &got), 0);
	assert_int_equal(got.mode, 0711);
	assert_int_equal(got.type, ENT_DIR);
	entry_clear(&got);
}

static void test_delete_deep(void **state)
{
	struct fixture *fx = *state;
	struct entry got = { 0 };

	shell(fx, "p=t; for i in $(seq 100); do p=$p/d$i; done; mkdir -p $p && touch $p/f && "
		  "ln -s ../../out t/d1/out && ln -s /etc t/d1/etc && mkfifo t/d1/p && "
		  "touch t/d1/d2/a t/d1/d2/b && chmod 000 t/d1/d2");
	assert_int_equal(apply_delete(fx->a, "t", 1), 0);
	assert_int_equal(apply_lookup(fx->a, "t", 1, &got), 0);
	assert_int_equal(got.type, ENT_NONE);
	entry_clear(&got);
	assert_int_equal(apply_delete(fx->a, "t", 1), 0);          /* absent */
	assert_int_equal(apply_delete(fx->a, "nope/x", 6), 0);
	assert_int_equal(apply_delete(fx->a, "", 0), -EINVAL);
	assert_string_equal(tmptree_slurp(fx->dfd, "out/keep"), "secret\n");
	assert_int_equal(apply_stats(fx->a)->deletes, 3);   /* absent counts */
}

static void test_rename(void **state)
{
	struct fixture *fx = *state;

	shell(fx, "mkdir -p a/b c/old && echo 1 > a/b/f && echo 2 > c/old/g && echo 3 > file");
	assert_int_equal(apply_rename(fx->a, "a", 1, "c", 1), 0);   /* over non-empty dir */
	assert_string_equal(tmptree_slurp(fx->rootfd, "c/b/f"), "1\n");
	assert_null(tmptree_slurp(fx->rootfd, "c/old/g"));
	assert_int_equal(apply_rename(fx->a, "c/b", 3, "file", 4), 0);  /* dir over file */
	assert_string_equal(tmptree_slurp(fx->rootfd, "file/f"), "1\n");
	assert_int_equal(apply_rename(fx->a, "file", 4, "file/f/x", 8), -ENOTDIR);
	assert_int_equal(apply_rename(fx->a, "c/b", 3, "x", 1), -ENOENT);
	assert_int_equal(apply_rename(fx->a, "file/f", 6, "file", 4), -EINVAL);
	assert_int_equal(apply_rename(fx->a, "file", 4, "no/such", 7), -ENOENT);
	assert_int_equal(apply_stats(fx->a)->renames, 2);
}

static bool keep_k(void *ctx, const char *name, size_t nlen, bool is_dir)
{
	int *dirs = ctx;

	*dirs += is_dir;
	return nlen >= 4 && memcmp(name, "keep", 4) == 0;
}

/* n new files dir/f0 .. dir/f<n-1>, each holding its name. */
static void put_files(struct fixture *fx, const char *dir, int n)
{
	for (int i = 0; i < n; i++) {
		char path[64];
		int len = snprintf(path, sizeof(path), "%s/f%d", dir, i);
		struct entry e = ent(path, ENT_FILE, 0644);
		e.size = (uint64_t)len;
		assert_int_equal(put_file(fx->a, &e, path, 7, NULL), 0);
	}
}

/* A batch of new files committed on the thread while more are written;
 * every other change waits for it, and sees the tree it left. */
static void test_pipelined_commit(void **state)
{
	struct fixture *fx = *state;
	struct entry got = { 0 };
	struct stat st;

	shell(fx, "mkdir p q");
	put_files(fx, "p", 300);
	assert_int_equal(apply_commit_begin(fx->a), 1);
	assert_true(apply_commit_running(fx->a));
	assert_int_equal(apply_pending(fx->a), 0);
	assert_int_equal(apply_commit_begin(fx->a), -EBUSY);   /* one at a time */
	put_files(fx, "q", 50);                                /* beside it */
	assert_int_equal(apply_pending(fx->a), 50);
	/* a rename of a file of the batch finds it in place */
	assert_int_equal(apply_rename(fx->a, "p/f299", 6, "p/r299", 6), 0);
	assert_string_equal(tmptree_slurp(fx->rootfd, "p/r299"), "p/f299");
	assert_int_equal(fstatat(fx->rootfd, "p/f299", &st, AT_SYMLINK_NOFOLLOW), -1);
	assert_true(apply_commit_ready(fx->a));
	assert_int_equal(apply_commit_end(fx->a), 0);
	assert_false(apply_commit_running(fx->a));
	assert_int_equal(apply_commit_end(fx->a), 0);           /* none */
	assert_string_equal(tmptree_slurp(fx->rootfd, "q/f49"), "q/f49");  /* rename committed q */

	/* a delete of a file of the batch: it does not come back */
	put_files(fx, "p", 100);
	assert_int_equal(apply_commit_begin(fx->a), 1);
	assert_int_equal(apply_delete(fx->a, "p/f99", 5), 0);
	assert_int_equal(apply_commit_end(fx->a), 0);
	assert_int_equal(fstatat(fx->rootfd, "p/f99", &st, AT_SYMLINK_NOFOLLOW), -1);

	/* a lookup of a file of the batch, or of its directory, sees it */
	put_files(fx, "q", 100);
	assert_int_equal(apply_commit_begin(fx->a), 1);
	assert_int_equal(apply_lookup(fx->a, "q/f99", 5, &got), 0);
	assert_int_equal(got.type, ENT_FILE);
	assert_int_equal(got.size, 5);
	entry_clear(&got);
	assert_true(apply_commit_ready(fx->a));
	assert_int_equal(apply_commit_end(fx->a), 0);

	/* a hardlink to a file of the batch links the new content */
	put_files(fx, "q", 100);
	assert_int_equal(apply_commit_begin(fx->a), 1);
	struct entry l = ent("p/l", ENT_HARDLINK, 0644);
	l.link = "q/f98";
	l.link_len = 5;
	assert_int_equal(apply_entry(fx->a, &l), 0);
	assert_true(apply_commit_ready(fx->a));
	assert_int_equal(apply_commit_end(fx->a), 0);
	/* ... queued: the next commit is not pipelined, and makes it */
	assert_int_equal(apply_commit_begin(fx->a), 0);
	assert_false(apply_commit_running(fx->a));
	assert_string_equal(tmptree_slurp(fx->rootfd, "p/l"), "q/f98");

	/* a second write of a path of the batch replaces it after it */
	put_files(fx, "q", 10);
	assert_int_equal(apply_commit_begin(fx->a), 1);
	struct entry e = ent("q/f9", ENT_FILE, 0600);
	e.size = 6;
	assert_int_equal(put_file(fx->a, &e, "second", 6, NULL), 0);
	assert_int_equal(apply_commit_end(fx->a), 0);
	assert_int_equal(apply_commit_begin(fx->a), 1);
	assert_int_equal(apply_commit_end(fx->a), 0);
	assert_string_equal(tmptree_slurp(fx->rootfd, "q/f9"), "second");

	/* a prune does not take the batch's temporary files for stray ones:
	 * the batch is in place first, then pruned */
	put_files(fx, "p", 50);
	assert_int_equal(apply_commit_begin(fx->a), 1);
	int dirs = 0;
	assert_int_equal(apply_prune(fx->a, "p", 1, keep_k, &dirs), 0);
	assert_int_equal(apply_commit_end(fx->a), 0);
	assert_int_equal(fstatat(fx->rootfd, "p/f49", &st, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(apply_sync(fx->a), 0);
	assert_false(apply_unsynced(fx->a));
	assert_int_equal(count_temps(fx), 0);
	assert_int_equal(apply_stats(fx->a)->files_written, 300 + 50 + 100 + 100 + 100 + 10 + 1 + 50);
}

/* A batch still on the thread when the object goes: it is waited for. */
static void test_pipelined_free(void **state)
{
	struct fixture *fx = *state;

	shell(fx, "mkdir p");
	put_files(fx, "p", 200);
	assert_int_equal(apply_commit_begin(fx->a), 1);
	apply_free(fx->a);
	fx->a = NULL;
	assert_string_equal(tmptree_slurp(fx->rootfd, "p/f199"), "p/f199");
	assert_int_equal(count_temps(fx), 0);
}


/* Temporary files a killed sink left behind are found anywhere in the
 * tree and removed; nothing else is touched. */
static void test_clean_temps(void **state)
{
	struct fixture *fx = *state;
	struct stat st;

	shell(fx, "mkdir -p a/b && touch .mirrord.tmp.0123456789abcdef keep "
		  "a/b/.mirrord.tmp.fedcba9876543210 a/b/keep2 a/.mirrord.tmpx");
	assert_int_equal(apply_clean_temps(fx->rootfd), 2);
	assert_int_equal(fstatat(fx->rootfd, ".mirrord.tmp.0123456789abcdef", &st, 0), -1);
	assert_int_equal(fstatat(fx->rootfd, "a/b/.mirrord.tmp.fedcba9876543210", &st, 0), -1);
	assert_int_equal(fstatat(fx->rootfd, "keep", &st, 0), 0);
	assert_int_equal(fstatat(fx->rootfd, "a/b/keep2", &st, 0), 0);
	assert_int_equal(fstatat(fx->rootfd, "a/.mirrord.tmpx", &st, 0), 0);
	assert_int_equal(apply_clean_temps(fx->rootfd), 0);
}

static void test_prune(void **state)
{
	struct fixture *fx = *state;
	struct entry f = ent("d/new", ENT_FILE, 0600), got = { 0 };
	struct apply_file *open_file;
	int dirs = 0;

	shell(fx, "mkdir -p d/keepdir d/gone/x && touch d/keep1 d/drop d/keepdir/in && "
		  "ln -s /etc d/droplink");
	f.size = 1;
	assert_int_equal(put_file(fx->a, &f, "n", 1, NULL), 0);
	f = ent("d/open", ENT_FILE, 0600);
	f.size = 1;
	assert_int_equal(apply_file_open(fx->a, &f, &open_file), 0);
	assert_int_equal(apply_prune(fx->a, "d", 1, keep_k, &dirs), 0);
	assert_int_equal(dirs, 2);
	assert_int_equal(apply_file_write(open_file, "o", 1), 0);
	apply_file_abort(open_file);
	assert_int_equal(apply_commit(fx->a), 0);
	shell(fx, "test \"$(ls -A d | tr '\\n' ' ')\" = 'keep1 keepdir new '");
	assert_int_equal(apply_lookup(fx->a, "d/keepdir/in", 12, &got), 0);
	assert_int_equal(got.type, ENT_FILE);
	entry_clear(&got);
	assert_int_equal(count_temps(fx), 0);
}

/* Every operation through a symlinked directory fails and changes nothing. */
static void test_symlink_parents(void **state)
{
	struct fixture *fx = *state;
	struct entry e = ent("evil/x", ENT_FILE, 0600), got = { 0 };
	struct apply_file *f;
	struct stat before, after, etc1, etc2;
	static const int types[] = { ENT_DIR, ENT_SYMLINK, ENT_FIFO, ENT_FILE };
	size_t i;
	int dirs = 0;

	shell(fx, "mkdir -p real && echo r > real/keep");
	assert_int_equal(fstatat(fx->dfd, "out", &before, 0), 0);
	assert_int_equal(stat("/etc", &etc1), 0);
	e.size = 1;
	assert_int_equal(apply_file_open(fx->a, &e, &f), -ELOOP);
	e.link = "real/keep";
	e.link_len = 9;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		e.type = (uint8_t)types[i];
		assert_int_equal(apply_entry(fx->a, &e), -ELOOP);
		e.path = "etc/passwd";
		e.path_len = 10;
		assert_int_equal(apply_entry(fx->a, &e), -ELOOP);
		e.path = "evil/x";
		e.path_len = 6;
	}
	e.type = ENT_HARDLINK;
	assert_int_equal(apply_entry(fx->a, &e), -ELOOP);
	e.path = "stolen";
	e.path_len = 6;
	e.link = "evil/keep";
	assert_int_equal(apply_entry(fx->a, &e), -ELOOP);
	assert_int_equal(apply_pending(fx->a), 0);
	assert_int_equal(apply_delete(fx->a, "evil/keep", 9), -ELOOP);
	assert_int_equal(apply_delete(fx->a, "etc/passwd", 10), -ELOOP);
	assert_int_equal(apply_rename(fx->a, "evil/keep", 9, "stolen", 6), -ELOOP);
	assert_int_equal(apply_rename(fx->a, "real", 4, "evil/real", 9), -ELOOP);
	assert_int_equal(apply_rename(fx->a, "real", 4, "etc/real", 8), -ELOOP);
	assert_int_equal(apply_prune(fx->a, "evil", 4, keep_k, &dirs), -ELOOP);
	assert_int_equal(apply_prune(fx->a, "etc", 3, keep_k, &dirs), -ELOOP);
	assert_int_equal(apply_lookup(fx->a, "evil/keep", 9, &got), -ELOOP);
	assert_int_equal(apply_lookup(fx->a, "etc/passwd", 10, &got), -ELOOP);
	assert_int_equal(apply_lookup(fx->a, "../out", 6, &got), -EINVAL);
	assert_int_equal(apply_delete(fx->a, "../out/keep", 11), -EINVAL);

	assert_int_equal(fstatat(fx->dfd, "out", &after, 0), 0);
	assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
	assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	assert_int_equal(before.st_nlink, after.st_nlink);
	assert_int_equal(stat("/etc", &etc2), 0);
	assert_int_equal(etc1.st_mtim.tv_nsec, etc2.st_mtim.tv_nsec);
	assert_string_equal(tmptree_slurp(fx->dfd, "out/keep"), "secret\n");
	shell(fx, "test \"$(ls -A ../out)\" = keep && test -d real");
	/* deleting the symlink itself removes the link, not its target */
	assert_int_equal(apply_delete(fx->a, "evil", 4), 0);
	assert_string_equal(tmptree_slurp(fx->dfd, "out/keep"), "secret\n");
	assert_int_equal(count_temps(fx), 0);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 20,000 files of 4 KiB in 200 directories, one commit per 1000 files. */
static int bench(void)
{
	static uint8_t data[4096];
	char path[64];
	struct fixture *fx;
	struct entry e;
	double t0, tc = 0, t;
	int i;

	if (setup((void **)&fx) < 0)
		return 1;
	memset(data, 'm', sizeof(data));
	t0 = now();
	for (i = 0; i < 200; i++) {
		snprintf(path, sizeof(path), "d%03d", i);
		e = ent(path, ENT_DIR, 0755);
		if (apply_entry(fx->a, &e) < 0)
			return 1;
	}
	for (i = 0; i < 20000; i++) {
		snprintf(path, sizeof(path), "d%03d/f%05d", i % 200, i);
		e = ent(path, ENT_FILE, 0644);
		e.size = sizeof(data);
		data[0] = (uint8_t)i;
		if (put_file(fx->a, &e, data, sizeof(data), NULL) < 0)
			return 1;
		if (i % 1000 == 999) {
			t = now();
			if (apply_commit(fx->a) < 0)
				return 1;
			tc += now() - t;
		}
	}
	t = now() - t0;
	printf("20000 files x 4 KiB in 200 dirs, 20 commits: %.2f s total "
	       "(%.0f files/s), %.2f s in apply_commit\n", t, 20000 / t, tc);
	return teardown((void **)&fx) < 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fresh_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_visible_then_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_bad_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_after_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_atomicity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_special_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hardlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_meta_shared_inode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_meta_deferred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_deep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clean_temps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_parents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_free, setup, teardown),
	};

	if (argc == 2 && strcmp(argv[1], "--bench") == 0)
		return bench();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
