// SPDX-License-Identifier: MIT
// Test runner for coring_tests: doctest supplies main(). Test cases live in tests/*_test.cpp.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
