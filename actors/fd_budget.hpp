#pragma once

// The process's file descriptors, and how many of them peer connections may
// take (not an actor).
//
// Every peer session, API connection, LMDB file and socket is a descriptor,
// and they all come from one limit (RLIMIT_NOFILE). When it is spent,
// accept() fails with EMFILE and leaves the connection in the listen queue:
// the listening socket stays readable, and CAF's multiplexer (level
// triggered) calls accept again at once, forever, at 100% CPU, while the API
// can no longer accept either. So the peer listener stops watching its
// socket before the limit, leaving a reserve for the API and the node's
// own files, and watches it again once descriptors are free.

#include <chrono>
#include <cstddef>

namespace cairn::actors {

/// Raises the soft RLIMIT_NOFILE of the process to its hard limit (a daemon
/// should have every descriptor it is allowed). Returns the soft limit in
/// force afterwards. Thread-safe; called once by `main`.
size_t raise_fd_limit();

/// The soft RLIMIT_NOFILE of the process now.
size_t fd_limit();

/// Descriptors open in the process now (the entries of /proc/self/fd), or 0
/// if that cannot be read. Costs a directory listing: about a microsecond
/// per open descriptor. Thread-safe.
size_t open_fds();

/// `open_fds()`, or a count another caller in the process took at most
/// `max_age` ago if that one was below `exact_from` (far from any limit, a
/// count a moment old is as good, and each of a simulator's hundreds of
/// nodes would otherwise list the same thousands of descriptors several
/// times a second). Thread-safe.
size_t recent_open_fds(std::chrono::milliseconds max_age, size_t exact_from);

/// When the peer listener stops and starts accepting connections.
struct fd_budget {
  /// Accepting pauses when this many descriptors are open ...
  size_t pause_at = 0;
  /// ... and resumes when at most this many are.
  size_t resume_at = 0;
};

/// The budget for a process whose descriptor limit is `limit` and that keeps
/// `reserve` of them (at most half the limit) for everything but accepted
/// peer connections: accepting pauses at `limit - reserve` open descriptors
/// and resumes 1/8 of that lower (at least 1, at most 32), so that a node at
/// the limit does not switch at every connection.
fd_budget make_fd_budget(size_t limit, size_t reserve);

} // namespace cairn::actors
