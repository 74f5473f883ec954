/* test_fsmeta: metadata round trips between files, blob checks, equality. */
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
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "fsmeta.h"
#include "tmptree.h"

struct fixture {
	char dir[TMPTREE_DIR_MAX];
	int dfd;
};

static int setup(void **state)
{
	static struct fixture fx;

	if (tmptree_make(fx.dir, "fsmeta", NULL) < 0)
		return -1;
	fx.dfd = open(fx.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fx.dfd < 0)
		return -1;
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	close(fx->dfd);
	return tmptree_remove(fx->dir);
}

static void shell(struct fixture *fx, const char *cmd)
{
	tmptree_shell(fx->dir, NULL, cmd);
}

/* lstat + xattrs of dfd/name into e. */
static void load(int dfd, const char *name, struct entry *e)
{
	struct stat st;

	memset(e, 0, sizeof(*e));
	assert_int_equal(fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	fsmeta_from_stat(e, &st);
	assert_int_equal(fsmeta_read_xattrs(dfd, name, &e->xattrs, &e->xattrs_len), 0);
}

static void set_mtime(int dfd, const char *name, long sec, long nsec)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { sec, nsec } };

	assert_int_equal(utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void test_file_roundtrip(void **state)
{
	struct fixture *fx = *state;
	unsigned flags = FSMETA_OWNER | FSMETA_XATTRS;
	struct entry src, dst;

	shell(fx, "echo data > src && echo data > dst && chown 1234:5678 src && chmod 4751 src && "
		  "setfattr -n user.b -v two src && setfattr -n user.a -v one src && "
		  "setfattr -n trusted.t -v tt src && setfacl -m u:4321:rw src && "
		  "setfattr -n user.zzz -v extra dst && setfacl -m u:99:r dst");
	set_mtime(fx->dfd, "src", 1500000000, 123456789);
	load(fx->dfd, "src", &src);
	assert_non_null(src.xattrs);
	assert_int_equal(fsmeta_xattrs_check(src.xattrs, src.xattrs_len), 0);
	assert_int_equal(src.mode, 04771);   /* the ACL mask shows in the group bits */
	load(fx->dfd, "dst", &dst);
	assert_false(fsmeta_equal(&src, &dst, flags));
	entry_clear(&dst);

	assert_int_equal(fsmeta_apply_at(fx->dfd, "dst", &src, flags), 0);
	load(fx->dfd, "dst", &dst);
	assert_true(fsmeta_equal(&src, &dst, flags));
	assert_int_equal(dst.mode, 04771);
	assert_int_equal(dst.uid, 1234);
	assert_int_equal(dst.gid, 5678);
	assert_int_equal(dst.mtime_nsec, 123456789);
	assert_int_equal(dst.xattrs_len, src.xattrs_len);
	assert_memory_equal(dst.xattrs, src.xattrs, src.xattrs_len);
	shell(fx, "getfacl -c dst | grep -q '^user:4321:rw-' && ! getfacl -c dst | grep -q '^user:99:'"
		  " && test \"$(getfattr --only-values -n user.zzz dst 2>&1)\" != extra");
	entry_clear(&src);
	entry_clear(&dst);
}

/* Metadata already in place is left alone (no change time moved); a
 * difference in the xattrs alone is still applied, and so is one in the
 * mtime alone. */
static void test_apply_current(void **state)
{
	struct fixture *fx = *state;
	unsigned flags = FSMETA_OWNER | FSMETA_XATTRS;
	struct stat before, after;
	struct entry want;

	shell(fx, "mkdir cur && chmod 750 cur && setfattr -n user.k -v v cur");
	set_mtime(fx->dfd, "cur", 1500000000, 5);
	load(fx->dfd, "cur", &want);
	assert_int_equal(fstatat(fx->dfd, "cur", &before, 0), 0);
	usleep(20000);
	assert_int_equal(fsmeta_apply_at(fx->dfd, "cur", &want, flags), 0);
	assert_int_equal(fstatat(fx->dfd, "cur", &after, 0), 0);
	assert_int_equal(after.st_ctim.tv_sec, before.st_ctim.tv_sec);
	assert_int_equal(after.st_ctim.tv_nsec, before.st_ctim.tv_nsec);

	shell(fx, "setfattr -x user.k cur");
	assert_int_equal(fsmeta_apply_at(fx->dfd, "cur", &want, flags), 0);
	shell(fx, "test \"$(getfattr --only-values -n user.k cur)\" = v");
	set_mtime(fx->dfd, "cur", 1500000000, 6);
	assert_int_equal(fsmeta_apply_at(fx->dfd, "cur", &want, flags), 0);
	assert_int_equal(fstatat(fx->dfd, "cur", &after, 0), 0);
	assert_int_equal(after.st_mtim.tv_nsec, 5);

	/* the same through an fd with FSMETA_CHECK */
	int fd = openat(fx->dfd, "cur", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &before), 0);
	usleep(20000);
	assert_int_equal(fsmeta_apply_fd(fd, &want, flags | FSMETA_CHECK), 0);
	assert_int_equal(fstat(fd, &after), 0);
	assert_int_equal(after.st_ctim.tv_nsec, before.st_ctim.tv_nsec);
	want.mode = 0700;
	assert_int_equal(fsmeta_apply_fd(fd, &want, flags | FSMETA_CHECK), 0);
	assert_int_equal(fstat(fd, &after), 0);
	assert_int_equal(after.st_mode & 07777, 0700);
	set_mtime(fx->dfd, "cur", 1500000000, 7);
	assert_int_equal(fsmeta_apply_fd(fd, &want, flags | FSMETA_CHECK), 0);
	assert_int_equal(fstat(fd, &after), 0);
	assert_int_equal(after.st_mtim.tv_nsec, 5);
	assert_int_equal(after.st_mode & 07777, 0700);
	close(fd);
	entry_clear(&want);
}

static void test_dir_and_fd(void **state)
{
	struct fixture *fx = *state;
	struct entry src, dst;
	int fd;

	shell(fx, "mkdir -p sd dd && setfacl -d -m u:777:rx sd && setfattr -n user.d -v 1 sd");
	set_mtime(fx->dfd, "sd", 1600000000, 5);
	load(fx->dfd, "sd", &src);
	fd = openat(fx->dfd, "dd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fsmeta_apply_fd(fd, &src, FSMETA_XATTRS), 0);
	memset(&dst, 0, sizeof(dst));
	assert_int_equal(fsmeta_read_xattrs_fd(fd, &dst.xattrs, &dst.xattrs_len), 0);
	assert_int_equal(dst.xattrs_len, src.xattrs_len);
	assert_memory_equal(dst.xattrs, src.xattrs, src.xattrs_len);
	assert_non_null(memmem(dst.xattrs, dst.xattrs_len, "system.posix_acl_default", 24));
	entry_clear(&dst);
	close(fd);
	load(fx->dfd, "dd", &dst);
	assert_true(fsmeta_equal(&src, &dst, FSMETA_XATTRS));
	entry_clear(&src);
	entry_clear(&dst);
}

static void test_symlink_not_followed(void **state)
{
	struct fixture *fx = *state;
	struct entry e = { 0 }, t;
	struct stat before, after;

	shell(fx, "echo x > target && setfattr -n user.t -v 1 target && ln -s target lnk && "
		  "setfattr -h -n trusted.l -v 2 lnk");
	assert_int_equal(fstatat(fx->dfd, "target", &before, 0), 0);
	load(fx->dfd, "lnk", &t);
	assert_int_equal(t.type, ENT_SYMLINK);
	assert_non_null(t.xattrs);
	assert_non_null(memmem(t.xattrs, t.xattrs_len, "trusted.l", 9));
	assert_null(memmem(t.xattrs, t.xattrs_len, "user.t", 6));
	entry_clear(&t);

	e.type = ENT_SYMLINK;
	e.mode = 0600;
	e.uid = 42;
	e.gid = 43;
	e.mtime_sec = 1000;
	e.mtime_nsec = 7;
	assert_int_equal(fsmeta_apply_at(fx->dfd, "lnk", &e, FSMETA_OWNER), 0);
	load(fx->dfd, "lnk", &t);
	assert_int_equal(t.uid, 42);
	assert_int_equal(t.mtime_sec, 1000);
	assert_int_equal(t.mtime_nsec, 7);
	assert_true(fsmeta_equal(&e, &t, FSMETA_OWNER));
	entry_clear(&t);
	assert_int_equal(fstatat(fx->dfd, "target", &after, 0), 0);
	assert_int_equal(after.st_uid, before.st_uid);
	assert_int_equal(after.st_mode, before.st_mode);
	assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
}

static void test_special(void **state)
{
	struct fixture *fx = *state;
	struct entry e = { 0 }, t;

	assert_int_equal(mkfifoat(fx->dfd, "fifo", 0600), 0);
	e.type = ENT_FIFO;
	e.mode = 01640;
	e.mtime_sec = 2000;
	e.mtime_nsec = 999999999;
	assert_int_equal(fsmeta_apply_at(fx->dfd, "fifo", &e, 0), 0);
	load(fx->dfd, "fifo", &t);
	assert_true(fsmeta_equal(&e, &t, 0));
	e.mtime_nsec = 1000000000;
	assert_int_equal(fsmeta_apply_at(fx->dfd, "fifo", &e, 0), -EINVAL);
	entry_clear(&t);
}

static size_t put(uint8_t *p, const char *name, const char *val)
{
	size_t n = strlen(name), v = strlen(val);

	p[0] = (uint8_t)(n >> 8);
	p[1] = (uint8_t)n;
	memcpy(p + 2, name, n);
	p[2 + n] = p[3 + n] = p[4 + n] = 0;
	p[5 + n] = (uint8_t)v;
	memcpy(p + 6 + n, val, v);
	return 6 + n + v;
}

static void test_blob_check(void **state)
{
	uint8_t b[256];
	size_t n;

	(void)state;
	assert_int_equal(fsmeta_xattrs_check(NULL, 0), 0);
	n = put(b, "user.a", "1");
	n += put(b + n, "user.ab", "");
	n += put(b + n, "user.b", "xyz");
	assert_int_equal(fsmeta_xattrs_check(b, n), 0);
	assert_int_equal(fsmeta_xattrs_check(b, n - 1), -EBADMSG);
	n = put(b, "user.b", "1");
	n += put(b + n, "user.a", "1");
	assert_int_equal(fsmeta_xattrs_check(b, n), -EBADMSG);    /* unsorted */
	n = put(b, "user.a", "1");
	n += put(b + n, "user.a", "2");
	assert_int_equal(fsmeta_xattrs_check(b, n), -EBADMSG);    /* duplicate */
	n = put(b, "user.aX", "1");
	b[8] = 0;
	assert_int_equal(fsmeta_xattrs_check(b, n), -EBADMSG);    /* NUL in name */
	n = put(b, "system.nfs4_acl", "1");
	assert_int_equal(fsmeta_xattrs_check(b, n), -EBADMSG);    /* namespace */
	n = put(b, "user.a", "1");
	assert_int_equal(fsmeta_xattrs_check(b, FSMETA_XATTRS_MAX + 1), -EBADMSG);
}

static void test_equal_fields(void **state)
{
	struct entry a = { .type = ENT_FILE, .mode = 0644, .size = 3, .mtime_sec = 5 }, b;
	uint8_t x1[] = { 1 }, x2[] = { 2 };

	(void)state;
	b = a;
	assert_true(fsmeta_equal(&a, &b, 0));
	b.mode = 0645;
	assert_false(fsmeta_equal(&a, &b, 0));
	b = a;
	b.size = 4;
	assert_false(fsmeta_equal(&a, &b, 0));
	b = a;
	b.mtime_nsec = 1;
	assert_false(fsmeta_equal(&a, &b, 0));
	b = a;
	b.uid = 1;
	assert_true(fsmeta_equal(&a, &b, 0));
	assert_false(fsmeta_equal(&a, &b, FSMETA_OWNER));
	b = a;
	a.xattrs = x1;
	b.xattrs = x2;
	a.xattrs_len = b.xattrs_len = 1;
	assert_true(fsmeta_equal(&a, &b, 0));
	assert_false(fsmeta_equal(&a, &b, FSMETA_XATTRS));
	a.xattrs = b.xattrs = NULL;
	a.xattrs_len = b.xattrs_len = 0;
	a.type = b.type = ENT_SYMLINK;
	a.link = "x";
	b.link = "y";
	a.link_len = b.link_len = 1;
	assert_false(fsmeta_equal(&a, &b, 0));
	a.type = b.type = ENT_CHR;
	b.rdev = 5;
	assert_false(fsmeta_equal(&a, &b, 0));
	b = a;
	b.type = ENT_BLK;
	assert_false(fsmeta_equal(&a, &b, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_roundtrip),
		cmocka_unit_test(test_apply_current),
		cmocka_unit_test(test_dir_and_fd),
		cmocka_unit_test(test_symlink_not_followed),
		cmocka_unit_test(test_special),
		cmocka_unit_test(test_blob_check),
		cmocka_unit_test(test_equal_fields),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
