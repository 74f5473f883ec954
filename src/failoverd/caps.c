/* caps: libcap-ng behind two functions (see caps.h). */
#include "config.h"

#include <errno.h>
#include <sys/prctl.h>

#include <cap-ng.h>

#include "caps.h"

int caps_keep_net(void)
{
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_updatev(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED,
			  CAP_NET_ADMIN, CAP_NET_RAW, -1) < 0)
		return -EPERM;
	if (capng_apply(CAPNG_SELECT_BOTH) < 0)
		return -EPERM;
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return 0;
}

int caps_clear_all(void)
{
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_apply(CAPNG_SELECT_BOTH) < 0)
		return -EPERM;
	return 0;
}
