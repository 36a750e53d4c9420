/* SPDX-License-Identifier: MIT */
/*
 * The version both daemons print with --version: the package's, kept equal to the first
 * entry of debian/changelog (tests/integration/90_package.sh checks).
 */
#ifndef COMMON_VERSION_H
#define COMMON_VERSION_H

#define SPOACME_VERSION "0.1.0"

#endif
