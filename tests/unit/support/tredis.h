/* SPDX-License-Identifier: MIT */
/*
 * A real redis-server for unit tests: started on a free port of 127.0.0.1 in a temporary
 * directory, stopped by PID. Tests that need it skip when redis-server is not installed.
 */
#ifndef TESTS_UNIT_SUPPORT_TREDIS_H
#define TESTS_UNIT_SUPPORT_TREDIS_H

#include <sys/types.h>

struct tredis {
	pid_t pid;
	int port;
	char dir[64];
	char addr[32]; /* "127.0.0.1:PORT", for --redis */
};

/* A free TCP port of 127.0.0.1 (bound then released). -1 on failure. */
int tredis_free_port(void);
/* Start redis-server; 0, or -1 when it is missing or does not come up. */
int tredis_start(struct tredis *r);
/* SIGTERM, wait, remove the directory. Accepts a never-started struct. */
void tredis_stop(struct tredis *r);

#endif
