/* caps: capability handling (the only file that includes libcap-ng). */
#ifndef FAILOVERD_CAPS_H
#define FAILOVERD_CAPS_H

/* Keep only CAP_NET_ADMIN and CAP_NET_RAW (effective, permitted, bounding;
 * ambient cleared).  0 or -EPERM. */
int caps_keep_net(void);
/* Drop every capability, ambient included (for hook children).  0 or -EPERM. */
int caps_clear_all(void);

#endif
