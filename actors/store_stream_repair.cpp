// The repair of a protected dataset's download (see store_stream.hpp): data
// blocks nobody has are rebuilt from their step's shards by a
// step_decoder, proven against the tree with the witness, handed to the
// reader, and stored (parked by CID first when they cannot be proven yet).

#include "actors/store_stream.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "actors/step_decoder.hpp"
#include "actors/store_stream_detail.hpp"
#include "messages/error.hpp"

namespace cairn::actors::stream_detail {

namespace {

void start_repair(self_ptr self, uint64_t step);

// Proves what can be proven once the events already queued are handled:
// events come in bursts (a peer's batch of blocks, a decoded step), and each
// pass looks at every waiting block.
void prove_rebuilt(self_ptr self) {
  auto& st = self->state;
  if (st.prove_scheduled || st.failure)
    return;
  st.prove_scheduled = true;
  self->send(self, proof_atom::value);
}

// Proof fetches and step repairs kept running at once for the witness:
// losses tend to come in runs (a step's shards are `steps` apart), so the
// leaves after a needed one are likely needed next.
constexpr size_t max_proof_fetches = 64;
constexpr size_t max_repairs = 32;
// Rebuilt blocks kept in memory at most this many windows ahead of the
// reader.
constexpr uint64_t rebuilt_ahead = 4;

// Requests leaf `index` with its proof from the source. Parity fetched
// from peers is not stored: it serves only to rebuild this download's
// lost data (the reader reads data blocks, kept and rebuilt ones alike).
template <class OnValue, class OnError>
void request_with_proof(self_ptr self, uint64_t index, OnValue on_value,
                        OnError on_error) {
  auto& st = self->state;
  bool keep = !st.spec.ec || !st.spec.ec->is_parity(index);
  ask_source<block, merkle_proof>(self, std::move(on_value),
                                  std::move(on_error), proof_atom::value,
                                  block_address{st.spec.tree, index}, keep);
}

// Fetches a leaf's proof for the witness (the leaf is stored on the way).
void fetch_proof(self_ptr self, uint64_t index) {
  auto& st = self->state;
  if (st.witness->knows_leaf(index) || !st.proof_fetches.insert(index).second)
    return;
  request_with_proof(
    self, index,
    [=](block& b, merkle_proof& p) {
      auto& s = self->state;
      s.proof_fetches.erase(index);
      if (!s.witness->add_proof(b.id.digest, p))
        s.lost.insert(index); // a stored proof that fails: do not use it
      prove_rebuilt(self);
    },
    [=](caf::error& err) {
      auto& s = self->state;
      s.proof_fetches.erase(index);
      // Not found is a verdict; other errors (timeouts, a restarting
      // store) are retried a few times before the leaf counts as lost.
      if (is(err, ec::not_found) || ++s.proof_attempts[index] >= 3)
        s.lost.insert(index);
      prove_rebuilt(self);
    });
}

// Starts repairs of the steps of the lost leaves after `leaf`, while fewer
// than `max_repairs` run. Looks at most `steps` leaves ahead: consecutive
// leaves belong to consecutive steps, so further ones repeat them.
void repair_lost_after(self_ptr self, uint64_t leaf) {
  auto& st = self->state;
  const auto& ec = *st.spec.ec;
  st.lost.visit(leaf + 1, leaf + 1 + ec.steps, [&](uint64_t j) {
    if (st.repairs.size() >= max_repairs)
      return false;
    if (st.repaired.count(ec.step_of(j)) == 0)
      start_repair(self, ec.step_of(j));
    return true;
  });
}

// A write of block `index` (stored or parked ahead of the reader) ended:
// true if the reader asked for it meanwhile (the request that held its slot
// in the window is over; the caller answers it).
bool reader_waited(store_stream_state& st, uint64_t index) {
  if (st.wanted_from_store.erase(index) == 0)
    return false;
  --st.in_flight;
  return true;
}

// The write of a block rebuilt ahead of the reader ended: true if the
// reader asked for it meanwhile (its slot in the window is handed over).
bool stored_ahead(store_stream_state& st, uint64_t index) {
  st.storing.erase(index);
  return reader_waited(st, index);
}

// Counts a proven block as repaired and, if handed to the reader, done.
void count_proven(store_stream_state& st, const leaf_block& l, bool handed) {
  if (!st.spec.progress)
    return;
  ++st.spec.progress->blocks_repaired;
  if (handed)
    st.spec.progress->block_done(l.addr.index, l.data.size());
}

void flush_proven(self_ptr self);

// Asks the witness to prove rebuilt leaf `index` with digest `digest`,
// given the leaves known to be lost.
std::variant<merkle_proof, storage::witness_need, caf::error>
prove_leaf(store_stream_state& st, uint64_t index, const digest256& digest) {
  return st.witness->prove(index, digest, [&st](uint64_t a, uint64_t b) {
    return st.lost.first_outside(a, b);
  });
}

// True while what the witness needed (leaf `leaf`, lost or not then) is
// still missing: trying again would stop at the same leaf.
bool still_needs(const store_stream_state& st, uint64_t leaf, bool was_lost) {
  return !st.witness->has_leaf(leaf) && st.lost.contains(leaf) == was_lost;
}

// Parked blocks linked as leaves per transaction.
constexpr size_t max_links = 512;

// Proves parked blocks in order, from their CIDs' digests, and links those
// proven as leaves (one transaction; one at a time), so that the reader
// reads them like stored blocks instead of reading them back, proving and
// storing them one pull at a time. Stops at the first block the witness
// cannot prove yet and waits until what it needs arrives (a long run of
// losses proves only once its last step is rebuilt, then all at once).
void link_parked(self_ptr self) {
  auto& st = self->state;
  if (st.failure || st.link_off || !st.linking.empty() ||
      st.parked->blocks.empty())
    return;
  // Those the reader asked for already are read back on its behalf.
  auto& parked = st.parked->blocks;
  auto first = parked.lower_bound(st.next_request);
  if (first == parked.end())
    return;
  if (auto& w = st.link_wait) {
    if (w->index == first->first && still_needs(st, w->leaf, w->leaf_lost))
      return;
    w.reset();
  }
  std::vector<leaf_link> links;
  for (auto it = first; it != parked.end() && links.size() < max_links;) {
    auto index = it->first;
    auto res = prove_leaf(st, index, it->second.digest);
    if (auto* need = std::get_if<storage::witness_need>(&res)) {
      st.link_wait = store_stream_state::link_stop{
        index, need->leaf, st.lost.contains(need->leaf)};
      break;
    }
    if (std::holds_alternative<caf::error>(res)) {
      st.link_off = true; // the reader's own proof fails the download
      break;
    }
    links.push_back(leaf_link{block_address{st.spec.tree, index}, it->second,
                              std::get<merkle_proof>(std::move(res))});
    st.linking.emplace(index, it->second);
    it = parked.erase(it);
  }
  if (links.empty())
    return;
  // `rolled_back`: the store answered with an error, so nothing was
  // linked and the references are still the download's. After a timeout
  // the transaction may have committed: the blocks are forgotten (a
  // reference left over expires), since releasing them could take a
  // leaf's block; a reader finds the leaf, or rebuilds the block.
  // One link is in flight at a time: `linking` is this one's blocks.
  auto done = [self](bool ok, bool rolled_back) {
    auto& s = self->state;
    auto batch = std::move(s.linking);
    s.linking.clear();
    for (auto& [index, id] : batch) {
      if (!ok && rolled_back)
        s.parked->blocks.emplace(index, id);
      else if (ok && s.spec.progress)
        ++s.spec.progress->blocks_repaired;
      if (reader_waited(s, index) && !s.failure)
        request_block(self, index);
    }
    if (!ok)
      s.link_off = true;
    if (s.failure)
      release_parked(*s.parked);
    link_parked(self);
    close_when_idle(self);
  };
  self
    ->request(st.source, st.spec.block_timeout, put_atom::value,
              link_atom::value, std::move(links))
    .then([done](uint64_t) { done(true, false); },
          [self, done](caf::error& err) {
            spdlog::debug("store_stream {}: cannot link parked blocks: {}",
                          self->state.spec.tree.to_string(), describe(err));
            done(false, err.category() == error_category);
          });
}

} // namespace

// Proves the rebuilt blocks the reader waits for, then those rebuilt ahead
// of it; stores those proven in one transaction and delivers the awaited
// ones. For an awaited block, fetches (or repairs) what the witness needs
// first; a block rebuilt ahead only waits (with proof fetches) for it.
void prove_now(self_ptr self) {
  auto& st = self->state;
  if (st.failure)
    return;
  std::vector<leaf_block> proven;
  std::vector<bool> ahead;
  // False if the stream failed.
  auto try_prove = [&](uint64_t index, bool is_ahead) {
    auto rb = st.rebuilt.find(index);
    if (rb == st.rebuilt.end()) {
      st.blocked.erase(index);
      if (is_ahead)
        st.storing_ahead.erase(index); // the reader passed it
      return true;
    }
    if (auto b = st.blocked.find(index); b != st.blocked.end()) {
      auto [leaf, was_lost] = b->second;
      if (still_needs(st, leaf, was_lost))
        return true; // nothing new for it
      st.blocked.erase(b);
    }
    auto res = prove_leaf(st, index, rb->second.id.digest);
    if (auto* err = std::get_if<caf::error>(&res)) {
      fail(self,
           make_error(ec::verification_failed,
                      "repair of " + st.spec.tree.to_string(), describe(*err)));
      return false;
    }
    if (auto* need = std::get_if<storage::witness_need>(&res)) {
      const auto& ec = *st.spec.ec;
      bool need_lost = st.lost.contains(need->leaf);
      st.blocked[index] = {need->leaf, need_lost};
      if (!need_lost) {
        fetch_proof(self, need->leaf);
        auto end = std::min(ec.total(), need->leaf + 1 + max_proof_fetches);
        for (auto j = need->leaf + 1;
             j < end && st.proof_fetches.size() < max_proof_fetches; ++j)
          if (!st.lost.contains(j))
            fetch_proof(self, j);
      } else if (!is_ahead) {
        // Lost and without a candidate: (re)build its step (a step decoded
        // before the leaf was known to be lost kept no digest for it).
        st.repaired.erase(ec.step_of(need->leaf));
        start_repair(self, ec.step_of(need->leaf));
        repair_lost_after(self, need->leaf);
      }
      return true;
    }
    auto proof = std::get<merkle_proof>(std::move(res));
    proven.push_back(leaf_block{block_address{st.spec.tree, index},
                                std::move(rb->second), std::move(proof)});
    ahead.push_back(is_ahead);
    st.rebuilt.erase(rb);
    if (is_ahead) {
      st.storing_ahead.erase(index);
      st.storing.insert(index);
    } else {
      st.awaiting.erase(index);
    }
    return true;
  };
  for (auto index :
       std::vector<uint64_t>(st.awaiting.begin(), st.awaiting.end()))
    if (!try_prove(index, false) || st.failure)
      return; // a failed repair (start_repair) fails the stream too
  // Blocks ahead, in order, up to the first that waits for a lost leaf's
  // rebuild: those after it wait for the same rebuilds (or later ones)
  // nearly always, and a pass over all of them after every decoded step
  // costs more than it proves. Blocks that wait for a proof do not stop
  // the pass: trying them fetches the proofs ahead of the reader. The
  // reader's request makes any of them awaited anyway.
  for (auto it = st.storing_ahead.begin(); it != st.storing_ahead.end();) {
    auto index = *it++; // try_prove may erase `index`, not its successors
    if (!try_prove(index, true) || st.failure)
      return;
    if (auto b = st.blocked.find(index);
        b != st.blocked.end() && b->second.second)
      break;
  }
  if (proven.empty()) {
    link_parked(self);
    return;
  }
  // Those the reader waits for go out at once, proven, while the store
  // writes them (a failed write fails the stream): after a long run of
  // losses the first write holds windows of blocks, and a later one may wait
  // for the write in flight. Without a reader (`drain`), a block counts as
  // had only once stored.
  auto awaited =
    static_cast<uint32_t>(std::count(ahead.begin(), ahead.end(), false));
  st.in_flight += awaited;
  if (!st.spec.drain && awaited > 0) {
    for (size_t i = 0; i < proven.size(); ++i)
      if (!ahead[i]) {
        count_proven(st, proven[i], true);
        st.ready.emplace(proven[i].addr.index, proven[i].data);
      }
    deliver(self);
  }
  for (size_t i = 0; i < proven.size(); ++i) {
    st.store_queue.push_back(std::move(proven[i]));
    st.store_queue_ahead.push_back(ahead[i]);
  }
  flush_proven(self);
  link_parked(self);
}

namespace {

// Stores the queued proven blocks under their leaves in one transaction,
// unless a write is in flight: then they go together when it ends (each
// decoded step proves a few blocks, and a transaction per step costs more
// than its bytes). Those the reader waits for were handed over already
// (see `prove_now`), unless the stream drains; the others are handed over
// once stored if the reader asked for them meanwhile.
void flush_proven(self_ptr self) {
  auto& st = self->state;
  if (st.store_writing || st.store_queue.empty() || st.failure)
    return;
  std::vector<leaf_block> proven;
  proven.swap(st.store_queue);
  std::vector<bool> ahead;
  ahead.swap(st.store_queue_ahead);
  auto awaited =
    static_cast<uint32_t>(std::count(ahead.begin(), ahead.end(), false));
  st.store_writing = true;
  self
    ->request(st.source, st.spec.block_timeout, put_atom::value,
              leaf_atom::value, proven)
    .then(
      [=](ok_atom) {
        auto& s = self->state;
        s.store_writing = false;
        s.in_flight -= awaited;
        // The leaves hold parked blocks now: the download's references go.
        std::vector<cid> unpark;
        for (auto& l : proven)
          if (auto pk = s.parked->blocks.find(l.addr.index);
              pk != s.parked->blocks.end()) {
            unpark.push_back(pk->second);
            s.parked->blocks.erase(pk);
          }
        if (!unpark.empty())
          caf::anon_send(s.source, release_atom::value, std::move(unpark));
        for (size_t i = 0; i < proven.size(); ++i) {
          auto& l = proven[i];
          auto index = l.addr.index;
          if (!ahead[i] && !s.spec.drain)
            continue; // handed over already (see prove_now)
          bool handed = !ahead[i] || stored_ahead(s, index);
          if (s.failure)
            continue;
          count_proven(s, l, handed);
          if (handed)
            s.ready.emplace(index, l.data);
        }
        if (!s.failure) {
          deliver(self);
          // The window has room again (blocks handed over early kept
          // their slots until now).
          if (!s.spec.drain && awaited > 0)
            request_more(self);
          flush_proven(self);
        }
        close_when_idle(self);
      },
      [=](caf::error& err) {
        auto& s = self->state;
        s.store_writing = false;
        s.in_flight -= awaited;
        for (size_t i = 0; i < proven.size(); ++i)
          if (ahead[i])
            stored_ahead(s, proven[i].addr.index);
        fail(self, std::move(err));
        close_when_idle(self);
      });
}

// The write of blocks being parked ended. A reader that asked for one
// meanwhile asks again: it reads the parked block back, or (if it could not
// be parked) fetches or repairs it anew.
void parked(self_ptr self,
            const std::vector<std::pair<uint64_t, block>>& blocks, bool ok) {
  auto& st = self->state;
  for (auto& [index, b] : blocks) {
    st.parking_now.erase(index);
    if (ok)
      st.parked->blocks.emplace(index, b.id);
    if (reader_waited(st, index) && !st.failure)
      request_block(self, index);
  }
  if (st.failure)
    release_parked(*st.parked);
  link_parked(self);
  close_when_idle(self);
}

// Writes the queued blocks to park in one transaction, unless a write is
// in flight: then they go together when it ends (a step yields a few
// blocks, and a transaction per step costs more than its bytes).
void flush_parks(self_ptr self) {
  auto& st = self->state;
  if (st.park_writing || st.park_queue.empty() || st.failure)
    return;
  std::vector<std::pair<uint64_t, block>> blocks;
  blocks.swap(st.park_queue);
  std::vector<block> bs;
  bs.reserve(blocks.size());
  for (auto& ib : blocks)
    bs.push_back(ib.second);
  st.park_writing = true;
  auto done = [self, blocks](bool ok) {
    self->state.park_writing = false;
    parked(self, blocks, ok);
    if (!self->state.failure)
      flush_parks(self);
  };
  self
    ->request(st.source, st.spec.block_timeout, put_atom::value, std::move(bs))
    .then([done](uint64_t) { done(true); },
          [self, done](caf::error& err) {
            spdlog::debug("store_stream {}: cannot park rebuilt blocks: {}",
                          self->state.spec.tree.to_string(), describe(err));
            done(false);
          });
}

// Stores rebuilt blocks the reader has not reached yet by CID, holding a
// reference, until it gets there (see `store_stream_state::parked`). A
// block that could not be parked is rebuilt again when the reader needs it.
void park(self_ptr self, std::vector<std::pair<uint64_t, block>> blocks) {
  auto& st = self->state;
  for (auto& ib : blocks) {
    st.parking_now.insert(ib.first);
    st.park_queue.push_back(std::move(ib));
  }
  flush_parks(self);
}

// Rebuilt shards of `step` arrived from the decoder.
void on_decoded(self_ptr self, uint64_t step, std::vector<block>& out) {
  auto& st = self->state;
  if (st.failure)
    return;
  const auto& ec = *st.spec.ec;
  std::vector<block> had;
  if (auto r = st.repairs.find(step); r != st.repairs.end()) {
    had = std::move(r->second.shards);
    st.repairs.erase(r);
  }
  st.repaired.insert(step);
  std::vector<std::pair<uint64_t, block>> to_park;
  for (uint32_t shard = 0; shard < out.size(); ++shard) {
    auto index = ec.index_of(step, shard);
    if (!out[shard].data) {
      // A shard fetched for the repair that the reader waits for too (its
      // own request failed meanwhile): hand it over.
      if (shard < had.size() && had[shard].data && st.awaiting.count(index))
        st.rebuilt.emplace(index, had[shard]);
      continue;
    }
    st.witness->add_candidate(index, out[shard].id.digest);
    if (ec.is_parity(index))
      continue;
    // Kept: data blocks the reader waits for or has asked for, and those
    // it has not asked for yet (proven and stored ahead of it) while at most
    // `rebuilt_ahead` windows of them are held; beyond, they are parked in
    // the store, so memory stays bounded.
    if (st.awaiting.count(index) > 0) {
      st.rebuilt.emplace(index, std::move(out[shard]));
    } else if (index >= st.next_deliver && index < st.next_request &&
               st.ready.count(index) == 0) {
      // Asked for, and the answer is on its way: if it says the block is
      // lost, this copy serves (without it the step was decoded again).
      st.rebuilt.emplace(index, std::move(out[shard]));
    } else if (index >= st.next_request && index <= st.spec.last &&
               st.storing.count(index) == 0 &&
               st.parked->blocks.count(index) == 0 &&
               st.parking_now.count(index) == 0 &&
               st.linking.count(index) == 0) {
      if (st.rebuilt.size() < rebuilt_ahead * uint64_t{st.spec.window}) {
        st.rebuilt.emplace(index, std::move(out[shard]));
        st.storing_ahead.insert(index);
      } else {
        to_park.emplace_back(index, std::move(out[shard]));
      }
    }
  }
  spdlog::debug("store_stream {}: rebuilt step {}", st.spec.tree.to_string(),
                step);
  if (!to_park.empty())
    park(self, std::move(to_park));
  prove_rebuilt(self);
}

// The shard of step `step` to fetch next: not had, not tried, not known to
// be lost. One whose neighbouring leaf is lost comes last: losses come in
// runs, and asking for a lost shard costs a round trip before the next
// one is asked for.
std::optional<uint32_t> next_shard(const store_stream_state& st, uint64_t step,
                                   const step_repair& r) {
  const auto& ec = *st.spec.ec;
  std::optional<uint32_t> suspect;
  for (uint32_t shard = 0; shard < ec.k + ec.m; ++shard) {
    if (r.tried[shard] || r.shards[shard].data)
      continue;
    auto index = ec.index_of(step, shard);
    if (st.lost.contains(index))
      continue;
    bool near_loss = (index > 0 && st.lost.contains(index - 1)) ||
                     (index + 1 < ec.total() && st.lost.contains(index + 1));
    if (!near_loss)
      return shard;
    if (!suspect)
      suspect = shard;
  }
  return suspect;
}

// Requests shards of a step under repair until `k` are had or none is left
// to try; decodes when `k` are there.
void fill_repair(self_ptr self, uint64_t step) {
  auto& st = self->state;
  auto it = st.repairs.find(step);
  if (st.failure || it == st.repairs.end())
    return;
  auto& r = it->second;
  const auto& ec = *st.spec.ec;
  while (r.have + r.in_flight < ec.k) {
    auto next = next_shard(st, step, r);
    if (!next)
      break;
    auto shard = *next;
    auto index = ec.index_of(step, shard);
    r.tried[shard] = true;
    ++r.in_flight;
    request_with_proof(
      self, index,
      [=](block& b, merkle_proof& p) {
        auto& s = self->state;
        auto i = s.repairs.find(step);
        if (i == s.repairs.end())
          return;
        --i->second.in_flight;
        // A shard whose proof fails must not feed the decoder.
        if (!s.witness->add_proof(b.id.digest, p)) {
          s.lost.insert(index);
        } else if (!i->second.shards[shard].data) {
          i->second.shards[shard] = std::move(b);
          ++i->second.have;
        }
        fill_repair(self, step);
      },
      [=](caf::error& err) {
        auto& s = self->state;
        auto i = s.repairs.find(step);
        if (i == s.repairs.end())
          return;
        --i->second.in_flight;
        // Only a block nobody has is lost; after other errors (timeouts)
        // this repair just tries the step's next shard.
        if (is(err, ec::not_found))
          s.lost.insert(index);
        fill_repair(self, step);
      });
  }
  if (r.decoding)
    return;
  if (r.have >= ec.k) {
    r.decoding = true;
    if (!st.decoder)
      st.decoder = self->spawn<caf::detached + caf::linked>(step_decoder);
    // Only k shards go to the decoder; the others are rebuilt.
    std::vector<block> shards = r.shards;
    swept_request<caf::message_priority::normal, std::vector<block>>(
      self, st.decoder, std::chrono::seconds{60},
      [=](std::vector<block>& out) { on_decoded(self, step, out); },
      [=](caf::error& err) { fail(self, std::move(err)); }, decode_atom::value,
      ec.k, ec.m, static_cast<int32_t>(st.spec.ec_backend), std::move(shards));
    return;
  }
  if (r.in_flight == 0)
    fail(self,
         make_error(ec::not_found,
                    "cannot repair step " + std::to_string(step) + " of " +
                      st.spec.tree.to_string(),
                    "only " + std::to_string(r.have) + " of its " +
                      std::to_string(ec.k + ec.m) + " blocks can be had; " +
                      std::to_string(ec.k) + " are needed"));
}

void start_repair(self_ptr self, uint64_t step) {
  auto& st = self->state;
  if (st.repairs.count(step) > 0 || st.repaired.count(step) > 0)
    return;
  const auto& ec = *st.spec.ec;
  auto& r = st.repairs[step];
  r.shards.assign(ec.k + ec.m,
                  block{cid{multicodec::codex_block, {}}, nullptr});
  r.tried.assign(ec.k + ec.m, false);
  // Padding blocks are zero by definition: no need to fetch them.
  for (uint32_t shard = 0; shard < ec.k; ++shard) {
    if (ec.is_padding(ec.index_of(step, shard))) {
      r.shards[shard] =
        block::make(bytes(st.spec.block_size, 0), multicodec::codex_block);
      ++r.have;
    }
  }
  spdlog::debug("store_stream {}: repairing step {}", st.spec.tree.to_string(),
                step);
  fill_repair(self, step);
}

} // namespace

// A data block of a protected dataset that nobody has: rebuild it.
void on_lost(self_ptr self, uint64_t index) {
  auto& st = self->state;
  st.lost.insert(index);
  // Awaited now: what the witness needs for it is fetched or repaired,
  // not just waited for.
  st.blocked.erase(index);
  st.awaiting.insert(index);
  auto step = st.spec.ec->step_of(index);
  if (st.rebuilt.count(index) > 0) {
    prove_rebuilt(self); // its step was rebuilt for another block
    return;
  }
  st.repaired.erase(step);
  start_repair(self, step);
}

} // namespace cairn::actors::stream_detail
