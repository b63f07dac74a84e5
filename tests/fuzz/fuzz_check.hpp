#pragma once
// Helpers shared by the libFuzzer targets in this folder.

#include <cstdio>
#include <cstdlib>

#include <caf/error.hpp>

/// Aborts (a finding for libFuzzer) when `cond` is false, naming it, so that
/// a round-trip mismatch reports like a crash with its reproducer.
#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__,         \
                   __LINE__, #cond);                                           \
      std::abort();                                                            \
    }                                                                          \
  } while (false)
