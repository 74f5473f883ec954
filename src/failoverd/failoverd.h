/* failoverd: the daemon's shared state, seen by failoverd.c (main, event
 * loop, takeover sequence) and control.c (control socket). */
#ifndef FAILOVERD_FAILOVERD_H
#define FAILOVERD_FAILOVERD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "conf.h"
#include "fsm.h"
#include "garp.h"
#include "hb.h"

struct sd_event;
struct sd_event_source;
struct vip;
struct link_mon;

struct fo {
	struct conf conf;
	const struct conf_failover *fc;     /* &conf.failover */
	struct fsm fsm;
	uint8_t *key;
	size_t key_len;
	char *state_path;
	char *ctl_path;

	int hb_fd, ctl_fd, garp_fd, ifindex;
	uint64_t seq;
	struct hb_rx rx;
	uint64_t tx_ok, tx_err;
	uint8_t mac[6];
	uint8_t garp_pkt[GARP_LEN];
	unsigned garp_left;
	uint64_t garp_sent;

	struct vip *vip;
	struct link_mon *lm;
	bool link_up;

	pid_t check_pid;
	int64_t check_started_ms;
	bool check_ok;

	struct sd_event *ev;
	struct sd_event_source *hb_timer, *tick_timer, *garp_timer, *check_timer;
};

int64_t fo_now_ms(void);
/* Feed one event to the fsm and carry out its actions, in order. */
int fo_step(struct fo *fo, enum fsm_event_type type, const struct fsm_peer *peer);
/* Control socket: open (0 or -errno) and the line protocol. */
int control_open(struct fo *fo);
int control_on_ready(struct fo *fo);
void control_close(struct fo *fo);

#endif
