#include "actors/store_stream.hpp"

#include "actors/step_decoder.hpp"
#include "actors/store_stream_detail.hpp"

#include <caf/event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "messages/buffer_pool.hpp"
#include "messages/error.hpp"

namespace cairn::actors {

namespace stream_detail {

// Blocks handed to the reader per pull at most: 1 MiB of 64 KiB blocks,
// what the HTTP writer sends in one write (a pull is a round trip between
// threads; 16 instead of 8: a local 1 GiB GET's median over 15 runs,
// alternating, 0.663 -> 0.614 s).
constexpr size_t max_blocks_per_pull = 16;

// Drops the download's references of its parked blocks: only the rest of
// the download would have used them.
void release_parked(store_stream_state::parking& p) {
  if (p.blocks.empty())
    return;
  std::vector<cid> ids;
  ids.reserve(p.blocks.size());
  for (auto& [index, id] : p.blocks)
    ids.push_back(id);
  p.blocks.clear();
  caf::anon_send(p.store, release_atom::value, std::move(ids));
}

// Ends the stream's work with `err`: nothing new starts, a waiting reader
// gets `err`, and what the stream holds for the blocks to come goes now.
// Blocks whose park write is in flight go when it ends (see `parked`).
void stop(store_stream_state& st, caf::error err) {
  st.failure = std::move(err);
  st.ready.clear();
  st.rebuilt.clear();
  st.storing_ahead.clear();
  release_parked(*st.parked);
  if (st.has_waiting) {
    st.has_waiting = false;
    st.waiting.deliver(st.failure);
  }
}

// Quits once the stream is closing and no write it started is in flight:
// their answers hand over or release the references those writes add
// (parked blocks, links), which quitting at once would leave to expire.
void close_when_idle(self_ptr self) {
  auto& st = self->state;
  if (st.closing && !st.park_writing && !st.store_writing && st.linking.empty())
    self->quit(st.close_reason);
}

// Ends the stream: it stops its work (see `stop`), and quits with `reason`
// (none: a normal exit) once its writes in flight are over, each bounded by
// `block_timeout`.
void close_stream(self_ptr self, caf::error reason) {
  auto& st = self->state;
  if (st.closing)
    return;
  if (!st.failure)
    stop(st, reason ? reason
                    : make_error(ec::shutting_down, "the stream was closed"));
  st.closing = true;
  st.close_reason = std::move(reason);
  close_when_idle(self);
}

// The stream failed: pulls get the error until the reader's exit message
// or the idle timer closes it. Without a reader (`drain`), it closes at
// once, with `close_reason`.
void fail(self_ptr self, caf::error err, caf::error close_reason) {
  auto& st = self->state;
  if (st.failure)
    return;
  spdlog::warn("store_stream {}: {}", st.spec.tree.to_string(), describe(err));
  if (st.spec.progress)
    st.spec.progress->finish(download_progress::phase::failed, describe(err));
  bool drop = !close_reason && st.spec.manifest && !st.spec.local_only &&
              !is(err, ec::shutting_down);
  stop(st, std::move(err));
  // The local store says what it dropped; the stream may be gone by then.
  if (drop)
    caf::anon_send(st.source, release_atom::value, manifest_atom::value,
                   *st.spec.manifest);
  if (st.spec.drain)
    close_stream(self, std::move(close_reason));
}

// Answers the waiting reader if the next block is there (or the range ended).
void deliver(self_ptr self) {
  auto& st = self->state;
  if (st.spec.drain) {
    // No reader: blocks are stored on arrival; count and forget them.
    while (!st.ready.empty() && st.ready.begin()->first == st.next_deliver) {
      st.ready.erase(st.ready.begin());
      ++st.next_deliver;
    }
    st.rebuilt.erase(st.rebuilt.begin(),
                     st.rebuilt.lower_bound(st.next_deliver));
    if (st.next_deliver > st.spec.last) {
      if (st.spec.progress)
        st.spec.progress->finish(download_progress::phase::done);
      self->quit();
      return;
    }
    request_more(self);
    return;
  }
  if (!st.has_waiting)
    return;
  std::vector<block> out;
  while (out.size() < max_blocks_per_pull) {
    auto i = st.ready.find(st.next_deliver);
    if (i == st.ready.end())
      break;
    out.push_back(std::move(i->second));
    st.ready.erase(i);
    ++st.next_deliver;
  }
  // Rebuilt copies of blocks the reader has passed are not needed.
  st.rebuilt.erase(st.rebuilt.begin(), st.rebuilt.lower_bound(st.next_deliver));
  if (out.empty() && st.next_deliver <= st.spec.last)
    return;
  st.has_waiting = false;
  if (out.empty() && st.spec.progress)
    st.spec.progress->finish(download_progress::phase::done);
  // Kept until the reader asks past it: an answer that crosses the
  // reader's timeout is sent again (see the pull handler).
  st.last_batch_first = st.next_deliver - out.size();
  st.last_batch = out;
  st.waiting.deliver(std::move(out));
  request_more(self);
}

// Retries `index` after the source failed: asks the supervisor for the
// current network store (it may have been restarted), then re-requests
// after a backoff that grows with the attempts.
void retry(self_ptr self, uint64_t index, const caf::error& err) {
  auto& st = self->state;
  auto n = ++st.attempts[index];
  if (n >= st.spec.max_attempts) {
    fail(self, make_error(ec::unavailable, "block " + std::to_string(index),
                          "gave up after " + std::to_string(n) +
                            " attempts: " + describe(err)));
    return;
  }
  spdlog::debug("store_stream: retrying block {} ({})", index, describe(err));
  ++st.in_flight; // the retry holds the block's slot in the window
  auto backoff = std::chrono::milliseconds{100 * n};
  self
    ->request(st.supervisor, std::chrono::seconds{5}, get_atom::value,
              std::string{"network_store"})
    .then(
      [=](const caf::actor& current) {
        if (current) {
          self->state.source = caf::actor_cast<network_store_actor>(current);
          self->state.parked->store = self->state.source;
        }
        self->delayed_send(self, backoff, retry_atom::value, index);
      },
      [=](caf::error&) {
        self->delayed_send(self, backoff, retry_atom::value, index);
      });
}

// Asks the source for the block `key` (a CID or a leaf address) as one of
// the window's requests in flight; the handlers run only while the stream
// has not failed.
template <class Key, class OnBlock, class OnError>
void get_from_source(self_ptr self, const Key& key, OnBlock on_block,
                     OnError on_error) {
  auto& st = self->state;
  ++st.in_flight;
  ask_source<block>(
    self,
    [self, f = std::move(on_block)](block& b) mutable {
      auto& s = self->state;
      --s.in_flight;
      if (!s.failure)
        f(b);
    },
    [self, g = std::move(on_error)](caf::error& err) mutable {
      auto& s = self->state;
      --s.in_flight;
      if (!s.failure)
        g(err);
    },
    key);
}

void request_block(self_ptr self, uint64_t index) {
  auto& st = self->state;
  if (st.spec.ec) {
    // Rebuilt ahead of the reader: no one needs to be asked.
    if (st.rebuilt.count(index) > 0) {
      st.storing_ahead.erase(index);
      on_lost(self, index);
      return;
    }
    if (st.storing.count(index) > 0 || st.parking_now.count(index) > 0 ||
        st.linking.count(index) > 0) {
      ++st.in_flight; // handed over (or asked again) when its write ends
      st.wanted_from_store.insert(index);
      return;
    }
    if (auto pk = st.parked->blocks.find(index);
        pk != st.parked->blocks.end()) {
      // Rebuilt earlier and parked: read it back, then prove and store it
      // like any rebuilt block (or rebuild it again if it cannot be read).
      get_from_source(
        self, pk->second,
        [=](block& b) {
          self->state.rebuilt.emplace(index, std::move(b));
          on_lost(self, index);
        },
        [=](caf::error&) { on_lost(self, index); });
      return;
    }
  }
  auto sent = std::chrono::steady_clock::now();
  auto fetched_before = st.bytes_fetched;
  if (st.spec.with_manifest &&
      index - st.spec.first < wire::max_leaves_with_manifest) {
    sent = std::min(sent, st.spec.with_manifest_at);
    fetched_before = 0;
  }
  get_from_source(
    self, block_address{st.spec.tree, index},
    [=](block& b) {
      auto& s = self->state;
      s.bytes_fetched += b.size();
      auto now = std::chrono::steady_clock::now();
      s.pipe.delivered(static_cast<double>(s.bytes_fetched - fetched_before),
                       std::chrono::duration<double>(now - sent).count(), now,
                       static_cast<double>(b.size()));
      if (s.spec.progress)
        s.spec.progress->block_done(index, b.size());
      s.rebuilt.erase(index); // had after all
      s.ready.emplace(index, std::move(b));
      deliver(self);
    },
    [=](caf::error& err) {
      // A missing or unreadable block will not appear by asking again;
      // a dead or slow source may recover.
      if (is(err, ec::not_found) && self->state.spec.ec)
        on_lost(self, index);
      else if (is(err, ec::not_found) || is(err, ec::storage_io))
        fail(self, std::move(err));
      else
        retry(self, index, err);
    });
}

void request_more(self_ptr self) {
  auto& st = self->state;
  while (!st.failure && st.next_request <= st.spec.last &&
         st.in_flight + st.ready.size() + st.awaiting.size() < window_of(st))
    request_block(self, st.next_request++);
}

} // namespace stream_detail

uint32_t window_of(const store_stream_state& st) {
  return static_cast<uint32_t>(
    st.pipe.depth(st.spec.block_size, st.spec.window,
                  std::max(max_stream_window, st.spec.window)));
}

using namespace stream_detail;

store_stream_actor::behavior_type
store_stream(store_stream_actor::stateful_pointer<store_stream_state> self,
             stream_spec spec, network_store_actor source,
             node_supervisor_actor supervisor) {
  auto& st = self->state;
  st.spec = spec;
  st.source = std::move(source);
  st.supervisor = std::move(supervisor);
  st.next_request = spec.first;
  st.next_deliver = spec.first;
  st.parked->store = st.source;
  self->attach_functor(
    [parked = st.parked](const caf::error&) { release_parked(*parked); });
  if (spec.ec) {
    st.witness =
      std::make_unique<storage::tree_witness>(spec.tree, spec.ec->total());
    // Padding leaves are zero blocks: their digests are known.
    auto zero = sha256(bytes(spec.block_size, 0));
    for (auto i = spec.ec->blocks; i < spec.ec->rounded; ++i)
      st.witness->add_candidate(i, zero);
  }
  if (spec.progress)
    self->attach_functor([p = spec.progress](const caf::error& reason) {
      if (p->state == static_cast<int>(download_progress::phase::running))
        p->finish(download_progress::phase::failed,
                  reason ? describe(reason) : std::string{"stopped"});
    });
  // An exit (the reader is done, or the node stops) closes the stream:
  // it waits for the writes in flight, whose answers hand back the
  // references they add. `kill` is not waited for; an exit with reason
  // `normal` is ignored, as by CAF's default handler.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (!msg.reason)
      return;
    if (msg.reason != caf::exit_reason::user_shutdown)
      fail(self, msg.reason, msg.reason);
    close_stream(self, msg.reason);
  });
  request_more(self);
  self->delayed_send(self, spec.idle_timeout, tick_atom::value, uint64_t{0});
  return instrumented<store_stream_actor::behavior_type>(
    self, self->state.stats,
    [self](pull_atom, uint64_t next) -> caf::result<std::vector<block>> {
      auto& st = self->state;
      ++st.pulls;
      if (st.failure)
        return st.failure;
      // The reader missed the last answer (it timed out as the answer was
      // on its way): send it again.
      if (next == st.last_batch_first && !st.last_batch.empty() &&
          next < st.next_deliver) {
        if (st.has_waiting) {
          st.has_waiting = false;
          st.waiting.deliver(make_error(ec::timeout, "superseded"));
        }
        return st.last_batch;
      }
      if (next != st.next_deliver)
        return make_error(ec::invalid_argument,
                          "pull from block " + std::to_string(next) +
                            ", the stream is at " +
                            std::to_string(st.next_deliver));
      // A reader whose pull timed out pulls again: the new pull replaces
      // the old one (whose requester no longer listens).
      if (st.has_waiting)
        st.waiting.deliver(make_error(ec::timeout, "superseded by a new pull"));
      st.waiting = self->make_response_promise<std::vector<block>>();
      st.has_waiting = true;
      deliver(self);
      return st.waiting;
    },
    [self](retry_atom, uint64_t index) {
      auto& st = self->state;
      --st.in_flight; // released by request_block's own count
      if (!st.failure)
        request_block(self, index);
    },
    [self](proof_atom) {
      self->state.prove_scheduled = false;
      prove_now(self);
    },
    [self](sweep_atom, int64_t t) { sweep_deadlines(self, t); },
    [self](tick_atom, uint64_t seen) {
      auto& st = self->state;
      if (st.closing)
        return; // quits when its writes end
      if (!st.spec.drain && st.pulls == seen && !st.has_waiting) {
        spdlog::debug("store_stream {}: reader idle, quitting",
                      st.spec.tree.to_string());
        close_stream(self, caf::none);
        return;
      }
      self->delayed_send(self, st.spec.idle_timeout, tick_atom::value,
                         st.pulls);
    });
}

} // namespace cairn::actors
