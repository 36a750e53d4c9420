/* SPDX-License-Identifier: MIT */
/*
 * Time for deadlines and intervals: CLOCK_MONOTONIC in milliseconds (never jumps with the wall
 * clock; meaningless across processes).
 */
#ifndef COMMON_CLOCK_H
#define COMMON_CLOCK_H

#include <stdint.h>

int64_t clock_mono_ms(void);

#endif
