#pragma once

// Internals of the store_stream actor shared by its two files:
// store_stream.cpp (the stream: window, reader, retries, how it ends) and
// store_stream_repair.cpp (rebuilding a protected dataset's lost blocks).
// Not for other code. Every function runs in the stream actor's context.

#include <cstdint>
#include <utility>

#include <caf/error.hpp>

#include "actors/deadlines.hpp"
#include "actors/store_stream.hpp"

namespace cairn::actors::stream_detail {

using self_ptr = store_stream_actor::stateful_pointer<store_stream_state>;

// -- store_stream.cpp ---------------------------------------------------------

/// Drops the download's references of its parked blocks.
void release_parked(store_stream_state::parking& p);

/// Quits once the stream is closing and no write it started is in flight.
void close_when_idle(self_ptr self);

/// The stream failed with `err`: pulls get it until the reader leaves.
/// Without a reader (`drain`), it closes at once with `close_reason`.
void fail(self_ptr self, caf::error err, caf::error close_reason = caf::none);

/// Answers the waiting reader if the next blocks are there.
void deliver(self_ptr self);

/// Requests block `index` (from the source, or from what the repair has).
void request_block(self_ptr self, uint64_t index);

/// Fills the window of requests in flight.
void request_more(self_ptr self);

// -- store_stream_repair.cpp --------------------------------------------------

/// A data block of a protected dataset that nobody has: rebuild it.
void on_lost(self_ptr self, uint64_t index);

/// Proves the rebuilt and fetched blocks that can be proven, hands them to
/// the reader and stores them.
void prove_now(self_ptr self);

// -- requests to the source ---------------------------------------------------

// Asks the source for `(get_atom, xs...)`, or `(get_atom, local_atom,
// xs...)` for a stream that reads only the local store.
template <class... Rs, class OnValue, class OnError, class... Ts>
inline void ask_source(self_ptr self, OnValue on_value, OnError on_error,
                       Ts&&... xs) {
  auto& st = self->state;
  if (st.spec.local_only)
    swept_request<caf::message_priority::normal, Rs...>(
      self, st.source, st.spec.block_timeout, std::move(on_value),
      std::move(on_error), get_atom::value, local_atom::value,
      std::forward<Ts>(xs)...);
  else
    swept_request<caf::message_priority::normal, Rs...>(
      self, st.source, st.spec.block_timeout, std::move(on_value),
      std::move(on_error), get_atom::value, std::forward<Ts>(xs)...);
}

} // namespace cairn::actors::stream_detail
