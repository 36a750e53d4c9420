/* SPDX-License-Identifier: MIT */
/*
 * cert-pusher init DIR: a node's key ring, API token, fallback certificate and Redis ACL
 * passwords, created once with private modes (init.c).
 */
#ifndef CERT_PUSHER_INIT_H
#define CERT_PUSHER_INIT_H

#include "cert-pusher/pusher.h"

pusher_cmd_fn init_cmd_init; /* init DIR */

#endif
