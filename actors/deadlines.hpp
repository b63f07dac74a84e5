#pragma once

// Request timeouts kept by the requesting actor itself (not an actor).
//
// CAF 0.17 puts every timed request on the actor clock twice: the timeout is
// set when the request leaves and cancelled when the answer comes, each time
// under the clock's mutex and with a wake-up of the clock thread. A download
// sends two requests per block (store_stream to network_store, network_store
// to local_store); measured on a 512 MiB two-node download, those clock
// operations cost about 10% of the downloader's CPU.
//
// `swept_request` sends such a request without a CAF timeout and records its
// deadline in the actor's `deadline_book` instead; one self-message per
// deadline horizon (`sweep_atom`) fails the requests whose deadline passed.
// Every request still has a finite timeout (README "Actors"): a request that is
// not answered in time gets `caf::sec::request_timeout` through its error
// handler, exactly as with a CAF timeout, and a late answer is dropped.
//
// What CAF no longer does for these requests is forget the handlers of a
// request that never gets an answer (a callee that died holding a response
// promise): they stay registered until the requesting actor ends. Use this
// for requests to actors that answer every request they take (local_store)
// or from actors that end with their work (a download's store_stream).
//
// Convention: the actor's state has a member `deadlines` (a `deadline_book`)
// and its behavior a handler
// `[self](sweep_atom, int64_t t) { sweep_deadlines(self, t); }`.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/message_priority.hpp>
#include <caf/sec.hpp>

#include "messages/atoms.hpp"

namespace cairn::actors {

/// The deadlines of an actor's pending requests, each with the error handler
/// to run if it passes. Not thread-safe: it belongs to one actor.
class deadline_book {
public:
  using clock = std::chrono::steady_clock;
  using on_error = std::function<void(caf::error&)>;

  /// Records a pending request; returns its ticket.
  uint64_t add(clock::time_point deadline, on_error fn);

  /// Settles ticket `id` (its answer came): true if it was still pending,
  /// false if it had expired already (the answer is late: drop it).
  bool settle(uint64_t id);

  /// Settles ticket `id` and hands back its error handler, if it was still
  /// pending.
  std::optional<on_error> take(uint64_t id);

  /// Removes and returns the error handlers of the requests whose deadline
  /// is at or before `now`, earliest first.
  std::vector<on_error> expire(clock::time_point now);

  /// The earliest pending deadline, if any.
  std::optional<clock::time_point> next_deadline() const;

  /// True if a sweep must be scheduled for `deadline`: none is, or the one
  /// scheduled comes later. Records `deadline` as scheduled.
  bool arm(clock::time_point deadline);

  /// The sweep scheduled for `deadline` arrived: a sweep may be scheduled
  /// again. A sweep for another deadline (one superseded by an earlier
  /// deadline, or sent by someone else) changes nothing.
  void disarm(clock::time_point deadline) {
    if (armed_ && *armed_ == deadline)
      armed_.reset();
  }

  size_t size() const { return by_id_.size(); }
  bool empty() const { return by_id_.empty(); }

private:
  uint64_t next_id_ = 1;
  std::map<std::pair<clock::time_point, uint64_t>, on_error> by_deadline_;
  std::unordered_map<uint64_t, clock::time_point> by_id_;
  std::optional<clock::time_point> armed_;
};

/// Schedules a sweep of `self`'s deadlines for `deadline` unless an earlier
/// one is scheduled.
template <class Self>
void arm_sweep(Self self, deadline_book::clock::time_point deadline) {
  auto& book = self->state.deadlines;
  if (!book.arm(deadline))
    return;
  auto now = deadline_book::clock::now();
  auto delay =
    deadline > now ? deadline - now : deadline_book::clock::duration{0};
  self->delayed_send(self, std::chrono::duration_cast<caf::timespan>(delay),
                     sweep_atom::value,
                     int64_t{deadline.time_since_epoch().count()});
}

/// Fails the requests of `self` whose deadline passed, once the next sweep
/// is scheduled (their handlers may send new requests). The handler of
/// `(sweep_atom, deadline)`, `deadline` being the one the sweep was
/// scheduled for.
template <class Self>
void sweep_deadlines(Self self, int64_t deadline) {
  using clock = deadline_book::clock;
  auto& book = self->state.deadlines;
  book.disarm(clock::time_point{clock::duration{deadline}});
  auto due = book.expire(clock::now());
  if (auto next = book.next_deadline())
    arm_sweep(self, *next);
  for (auto& fn : due) {
    auto err = caf::make_error(caf::sec::request_timeout);
    fn(err);
  }
}

/// Sends `xs...` to `dest` as a request answered with `Rs...`, at priority
/// `P`, failing it after `timeout` through `self->state.deadlines` (see
/// above). `on_value(Rs&...)` or `on_error(caf::error&)` runs exactly once.
template <caf::message_priority P, class... Rs, class Self, class Dest,
          class OnValue, class OnError, class... Ts>
void swept_request(Self self, const Dest& dest, caf::timespan timeout,
                   OnValue on_value, OnError on_error, Ts&&... xs) {
  auto deadline = deadline_book::clock::now() + timeout;
  auto id = self->state.deadlines.add(deadline, std::move(on_error));
  arm_sweep(self, deadline);
  self->template request<P>(dest, caf::infinite, std::forward<Ts>(xs)...)
    .then(
      [self, id, f = std::move(on_value)](Rs&... rs) mutable {
        if (self->state.deadlines.settle(id))
          f(rs...);
      },
      [self, id](caf::error& err) {
        if (auto fn = self->state.deadlines.take(id))
          (*fn)(err);
      });
}

} // namespace cairn::actors
