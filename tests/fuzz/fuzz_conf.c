/* fuzz_conf: conf_load on a file holding the input. */
#define _GNU_SOURCE
#include "config.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[512];
	struct conf c;
	int fd = memfd_create("fuzz.conf", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (conf_load(path, &c, err, sizeof(err)) == 0) {
		FILE *null = fopen("/dev/null", "we");
		if (null) {
			conf_print(&c, null);
			fclose(null);
		}
		conf_free(&c);
	}
	close(fd);
	return 0;
}
