/* SPDX-License-Identifier: MIT */
/*
 * The hostname commands of the command line (main.c's table).
 */
#ifndef CERT_PUSHER_API_CLI_H
#define CERT_PUSHER_API_CLI_H

#include "cert-pusher/pusher.h"

/* add NAME..., rm NAME..., ls, show NAME, renew NAME... (ls and show: --json too) */
pusher_cmd_fn hosts_cmd_add;
pusher_cmd_fn hosts_cmd_rm;
pusher_cmd_fn hosts_cmd_ls;
pusher_cmd_fn hosts_cmd_show;
pusher_cmd_fn hosts_cmd_renew;
/* edges ls, edges forget EDGE... */
pusher_cmd_fn edges_cmd_edges;

#endif
