/* SPDX-License-Identifier: MIT */
/*
 * systemd's sd_notify protocol without libsystemd: one datagram to $NOTIFY_SOCKET.
 */
#ifndef COMMON_SDNOTIFY_H
#define COMMON_SDNOTIFY_H

/* Send <state> ("READY=1", "STOPPING=1", "STATUS=...") when $NOTIFY_SOCKET is set.
 * Returns 0 when sent or when not under systemd, -1 on error. */
int sdnotify(const char *state);

#endif
