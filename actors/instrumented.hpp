#pragma once

// Instrumentation shared by every actor of a node (not an actor itself):
// each handler is counted and timed, and every actor answers the
// inspector's `(status_atom)` and an operator's `(crash_atom, why)`.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/detail/type_traits.hpp>

#include "messages/actor_status.hpp"
#include "messages/atoms.hpp"
#include "messages/error.hpp"

namespace cairn::actors {

/// Counters an actor publishes about itself. Written only by the actor's
/// own thread; read by anyone (atomics), so that an actor stuck in a long
/// handler can still be described without its mailbox.
struct actor_stats {
  std::atomic<uint64_t> processed{0};
  std::atomic<uint64_t> busy_ns{0};
  /// Mailbox size when the last handler returned.
  std::atomic<uint64_t> mailbox{0};

  /// The counters as a status (without names and gauges).
  actor_status snapshot() const {
    actor_status s;
    s.processed = processed.load(std::memory_order_relaxed);
    s.busy_seconds = busy_ns.load(std::memory_order_relaxed) / 1e9;
    s.mailbox = mailbox.load(std::memory_order_relaxed);
    return s;
  }
};

/// Messages waiting for `self`, as far as it has fetched them. Called by
/// the actor itself: `mailbox().size()` would fetch from the inbox in the
/// middle of the scheduler's round and lose the actor's wake-up.
template <class Self>
uint64_t queued_messages(Self self) {
  return static_cast<uint64_t>(self->mailbox().queue().total_task_size());
}

namespace detail {

template <class State, class = void>
struct has_gauges : std::false_type {};

template <class State>
struct has_gauges<
  State, std::void_t<decltype(std::declval<State&>().gauges(
           std::declval<std::vector<std::pair<std::string, double>>&>()))>>
  : std::true_type {};

// A handler with exactly the signature of `f` that counts and times `f`.
template <class Self, class F, class R, class... Ts>
auto counted(Self self, std::shared_ptr<actor_stats> stats, F f,
             caf::detail::type_list<Ts...>) {
  return [self, stats, f = std::move(f)](Ts... xs) mutable -> R {
    struct timer {
      Self self;
      actor_stats& st;
      std::chrono::steady_clock::time_point t0 =
        std::chrono::steady_clock::now();
      ~timer() {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now() - t0)
                    .count();
        st.processed.fetch_add(1, std::memory_order_relaxed);
        st.busy_ns.fetch_add(static_cast<uint64_t>(ns),
                             std::memory_order_relaxed);
        st.mailbox.store(queued_messages(self), std::memory_order_relaxed);
      }
    } t{self, *stats};
    return f(std::forward<Ts>(xs)...);
  };
}

} // namespace detail

/// Counts and times `f`, a handler of the actor `self`.
template <class Self, class F>
auto counted(Self self, const std::shared_ptr<actor_stats>& stats, F f) {
  using trait = caf::detail::get_callable_trait<F>;
  return detail::counted<Self, F, typename trait::result_type>(
    self, stats, std::move(f), typename trait::arg_types{});
}

/// The status handler every actor adds: its counters, its mailbox now, and
/// its state's gauges (if the state has `gauges(vector<pair<name, value>>&)`).
template <class Self>
auto status_handler(Self self, std::shared_ptr<actor_stats> stats) {
  return [self, stats](status_atom) -> actor_status {
    auto s = stats->snapshot();
    s.id = self->id();
    s.mailbox = queued_messages(self);
    using state_type = std::decay_t<decltype(self->state)>;
    if constexpr (detail::has_gauges<state_type>::value)
      self->state.gauges(s.gauges);
    return s;
  };
}

/// The fault-injection handler: the actor dies with `ec::injected_fault`.
template <class Self>
auto crash_handler(Self self) {
  return [self](crash_atom, const std::string& why) {
    self->quit(make_error(ec::injected_fault, why));
  };
}

/// The behavior of `self` from `handlers`, each counted and timed, plus the
/// status and crash handlers. `Behavior` is the actor's `behavior_type`.
template <class Behavior, class Self, class... Fs>
Behavior instrumented(Self self, const std::shared_ptr<actor_stats>& stats,
                      Fs... handlers) {
  return Behavior{counted(self, stats, std::move(handlers))...,
                  status_handler(self, stats), crash_handler(self)};
}

} // namespace cairn::actors
