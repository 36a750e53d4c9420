/* SPDX-License-Identifier: MIT */
/*
 * What cert-pusher's commands share: the parsed configuration and the command signature.
 * main.c parses options (config file, then flags) and dispatches; each command validates the
 * options it uses and names them in its errors.
 */
#ifndef CERT_PUSHER_PUSHER_H
#define CERT_PUSHER_PUSHER_H

#include "cert-pusher/conf.h"

struct pusher {
	struct conf *conf;  /* owned by main */
	const char *prefix; /* Redis key prefix, validated; default "spoacme:" */
	int check_only;     /* --check: validate the configuration and exit */
};

/* A command: <argc>/<argv> are the positional arguments after the command name.
 * Returns the process exit status (0 success, 1 failure, 2 usage). */
typedef int pusher_cmd_fn(struct pusher *p, int argc, char **argv);

pusher_cmd_fn issuer_cmd_issue;  /* issuer.c: issue NAME... */
pusher_cmd_fn run_cmd_run;       /* run.c: the daemon (--role issuer,loader) */
pusher_cmd_fn import_cmd_import; /* import.c: import NAME --cert-file F --key-file F */
pusher_cmd_fn rekey_cmd_rekey;   /* rekey.c: re-seal every blob under the first key */

#endif
