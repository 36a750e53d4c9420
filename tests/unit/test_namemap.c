// SPDX-License-Identifier: MIT
/*
 * Unit tests for namemap.c (the names map of the on-demand pre-frontend): which names may reach
 * the map file and a runtime command, normalisation (sorted, unique, refused names dropped),
 * the parsers of `show map` replies as HAProxy 2.6.12 and 3.4.0 print them, and the file
 * written, rewritten only on change, in a temporary directory. The runtime part runs against a
 * real HAProxy in tests/integration/57_on_demand.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cert-pusher/edge/namemap.h"
#include "common/buf.h"
#include "common/file.h"

static void test_name_valid(void **state)
{
	(void)state;
	assert_true(namemap_name_valid("a.example"));
	assert_true(namemap_name_valid("*.preview.example"));
	assert_true(namemap_name_valid("xn--bcher-kva.example"));
	assert_false(namemap_name_valid(""));
	assert_false(namemap_name_valid("A.example"));
	assert_false(namemap_name_valid("a.example 1"));
	assert_false(namemap_name_valid("a.example\n"));
	assert_false(namemap_name_valid("a.example;show"));
	assert_false(namemap_name_valid("a.*.example"));
	assert_false(namemap_name_valid("*"));
	assert_false(namemap_name_valid("**.example"));
	assert_false(namemap_name_valid("a..example"));
}

static void test_normalize(void **state)
{
	struct strv v = { 0 };
	const char *in[] = { "b.example",   "a.example", "bad name",     "b.example",
		             "*.w.example", "a.example", "UPPER.example" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		assert_int_equal(strv_push(&v, in[i], strlen(in[i])), 0);
	namemap_normalize(&v);
	assert_int_equal(v.n, 3);
	assert_string_equal(v.v[0], "*.w.example");
	assert_string_equal(v.v[1], "a.example");
	assert_string_equal(v.v[2], "b.example");
	strv_deinit(&v);
}

static void test_parse_show(void **state)
{
	/* HAProxy 2.6.12 and 3.4.0 alike */
	const char ok[] = "0x55d798b5c820 a.example 1\n0x55d798b5c870 *.w.example 1\n\n";
	const char *bad[] = { "a.example 1\n", "0x55 a.example\n", "0x55d798b5c820  1\n",
		              "Unknown map identifier. Please use #<id> or <file>.\n" };
	struct strv v = { 0 };
	size_t i;

	(void)state;
	assert_int_equal(namemap_parse_show(ok, strlen(ok), &v), 0);
	assert_int_equal(v.n, 2);
	assert_string_equal(v.v[0], "*.w.example");
	assert_string_equal(v.v[1], "a.example");
	strv_deinit(&v);
	assert_int_equal(namemap_parse_show("", 0, &v), 0);
	assert_int_equal(v.n, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(namemap_parse_show(bad[i], strlen(bad[i]), &v), -1);
		strv_deinit(&v);
	}
}

static void test_show_has(void **state)
{
	const char list[] = "# id (file) description\n"
	                    "0 (/run/spoacme/names.map) pattern loaded from file "
	                    "'/run/spoacme/names.map' used by map at file 'h.cfg' line 6, by map "
	                    "at file 'h.cfg' line 7. curr_ver=0 next_ver=0 entry_cnt=2\n";

	(void)state;
	assert_true(namemap_show_has(list, strlen(list), "/run/spoacme/names.map"));
	assert_false(namemap_show_has(list, strlen(list), "/run/spoacme/names"));
	assert_false(namemap_show_has(list, strlen(list), "/run/spoacme/names.map.old"));
	assert_false(namemap_show_has("# id (file) description\n", 24, "/run/spoacme/names.map"));
}

static void test_write(void **state)
{
	char dir[] = "/tmp/test_namemap.XXXXXX", err[256];
	struct namemap nm;
	struct strv v = { 0 };
	struct buf got;
	struct stat st1, st2;

	(void)state;
	buf_init(&got);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(namemap_init(&nm, dir, err, sizeof(err)), 0);
	assert_int_equal(strv_push(&v, "b.example", 9), 0);
	assert_int_equal(strv_push(&v, "*.w.example", 11), 0);
	namemap_normalize(&v);
	assert_int_equal(namemap_write(&nm, &v), 0);
	assert_int_equal(file_read(nm.path, 4096, 1, &got, err, sizeof(err)), 0);
	assert_string_equal(buf_str(&got), "# written by cert-pusher's loader: the names this edge "
	                                   "holds\n*.w.example 1\nb.example 1\n");
	/* unchanged: not rewritten */
	assert_int_equal(stat(nm.path, &st1), 0);
	assert_int_equal(namemap_write(&nm, &v), 0);
	assert_int_equal(stat(nm.path, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	/* empty */
	strv_deinit(&v);
	assert_int_equal(namemap_write(&nm, &v), 0);
	buf_reset(&got);
	assert_int_equal(file_read(nm.path, 4096, 1, &got, err, sizeof(err)), 0);
	assert_string_equal(buf_str(&got),
	                    "# written by cert-pusher's loader: the names this edge holds\n");
	assert_int_equal(unlink(nm.path), 0);
	assert_int_equal(rmdir(dir), 0);
	namemap_deinit(&nm);
	buf_deinit(&got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_valid), cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_parse_show), cmocka_unit_test(test_show_has),
		cmocka_unit_test(test_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
