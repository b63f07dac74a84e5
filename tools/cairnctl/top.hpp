#pragma once

// `cairnctl top`: a live view of a node's actors, like htop or Erlang recon's
// proc_window. It polls GET /api/cairn/v1/actors, computes each actor's
// message rate over the last interval, and redraws a sorted table in place.

#include <cstddef>
#include <string>

#include "tools/cairnctl/commands.hpp"

namespace cairn::tools::cairnctl {

/// Settings of `top`.
struct top_options {
  /// Seconds between refreshes.
  double interval_seconds = 1.0;
  /// Stop after this many refreshes (0 = until q, Ctrl-C or a signal).
  std::size_t iterations = 0;
  /// Initial sort: "mailbox" or "rate" (keys m and r switch).
  std::string sort = "mailbox";
};

/// Runs `top`. On a terminal: raw mode (keys m, r, q; Ctrl-C), redrawn with
/// ANSI escapes on the alternate screen, the terminal restored on every way
/// out. When stdout is not a terminal, or with --json: one snapshot whose
/// rates span one interval. Returns the exit code (2 if no node could be
/// reached at the start).
int run_top(const context& ctx, const top_options& options);

} // namespace cairn::tools::cairnctl
