/* test_path: wire path checks and confined opens, with openat2 and with the
 * O_NOFOLLOW walk (openat2 made to fail with ENOSYS by a seccomp filter in a
 * child process). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "path.h"
#include "tmptree.h"

struct fixture {
	char dir[TMPTREE_DIR_MAX];
	int rootfd;
};

static int run(const char *cmd)
{
	return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	static struct fixture fx;
	char cmd[1200];

	if (tmptree_make(fx.dir, "path", NULL) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "cd %s && mkdir -p root/a/b out && touch root/a/file out/secret && "
		 "ln -s /etc root/etc && ln -s b root/a/lb && ln -s ../out root/up",
		 fx.dir);
	if (run(cmd) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s/root", fx.dir);
	fx.rootfd = open(cmd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fx.rootfd < 0)
		return -1;
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	close(fx->rootfd);
	return tmptree_remove(fx->dir);
}

static void test_check_table(void **state)
{
	static const struct { const char *p; int ok; } t[] = {
		{ "", 1 }, { "a", 1 }, { "a/b", 1 }, { "a b/.c/..d/...", 1 },
		{ ".", 0 }, { "..", 0 }, { "a/..", 0 }, { "../a", 0 }, { "a/./b", 0 },
		{ "/abs", 0 }, { "a//b", 0 }, { "a/", 0 }, { "/", 0 },
	};
	char big[PATH_WIRE_MAX + 2];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(path_check(t[i].p, strlen(t[i].p)), t[i].ok ? 0 : -EINVAL);
	assert_int_equal(path_check("a\0b", 3), -EINVAL);
	memset(big, 'x', 256);
	assert_int_equal(path_check(big, 255), 0);
	assert_int_equal(path_check(big, 256), -EINVAL);
	for (i = 0; i < sizeof(big); i++)
		big[i] = i % 100 == 99 ? '/' : 'x';
	big[PATH_WIRE_MAX - 1] = 'x';
	assert_int_equal(path_check(big, PATH_WIRE_MAX), 0);
	big[PATH_WIRE_MAX] = 'x';
	assert_int_equal(path_check(big, PATH_WIRE_MAX + 1), -EINVAL);
}

static void test_join_dirlen(void **state)
{
	size_t len;
	char *s;

	(void)state;
	assert_int_equal(path_dirlen("", 0), 0);
	assert_int_equal(path_dirlen("a", 1), 0);
	assert_int_equal(path_dirlen("a/b", 3), 1);
	assert_int_equal(path_dirlen("ab/cd/ef", 8), 5);
	s = path_join("", 0, "x", 1, &len);
	assert_non_null(s);
	assert_string_equal(s, "x");
	assert_int_equal(len, 1);
	free(s);
	s = path_join("a/b", 3, "c", 1, &len);
	assert_non_null(s);
	assert_string_equal(s, "a/b/c");
	assert_int_equal(len, 5);
	free(s);
}

static int same_inode(int fd, int dirfd, const char *name)
{
	struct stat a, b;

	if (fstat(fd, &a) < 0 || fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* The open checks, returning the number of the first failing one (0: all
 * passed) so that they can run in a child process too. */
static int open_checks(int rootfd)
{
	const char *name = NULL;
	int fd, n = 0;

	n++; fd = path_open_dir(rootfd, "", 0);
	if (fd < 0 || !same_inode(fd, rootfd, "."))
		return n;
	close(fd);
	n++; fd = path_open_dir(rootfd, "a/b", 3);
	if (fd < 0 || !same_inode(fd, rootfd, "a/b"))
		return n;
	close(fd);
	n++; if (path_open_dir(rootfd, "etc", 3) != -ELOOP) return n;
	n++; if (path_open_dir(rootfd, "a/lb", 4) != -ELOOP) return n;
	n++; if (path_open_dir(rootfd, "up", 2) != -ELOOP) return n;
	n++; if (path_open_parent(rootfd, "etc/passwd", 10, &name) != -ELOOP) return n;
	n++; if (path_open_parent(rootfd, "up/secret", 9, &name) != -ELOOP) return n;
	n++; if (path_open_parent(rootfd, "a/lb/x/y", 8, &name) != -ELOOP) return n;
	n++; if (path_open_dir(rootfd, "a/file", 6) != -ENOTDIR) return n;
	n++; if (path_open_dir(rootfd, "nope", 4) != -ENOENT) return n;
	n++; if (path_open_dir(rootfd, "a/../a", 6) != -EINVAL) return n;
	n++; if (path_open_parent(rootfd, "", 0, &name) != -EINVAL) return n;
	n++; fd = path_open_parent(rootfd, "a/b/new", 7, &name);
	if (fd < 0 || strcmp(name, "new") != 0 || !same_inode(fd, rootfd, "a/b"))
		return n;
	close(fd);
	n++; fd = path_open_parent(rootfd, "top", 3, &name);
	if (fd < 0 || strcmp(name, "top") != 0 || !same_inode(fd, rootfd, "."))
		return n;
	close(fd);
	n++; fd = path_open_file(rootfd, "a/file", 6, O_RDONLY);
	if (fd < 0 || !same_inode(fd, rootfd, "a/file"))
		return n;
	close(fd);
	n++; if (path_open_file(rootfd, "etc/passwd", 10, O_RDONLY) != -ELOOP) return n;
	n++; if (path_open_file(rootfd, "a/lb/x", 6, O_RDONLY) != -ELOOP) return n;
	n++; if (path_open_file(rootfd, "etc", 3, O_RDONLY) != -ELOOP) return n;
	n++; if (path_open_file(rootfd, "a/nope", 6, O_RDONLY) != -ENOENT) return n;
	n++; if (path_open_file(rootfd, "", 0, O_RDONLY) != -EINVAL) return n;
	return 0;
}

static void test_open_openat2(void **state)
{
	struct fixture *fx = *state;
	struct stat before, after;

	assert_int_equal(stat("/etc", &before), 0);
	assert_int_equal(open_checks(fx->rootfd), 0);
	assert_int_equal(stat("/etc", &after), 0);
	assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
}

/* Make openat2 fail with ENOSYS in this process (a test-only filter). */
static int block_openat2(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -1;
	return syscall(SYS_openat2, -1, "", NULL, 0) < 0 && errno == ENOSYS ? 0 : -1;
}

static void test_open_walk(void **state)
{
	struct fixture *fx = *state;
	int status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (block_openat2() < 0)
			_exit(100);
		_exit(open_checks(fx->rootfd));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_fsync_parent(void **state)
{
	char dir[] = "/tmp/test_path_XXXXXX";
	char file[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/f", dir);
	assert_int_equal(path_fsync_parent(file), 0);
	assert_int_equal(path_fsync_parent("no-slash"), -EINVAL);
	snprintf(file, sizeof(file), "%s/missing/f", dir);
	assert_int_equal(path_fsync_parent(file), -ENOENT);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fsync_parent),
		cmocka_unit_test(test_check_table),
		cmocka_unit_test(test_join_dirlen),
		cmocka_unit_test(test_open_openat2),
		cmocka_unit_test(test_open_walk),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
