#include "actors/store_stream.hpp"

#include <spdlog/spdlog.h>

#include "messages/error.hpp"

namespace cairn::actors {

namespace {

using self_ptr = store_stream_actor::stateful_pointer<store_stream_state>;

// Blocks handed to the reader per pull at most.
constexpr size_t max_blocks_per_pull = 8;

void request_more(self_ptr self);

void fail(self_ptr self, caf::error err) {
  auto& st = self->state;
  if (st.failure)
    return;
  spdlog::warn("store_stream {}: {}", st.spec.tree.to_string(), describe(err));
  if (st.spec.progress)
    st.spec.progress->finish(download_progress::phase::failed, describe(err));
  st.failure = std::move(err);
  st.ready.clear();
  if (st.has_waiting) {
    st.has_waiting = false;
    st.waiting.deliver(st.failure);
  }
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
  if (out.empty() && st.next_deliver <= st.spec.last)
    return;
  st.has_waiting = false;
  if (out.empty() && st.spec.progress)
    st.spec.progress->finish(download_progress::phase::done);
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
        if (current)
          self->state.source = caf::actor_cast<network_store_actor>(current);
        self->delayed_send(self, backoff, retry_atom::value, index);
      },
      [=](caf::error&) {
        self->delayed_send(self, backoff, retry_atom::value, index);
      });
}

void request_block(self_ptr self, uint64_t index) {
  auto& st = self->state;
  ++st.in_flight;
  self
    ->request(st.source, st.spec.block_timeout, get_atom::value,
              block_address{st.spec.tree, index})
    .then(
      [=](block& b) {
        auto& s = self->state;
        --s.in_flight;
        if (s.failure)
          return;
        if (s.spec.progress) {
          ++s.spec.progress->blocks_done;
          s.spec.progress->bytes_done += b.size();
        }
        s.ready.emplace(index, std::move(b));
        deliver(self);
      },
      [=](caf::error& err) {
        auto& s = self->state;
        --s.in_flight;
        if (s.failure)
          return;
        // A missing or unreadable block will not appear by asking again;
        // a dead or slow source may recover.
        if (is(err, ec::not_found) || is(err, ec::storage_io))
          fail(self, std::move(err));
        else
          retry(self, index, err);
      });
}

void request_more(self_ptr self) {
  auto& st = self->state;
  while (!st.failure && st.next_request <= st.spec.last &&
         st.in_flight + st.ready.size() < st.spec.window)
    request_block(self, st.next_request++);
}

} // namespace

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
  if (spec.progress)
    self->attach_functor([p = spec.progress](const caf::error& reason) {
      if (p->state == static_cast<int>(download_progress::phase::running))
        p->finish(download_progress::phase::failed,
                  reason ? describe(reason) : std::string{"stopped"});
    });
  request_more(self);
  self->delayed_send(self, spec.idle_timeout, tick_atom::value, uint64_t{0});
  return {
    [self](pull_atom) -> caf::result<std::vector<block>> {
      auto& st = self->state;
      ++st.pulls;
      if (st.failure)
        return st.failure;
      if (st.has_waiting)
        return make_error(ec::invalid_argument, "one pull at a time");
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
    [self](tick_atom, uint64_t seen) {
      auto& st = self->state;
      if (!st.spec.drain && st.pulls == seen && !st.has_waiting) {
        spdlog::debug("store_stream {}: reader idle, quitting",
                      st.spec.tree.to_string());
        self->quit();
        return;
      }
      self->delayed_send(self, st.spec.idle_timeout, tick_atom::value,
                         st.pulls);
    },
  };
}

} // namespace cairn::actors
