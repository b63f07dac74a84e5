#include "actors/engine.hpp"

#include <algorithm>
#include <random>

#include <caf/blocking_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/peer_listener.hpp"
#include "messages/buffer_pool.hpp"
#include "messages/error.hpp"
#include "messages/peer_record.hpp"
#include "storage/delivery_check.hpp"
#include "storage/lmdb_store.hpp"

namespace cairn::actors {

namespace {

using engine_ptr = engine_actor::stateful_pointer<engine_state>;
using clock = std::chrono::steady_clock;
using wire::want_entry;

// Serving a peer: store reads (each of up to `serve_batch` leaves) in
// flight per peer, and the block bytes per DELIVERY message (well inside
// the 4 MiB frame; one message, one store transaction per batch instead of
// per block).
constexpr uint32_t serve_reads = 2;
constexpr size_t serve_batch = 16;
constexpr size_t delivery_bytes = 1 << 20;
// A read for a peer with none in flight is this short: its first blocks go
// out alone instead of behind a full batch (a downloader asks for many
// blocks at once, and waits for the first). A read on the engine's thread
// (`engine_config::readers`) ends before the next round starts, so each
// of its rounds is this short: that streams faster than rounds of
// `serve_batch` (a 1 GiB stream in clear, 437-445 against 469-506 MB/s in
// three alternating runs each).
constexpr size_t first_serve_batch = 4;

// -- helpers
// --------------------------------------------------------------------

void queue_want(engine_ptr self, const std::string& peer,
                const wire::address& addr, want_entry::want_type type,
                bool cancel = false, uint32_t leaves = 0) {
  auto& wl = self->state.outbox[peer];
  want_entry e;
  e.addr = addr;
  e.type = type;
  e.cancel = cancel;
  e.send_dont_have = true;
  e.leaves = leaves;
  if (!cancel)
    ++(type == want_entry::want_type::have ? self->state.want_haves_out
                                           : self->state.want_blocks_out);
  wl.entries.push_back(std::move(e));
  if (wl.entries.size() >= wire::max_want_entries) {
    auto i = self->state.peers.find(peer);
    if (i != self->state.peers.end())
      self->send(i->second.info.session, send_atom::value,
                 wire::message{std::move(wl)});
    self->state.outbox.erase(peer);
  }
}

// Sends every want gathered by the current handler.
void flush(engine_ptr self) {
  auto& st = self->state;
  for (auto& [peer, wl] : st.outbox) {
    auto i = st.peers.find(peer);
    if (i != st.peers.end() && !wl.entries.empty())
      self->send(i->second.info.session, send_atom::value,
                 wire::message{std::move(wl)});
  }
  st.outbox.clear();
}

// Sends the wants gathered so far once the messages already queued are
// handled: a reader asks for blocks one request each, and a WANT_LIST per
// request costs the peer a message and a store read per block.
void flush_soon(engine_ptr self) {
  auto& st = self->state;
  if (st.flush_pending || st.outbox.empty())
    return;
  st.flush_pending = true;
  self->send(self, flush_atom::value);
}

// How long a leaf that came with its manifest and was stored before any
// caller wanted it is read back from the store when first wanted.
constexpr auto read_back_for = std::chrono::seconds{10};

// Asked of no peer and not being stored: a want `engine_state::unrequested`
// holds, and the first `schedule` may send.
bool awaits_request(const pending_want& pw) {
  return pw.requested.empty() && !pw.storing;
}

// Answers the waiters of `addr` (with `proof` for those that want it: a
// stored leaf has one), and notes a leaf that came with its manifest and
// was stored before anyone wanted it (`engine_state::stored_unasked`).
void resolve(engine_ptr self, const wire::address& addr,
             const caf::expected<block>& res,
             const merkle_proof* proof = nullptr) {
  auto& st = self->state;
  auto i = st.pending.find(addr);
  if (i == st.pending.end())
    return;
  auto& pw = i->second;
  if (pw.with_manifest && pw.waiters.empty() && pw.proof_waiters.empty() && res)
    st.stored_unasked.emplace(addr, clock::now());
  for (auto& w : i->second.waiters) {
    if (res)
      w.deliver(*res);
    else
      w.deliver(res.error());
  }
  for (auto& w : i->second.proof_waiters) {
    if (res && proof)
      w.deliver(*res, *proof);
    else
      w.deliver(
        res ? make_error(ec::not_found, "no proof for " + wire::to_string(addr))
            : res.error());
  }
  // Tell the peers still working on it that it is no longer wanted, but
  // for those asked for a manifest's leaves with it: they are expected.
  for (auto& peer : i->second.requested) {
    if (auto* id = std::get_if<cid>(&addr);
        id && st.leaves_asked.count({peer, *id}) > 0)
      continue;
    if (st.sched.cancel(peer, addr))
      queue_want(self, peer, addr, want_entry::want_type::block, true);
  }
  st.unrequested.erase(addr);
  st.pending.erase(i);
}

void discover(engine_ptr self, const wire::address& addr);
void dial(engine_ptr self, const std::string& peer_id,
          const std::vector<std::string>& addrs);

// Sends what the scheduler decides for `addr`: a want-block to the best
// peer known to have it, or want-haves to the peers not asked yet (and
// want-blocks to a few of them, for a manifest); asks
// discovery when nobody can help, and fails the want when nobody can.
void schedule(engine_ptr self, const wire::address& addr) {
  auto& st = self->state;
  auto it = st.pending.find(addr);
  if (it == st.pending.end())
    return;
  auto step = st.sched.schedule(addr, it->second, clock::now());
  if (awaits_request(it->second))
    st.unrequested.insert(addr);
  else
    st.unrequested.erase(addr);
  // The first peer asked for a manifest a download waits for is asked for
  // its first leaves too.
  auto* id = std::get_if<cid>(&addr);
  uint32_t leaves = it->second.leaves_with;
  auto ask_block = [&](const std::string& peer) {
    uint32_t n = 0;
    if (auto* stats = leaves > 0 ? st.sched.find(peer) : nullptr) {
      auto sent = stats->outstanding.find(addr);
      if (sent != stats->outstanding.end()) {
        n = storage::peer_scheduler::leaves_with_manifest(*stats, leaves);
        st.leaves_asked[{peer, *id}] = {n, sent->second};
        leaves = 0;
      }
    }
    queue_want(self, peer, addr, want_entry::want_type::block, false, n);
  };
  if (!step.request_from.empty())
    ask_block(step.request_from);
  for (auto& peer : step.ask_block)
    ask_block(peer);
  for (auto& id : step.ask_have)
    queue_want(self, id, addr, want_entry::want_type::have);
  if (step.lost) {
    if (st.lost.empty())
      self->send(self, lost_atom::value);
    st.lost.push_back(addr);
  }
  if (step.discover)
    discover(self, addr);
}

// Asks discovery for providers of the dataset (tree or manifest CID) and
// dials those we are not connected to. One lookup per dataset at a time;
// the next one after `lookup_pause` (a `retry_atom` comes then).
void discover(engine_ptr self, const wire::address& addr) {
  auto& st = self->state;
  if (!st.discovery || st.stopping)
    return;
  auto key = storage::dataset_of(addr);
  auto step = st.sched.begin_lookup(key, clock::now());
  if (step.retry_after)
    self->delayed_send(self, *step.retry_after, retry_atom::value, key);
  if (!step.start)
    return;
  spdlog::debug("engine: looking for providers of {}", key.to_string());
  auto done = [self, key](size_t dialed) {
    auto& st = self->state;
    st.sched.end_lookup(key, dialed, clock::now());
    // Wants nobody could serve get their verdict (or their next lookup)
    // now, not at the next tick.
    std::vector<wire::address> waiting;
    for (auto& [a, pw] : st.pending)
      if (pw.requested.empty() && storage::dataset_of(a) == key)
        waiting.push_back(a);
    for (auto& a : waiting)
      schedule(self, a);
    flush(self);
  };
  self->request(st.discovery, std::chrono::seconds{30}, find_atom::value, key)
    .then(
      [self, key, done](std::vector<std::string>& records) {
        auto& st = self->state;
        std::map<std::string, std::vector<std::string>> fresh;
        size_t connected = 0;
        for (auto& text : records) {
          auto rec = peer_record::from_text(text);
          if (!rec)
            continue;
          auto id = rec->id().to_string();
          if (id == st.cfg.session.key->peer_id().to_string())
            continue;
          if (st.peers.count(id) > 0 || st.dialing.count(id) > 0)
            ++connected;
          else
            fresh.emplace(id, rec->addrs);
        }
        std::vector<std::string> ids;
        for (auto& [id, addrs] : fresh)
          ids.push_back(id);
        auto chosen = storage::choose_dials(
          std::move(ids), connected, st.cfg.max_dials_per_lookup, st.dial_rng);
        for (auto& id : chosen) {
          spdlog::info("engine: dialing provider {} of {}", id,
                       key.to_string());
          dial(self, id, fresh[id]);
        }
        done(chosen.size());
      },
      [key, done](caf::error& err) {
        spdlog::debug("engine: discovery of {} failed: {}", key.to_string(),
                      describe(err));
        done(1); // no verdict from a failed lookup
      });
}

// Drops a peer's claims on pending blocks and asks elsewhere.
void release_peer_wants(engine_ptr self, const std::string& peer_id) {
  auto& st = self->state;
  auto redo = st.sched.remove(peer_id);
  for (auto i = st.leaves_asked.begin(); i != st.leaves_asked.end();)
    i = i->first.first == peer_id ? st.leaves_asked.erase(i) : std::next(i);
  for (auto& addr : redo) {
    auto it = st.pending.find(addr);
    if (it != st.pending.end())
      it->second.requested.erase(peer_id);
  }
  for (auto& [addr, pw] : st.pending)
    pw.asked_have.erase(peer_id);
  for (auto& addr : redo)
    schedule(self, addr);
}

// Answers the callers waiting for a connection to `id`: connected if
// `err` is none.
void answer_connecting(engine_state& st, const std::string& id,
                       const caf::error& err) {
  auto waiters = st.connecting.equal_range(id);
  for (auto i = waiters.first; i != waiters.second; ++i)
    if (err)
      i->second.deliver(err);
    else
      i->second.deliver(ok_atom::value);
  st.connecting.erase(id);
}

// A session ended (it said so, or it died): forget the peer and ask others
// for what it owed us.
void peer_gone(engine_ptr self, const std::string& id, bool was_up,
               const std::string& why) {
  auto& st = self->state;
  st.dialing.erase(id);
  answer_connecting(st, id, make_error(ec::unavailable, why));
  auto it = st.peers.find(id);
  if (it != st.peers.end() && was_up) {
    // Only the session we use counts (a duplicate's end does not).
    spdlog::info("engine: peer {} disconnected: {}", id, why);
    if (st.cfg.book)
      st.cfg.book->erase(id);
    st.peers.erase(it);
    release_peer_wants(self, id);
    flush(self);
  }
  if (st.peers.count(id) == 0 && !st.stopping) {
    if (auto wait = st.redial.lost(id, clock::now()))
      spdlog::info("engine: dialing {} again in {} ms (attempt {} of {})", id,
                   wait->count(), st.redial.attempts(id),
                   st.cfg.redial.max_attempts);
  }
}

void penalize(engine_ptr self, peer_entry& p, const std::string& why) {
  auto& st = self->state;
  auto bad = st.sched.penalize(p.info.peer_id);
  ++st.bad_blocks;
  spdlog::warn("engine: peer {} sent a bad block ({}); {} so far",
               p.info.peer_id, why, bad);
  if (bad >= st.cfg.max_bad_blocks) {
    st.redial.forget(p.info.peer_id);
    self->send(p.info.session, close_atom::value,
               "sent " + std::to_string(bad) +
                 " invalid or unrequested blocks");
  }
}

// -- requester side
// ----------------------------------------------------------------

// Verified leaves are stored in group commits, as large as the flow of
// blocks allows (`storage::store_batcher`).
void store_when_due(engine_ptr self);

void flush_stores(engine_ptr self) {
  auto& st = self->state;
  if (!st.batcher.may_commit(st.to_store.size()))
    return;
  std::vector<leaf_block> batch;
  batch.swap(st.to_store);
  st.batcher.started(batch.size());
  auto done = [self, n = batch.size()] {
    auto& st = self->state;
    st.batcher.finished(n, clock::now());
    store_when_due(self);
    flush(self);
  };
  self
    ->request(st.local, std::chrono::seconds{30}, put_atom::value,
              leaf_atom::value, batch)
    .then(
      [self, batch, done](ok_atom) {
        for (auto& l : batch)
          resolve(self, wire::address{l.addr}, l.data, &l.proof);
        done();
      },
      [self, batch, done](caf::error& err) {
        for (auto& l : batch)
          resolve(self, wire::address{l.addr}, err);
        done();
      });
}

// Commits the waiting leaves now if they are enough, else sends this actor
// the flush message when the batcher says.
void store_when_due(engine_ptr self) {
  auto& st = self->state;
  if (st.batcher.commit_now(st.to_store.size())) {
    flush_stores(self);
    return;
  }
  using flush = storage::store_batcher::flush;
  switch (st.batcher.on_waiting(st.to_store.size(), st.pending.size(),
                                clock::now())) {
  case flush::now:
    self->send(self, put_atom::value);
    break;
  case flush::later:
    self->delayed_send(self, storage::store_batcher::wait, put_atom::value);
    break;
  case flush::none:
    break;
  }
}

void queue_store(engine_ptr self, leaf_block leaf) {
  self->state.to_store.push_back(std::move(leaf));
  store_when_due(self);
}

// A block of a dataset arrived that another peer had delivered.
void count_duplicate(source_batch& sources, const wire::address& addr) {
  if (auto* a = std::get_if<block_address>(&addr))
    sources.duplicate(a->tree);
}

// Hands the counts of a delivery to the node's `tree_sources`.
void record_sources(engine_state& st, const std::string& peer_id,
                    source_batch& sources) {
  if (st.cfg.sources && !sources.empty())
    st.cfg.sources->record(peer_id, sources);
  sources.clear();
}

// The leaves `peer_id` was asked for with the manifest `addr`, if it was
// (forgotten now: the manifest arrived).
std::optional<engine_state::leaves_ask>
take_leaves_ask(engine_state& st, const std::string& peer_id,
                const wire::address& addr) {
  auto* id = std::get_if<cid>(&addr);
  if (!id || st.leaves_asked.empty())
    return std::nullopt;
  auto i = st.leaves_asked.find({peer_id, *id});
  if (i == st.leaves_asked.end())
    return std::nullopt;
  auto ask = i->second;
  st.leaves_asked.erase(i);
  return ask;
}

// The manifest `m` arrived from `peer_id`, asked for with its first leaves:
// they count as requested from it since the manifest's want went out, and
// are stored when they come whether or not a download asks for them by
// then (one will: its first window).
void expect_leaves(engine_state& st, const std::string& peer_id,
                   const manifest& m, engine_state::leaves_ask& ask) {
  if (m.is_protected)
    return; // not sent: its first leaves are not the first data blocks
  // The download begins once the manifest is stored, after some of these
  // may have come: it counts their sources from here.
  if (ask.expected == 0 && st.cfg.sources)
    st.cfg.sources->mark(m.tree_cid);
  auto count = std::min<uint64_t>(ask.count, m.blocks_count());
  ask.tree = m.tree_cid;
  ask.expected = count;
  for (uint64_t i = 0; i < count; ++i) {
    wire::address a{block_address{m.tree_cid, i}};
    if (!st.sched.expect(peer_id, a, ask.sent))
      return;
    auto [it, fresh] = st.pending.try_emplace(a);
    if (fresh) {
      it->second.since = clock::now();
      it->second.keep = true;
      it->second.with_manifest = true;
    }
    it->second.requested.insert(peer_id);
  }
}

void on_delivery(engine_ptr self, peer_entry& p, wire::block_delivery& msg) {
  auto& st = self->state;
  auto now = clock::now();
  const auto& peer_id = p.info.peer_id;
  // Counted for the whole message at its end, or before a block is handed
  // to its waiters (a download reads its counts when it ends).
  source_batch sources;
  for (auto& d : msg.blocks) {
    auto pend = st.pending.find(d.addr);
    auto leaves = take_leaves_ask(st, peer_id, d.addr);
    if (pend == st.pending.end() && !st.sched.in_flight(peer_id, d.addr)) {
      // A block we cancelled may cross the cancel on the wire.
      if (!st.sched.forget_cancelled(peer_id, d.addr)) {
        penalize(self, p, "unrequested " + wire::to_string(d.addr));
        continue;
      }
      count_duplicate(sources, d.addr);
      // The leaves asked for with a manifest come even if it was cancelled.
      if (leaves && storage::check_delivery(d))
        if (auto m = manifest::decode(byte_view{*d.data}))
          expect_leaves(st, peer_id, *m, *leaves);
      continue;
    }
    // The session hashed it already; a block it did not vouch for is
    // checked here (and fails again if it failed there).
    auto digest = d.verified ? caf::expected<digest256>{*d.verified}
                             : storage::check_delivery(d);
    if (!digest) {
      penalize(self, p, describe(digest.error()));
      st.sched.delivery_failed(peer_id, d.addr);
      if (pend != st.pending.end()) {
        pend->second.requested.erase(peer_id);
        schedule(self, d.addr);
      }
      continue;
    }
    st.sched.delivered(peer_id, d.addr, d.data->size(), now);
    p.recent.add(d.data->size(), now);
    p.last_useful = now;
    p.debt += d.data->size() * st.sched.price_of(peer_id, d.addr);
    ++st.blocks_in;
    st.bytes_in += d.data->size();
    // A manifest's holders (each one that delivers it, too late or not) are
    // asked for the first leaves of its tree directly.
    if (auto* id = std::get_if<cid>(&d.addr);
        id && id->codec == multicodec::codex_manifest)
      if (auto m = manifest::decode(byte_view{*d.data})) {
        st.sched.manifest_from(peer_id, *id, m->tree_cid);
        if (leaves)
          expect_leaves(st, peer_id, *m, *leaves);
        // Another peer asked for the leaves with it sends them once it
        // serves its copy (its request is not cancelled, see `resolve`).
        for (auto& [key, ask] : st.leaves_asked)
          if (key.second == *id && ask.expected == 0)
            expect_leaves(st, key.first, *m, ask);
      }
    if (pend == st.pending.end() || pend->second.storing) {
      count_duplicate(sources, d.addr); // lost the race: valid, not needed
      continue;
    }
    pend->second.requested.erase(peer_id);
    pend->second.storing = true;
    // Stored before the waiters hear of it: once answered, a block is local.
    auto addr = d.addr;
    if (auto* a = std::get_if<block_address>(&d.addr)) {
      auto b = block::wrap(cid{multicodec::codex_block, *digest}, d.data);
      sources.delivered(a->tree);
      if (pend->second.keep) {
        queue_store(self, leaf_block{*a, b, *d.proof});
      } else {
        record_sources(st, peer_id, sources);
        resolve(self, addr, b, &*d.proof);
      }
    } else {
      auto id = std::get<cid>(d.addr);
      auto b = block::wrap(id, d.data);
      auto done = [self, addr, b](auto&&...) {
        resolve(self, addr, b);
        flush(self);
      };
      auto failed = [self, addr](caf::error& err) {
        resolve(self, addr, err);
        flush(self);
      };
      if (id.codec == multicodec::codex_manifest)
        self
          ->request(st.local, std::chrono::seconds{30}, put_atom::value,
                    manifest_atom::value, b)
          .then([done](cid&) { done(); }, failed);
      else
        self
          ->request(st.local, std::chrono::seconds{30}, put_atom::value,
                    std::vector<block>{b})
          .then([done](uint64_t) { done(); }, failed);
    }
  }
  record_sources(st, peer_id, sources);
  // The peer has room in its pipe again: for the blocks it said it has, and
  // for the others of the trees it serves (asked for directly), or they
  // would wait for the next tick. Its depth does not change meanwhile
  // (nothing is delivered).
  auto* stats = st.sched.find(peer_id);
  if (!stats)
    return;
  auto depth = storage::peer_scheduler::depth_of(*stats);
  for (auto i = st.unrequested.begin();
       i != st.unrequested.end() && stats->outstanding.size() < depth;) {
    // `schedule` may drop this one from the set, and no other.
    auto addr = *i++;
    auto pw = st.pending.find(addr);
    if (pw == st.pending.end() || !awaits_request(pw->second))
      st.unrequested.erase(addr);
    else if (st.sched.holds(*stats, addr))
      schedule(self, addr);
  }
}

// `peer_id`, asked for a manifest with its first leaves, lacks it: the
// leaves expected of it (the manifest came from another peer) are asked
// elsewhere.
void release_leaves(engine_ptr self, const std::string& peer_id,
                    const engine_state::leaves_ask& ask) {
  auto& st = self->state;
  for (uint64_t i = 0; i < ask.expected; ++i) {
    wire::address a{block_address{ask.tree, i}};
    if (!st.sched.in_flight(peer_id, a))
      continue;
    st.sched.delivery_failed(peer_id, a);
    auto pw = st.pending.find(a);
    if (pw != st.pending.end()) {
      pw->second.requested.erase(peer_id);
      schedule(self, a);
    }
  }
}

void on_presence(engine_ptr self, peer_entry& p,
                 const wire::block_presence& msg) {
  auto& st = self->state;
  for (auto& pr : msg.presences) {
    if (!pr.have)
      if (auto ask = take_leaves_ask(st, p.info.peer_id, pr.addr))
        release_leaves(self, p.info.peer_id, *ask);
    // Only a presence of what this node waits for, or still asks this
    // peer for (a manifest whose leaves it sends along, see `resolve`), is
    // recorded: one of anything else would grow the peer's records for as
    // long as it stays, as fast as it sends.
    auto pw = st.pending.find(pr.addr);
    if (pw == st.pending.end() && !st.sched.in_flight(p.info.peer_id, pr.addr))
      continue;
    bool freed =
      st.sched.on_presence(p.info.peer_id, pr.addr, pr.have, pr.price);
    if (pw == st.pending.end())
      continue;
    if (freed)
      pw->second.requested.erase(p.info.peer_id);
    schedule(self, pr.addr);
  }
}

// -- serving side
// -------------------------------------------------------------------

void send_presence(engine_ptr self, peer_entry& p,
                   std::vector<wire::presence> ps) {
  if (ps.empty())
    return;
  p.quoted = true;
  self->send(p.info.session, send_atom::value,
             wire::message{wire::block_presence{std::move(ps)}});
}

// Sends the blocks gathered in `bd` to `p` (if any) and empties `bd`.
void send_blocks(engine_ptr self, peer_entry& p, wire::block_delivery& bd) {
  if (bd.blocks.empty())
    return;
  self->send(p.info.session, send_atom::value, wire::message{std::move(bd)});
  bd.blocks.clear();
}

// Accounts for one block going out to `p` and wraps it for the wire.
wire::delivery outgoing(engine_state& st, peer_entry& p, wire::address addr,
                        const block& b, std::optional<merkle_proof> proof) {
  p.unsent += b.size();
  p.sent_to_session += b.size();
  p.bytes_sent += b.size();
  p.last_served = clock::now();
  ++st.blocks_out;
  st.bytes_out += b.size();
  auto data = b.data;
  if (st.cfg.corrupt_served && data && !data->empty()) {
    auto bad = std::make_shared<bytes>(*data);
    (*bad)[bad->size() / 2] ^= 0x01;
    data = std::move(bad);
  }
  return wire::delivery{std::move(addr), std::move(data), std::move(proof)};
}

void serve(engine_ptr self, const std::string& peer_id);

// A store read for `peer_id` over `session` ended: the peer, with one read
// fewer in flight; nullptr if it left, or if it left and came back while
// the store read (its entry, and the count, are new: the read was not
// this session's, nor are its blocks asked for in it).
peer_entry* read_done(engine_state& st, const std::string& peer_id,
                      const peer_session_actor& session) {
  auto i = st.peers.find(peer_id);
  if (i == st.peers.end() || i->second.info.session != session)
    return nullptr;
  --i->second.serving;
  return &i->second;
}

// The session `peer_id` (being served) is connected over.
peer_session_actor session_of(const engine_state& st,
                              const std::string& peer_id) {
  auto i = st.peers.find(peer_id);
  return i == st.peers.end() ? peer_session_actor{} : i->second.info.session;
}

// Reads leaves for `peer_id` in one read transaction (on this thread, or
// by a request to the store's) and sends what was found in DELIVERY
// messages of at most `delivery_bytes`, DONT_HAVE for the rest.
void serve_leaves(engine_ptr self, const std::string& peer_id,
                  std::vector<block_address> addrs) {
  auto& st = self->state;
  // `resume`: serve the peer's next wants (a reply; a read on this thread
  // returns to `serve`, which goes on by itself).
  auto done = [self, peer_id, session = session_of(st, peer_id)](
                const std::vector<block_address>& asked,
                std::vector<leaf_block> found, bool resume) {
    auto& st = self->state;
    auto* pp = read_done(st, peer_id, session);
    if (!pp)
      return;
    auto& p = *pp;
    wire::block_delivery bd;
    size_t bd_bytes = 0;
    std::vector<wire::presence> missing;
    size_t j = 0;
    for (auto& a : asked) {
      if (j >= found.size() || !(found[j].addr == a)) {
        missing.push_back(wire::presence{a, false, st.cfg.price_per_byte});
        continue;
      }
      auto& l = found[j++];
      if (!bd.blocks.empty() && bd_bytes + l.data.size() > delivery_bytes) {
        send_blocks(self, p, bd);
        bd_bytes = 0;
      }
      bd_bytes += l.data.size();
      bd.blocks.push_back(
        outgoing(st, p, wire::address{a}, l.data, std::move(l.proof)));
    }
    send_blocks(self, p, bd);
    send_presence(self, p, std::move(missing));
    if (resume)
      serve(self, peer_id);
  };
  if (st.cfg.readers) {
    auto found = st.cfg.readers->read(
      [&](storage::lmdb_store& store) { return store.get_leaf_proofs(addrs); });
    if (found && *found) {
      done(addrs, std::move(**found), false);
      return;
    }
  }
  self
    ->request(st.local, caf::infinite, get_atom::value, leaf_atom::value, addrs)
    .then(
      [done, addrs](std::vector<leaf_block>& found) {
        done(addrs, std::move(found), true);
      },
      [done, addrs](caf::error&) { done(addrs, {}, true); });
}

// Queues the first `n` leaves of the tree that `manifest_block` names for
// `p`, ahead of its other wants (it asked for them with the manifest), if
// it is unprotected (a protected tree's first leaves include parity). Those
// beyond `max_queued_wants` are not sent: the peer's requests for them time
// out and go elsewhere.
void queue_leaves_with(engine_state& st, peer_entry& p,
                       const block& manifest_block, uint32_t n) {
  auto m = manifest::decode(byte_view{*manifest_block.data});
  if (!m || m->is_protected)
    return;
  auto count = std::min<uint64_t>(n, m->blocks_count());
  std::vector<wire::address> leaves;
  for (uint64_t i = 0; i < count; ++i) {
    wire::address a{block_address{m->tree_cid, i}};
    if (p.serve_queue.size() + leaves.size() >= st.cfg.max_queued_wants)
      break;
    if (p.queued.insert(a).second)
      leaves.push_back(std::move(a));
  }
  st.leaves_with_manifests += leaves.size();
  p.serve_queue.insert(p.serve_queue.begin(), leaves.begin(), leaves.end());
}

// Reads one block by CID for `peer_id` (manifests) and sends it, or
// DONT_HAVE; a manifest asked for with its first leaves queues them.
void serve_block(engine_ptr self, const std::string& peer_id, const cid& id) {
  auto& st = self->state;
  auto done = [self, peer_id, id,
               session = session_of(st, peer_id)](const block* b) {
    auto& st = self->state;
    auto* pp = read_done(st, peer_id, session);
    if (!pp)
      return;
    auto& p = *pp;
    auto with = p.leaves_with.find(id);
    uint32_t leaves = 0;
    if (with != p.leaves_with.end()) {
      leaves = with->second;
      p.leaves_with.erase(with);
    }
    if (b) {
      wire::block_delivery bd;
      bd.blocks.push_back(outgoing(st, p, wire::address{id}, *b, std::nullopt));
      send_blocks(self, p, bd);
      if (leaves > 0 && id.codec == multicodec::codex_manifest)
        queue_leaves_with(st, p, *b, leaves);
    } else {
      send_presence(self, p,
                    {wire::presence{id, false, st.cfg.price_per_byte}});
    }
    serve(self, peer_id);
  };
  self->request(st.local, caf::infinite, get_atom::value, id)
    .then([done](block& b) { done(&b); },
          [done](caf::error&) { done(nullptr); });
}

// Bytes queued in all peers' sockets, as their sessions last told.
uint64_t unsent_total(const engine_state& st) {
  uint64_t n = 0;
  for (auto& [id, p] : st.peers)
    n += p.unsent;
  return n;
}

// True if `p` may be served one more read now.
bool may_serve(const engine_state& st, const peer_entry& p, uint64_t total) {
  return !p.serve_queue.empty() && p.serving < serve_reads &&
         p.unsent < st.cfg.max_unsent_bytes && total < st.cfg.max_unsent_total;
}

void serve(engine_ptr self, const std::string& peer_id) {
  auto& st = self->state;
  auto it = st.peers.find(peer_id);
  if (it == st.peers.end())
    return;
  auto& p = it->second;
  while (may_serve(st, p, unsent_total(st))) {
    // A round takes at most a batch of wants, blocks by CID (one read
    // each) as well as leaves (one read for the batch).
    auto batch = p.serving == 0 ? first_serve_batch : serve_batch;
    std::vector<block_address> leaves;
    for (size_t taken = 0; !p.serve_queue.empty() && taken < batch; ++taken) {
      auto addr = p.serve_queue.front();
      p.serve_queue.pop_front();
      p.queued.erase(addr);
      if (auto* a = std::get_if<block_address>(&addr)) {
        leaves.push_back(*a);
      } else {
        ++p.serving;
        serve_block(self, peer_id, std::get<cid>(addr));
      }
    }
    if (!leaves.empty()) {
      ++p.serving;
      serve_leaves(self, peer_id, std::move(leaves));
    }
  }
}

// Serves the peers that wait only for all sockets to drain below
// `max_unsent_total`, in turn from the one after the last resumed.
void serve_paused(engine_ptr self) {
  auto& st = self->state;
  auto total = unsent_total(st);
  if (total >= st.cfg.max_unsent_total)
    return;
  std::vector<std::string> ready;
  auto start = st.peers.upper_bound(st.resume_after);
  for (auto it = start; it != st.peers.end(); ++it)
    if (it->second.serving == 0 && may_serve(st, it->second, total))
      ready.push_back(it->first);
  for (auto it = st.peers.begin(); it != start; ++it)
    if (it->second.serving == 0 && may_serve(st, it->second, total))
      ready.push_back(it->first);
  for (auto& id : ready) {
    if (unsent_total(st) >= st.cfg.max_unsent_total)
      break;
    st.resume_after = id;
    serve(self, id);
  }
}

void on_want_list(engine_ptr self, peer_entry& p, wire::want_list& wl) {
  auto& st = self->state;
  auto peer_id = p.info.peer_id;
  if (wl.full) {
    p.serve_queue.clear();
    p.queued.clear();
    p.leaves_with.clear();
  }
  // Answers to want-have are gathered and sent as one presence message:
  // the leaves asked about are looked up in one store request.
  auto answers = std::make_shared<std::vector<wire::presence>>();
  auto open = std::make_shared<size_t>(0);
  auto finish = [self, peer_id, answers, open]() {
    if (--*open > 0)
      return;
    auto i = self->state.peers.find(peer_id);
    if (i != self->state.peers.end())
      send_presence(self, i->second, std::move(*answers));
  };
  ++*open; // held until every entry is looked at
  std::vector<block_address> leaves;
  std::vector<bool> leaves_send_no;
  for (auto& e : wl.entries) {
    if (e.cancel) {
      if (p.queued.erase(e.addr) > 0)
        p.serve_queue.erase(
          std::remove(p.serve_queue.begin(), p.serve_queue.end(), e.addr),
          p.serve_queue.end());
      if (auto* id = std::get_if<cid>(&e.addr))
        p.leaves_with.erase(*id);
      continue;
    }
    // A node that charges quotes its price before it serves: a want-block
    // from a peer that has no presence from it yet (one asked for a
    // manifest directly) is answered as a want-have.
    bool quote_first = st.cfg.price_per_byte > 0 && !p.quoted;
    if (e.type == want_entry::want_type::block && !quote_first) {
      if (p.queued.count(e.addr) == 0) {
        if (p.serve_queue.size() >= st.cfg.max_queued_wants) {
          // Dropped unanswered, as Bitswap drops wants beyond its queue:
          // a DONT_HAVE would tell the peer that a block it may find
          // nowhere else is not here. Its request times out and is asked
          // again, here or elsewhere.
          ++st.wants_dropped;
          continue;
        }
        p.serve_queue.push_back(e.addr);
        p.queued.insert(e.addr);
      }
      if (e.leaves > 0)
        p.leaves_with[std::get<cid>(e.addr)] = e.leaves;
      continue;
    }
    if (auto* a = std::get_if<block_address>(&e.addr)) {
      leaves.push_back(*a);
      leaves_send_no.push_back(e.send_dont_have);
      continue;
    }
    ++*open;
    // No CAF timeout on store requests here or in serve_*: each would set
    // and cancel a timer on CAF's clock thread, a wake-up per request. A
    // dead store answers every pending request with an error at once.
    self
      ->request(st.local, caf::infinite, has_atom::value, std::get<cid>(e.addr))
      .then(
        [self, answers, finish, addr = e.addr,
         send_no = e.send_dont_have](bool has) {
          if (has || send_no)
            answers->push_back(
              wire::presence{addr, has, self->state.cfg.price_per_byte});
          finish();
        },
        [finish](caf::error&) { finish(); });
  }
  if (!leaves.empty()) {
    ++*open;
    auto on_found = [self, answers, finish, leaves,
                     send_no = std::move(leaves_send_no)](
                      const std::vector<block_address>& found) {
      auto price = self->state.cfg.price_per_byte;
      size_t j = 0;
      for (size_t i = 0; i < leaves.size(); ++i) {
        bool has = j < found.size() && found[j] == leaves[i];
        if (has)
          ++j;
        if (has || send_no[i])
          answers->push_back(wire::presence{leaves[i], has, price});
      }
      finish();
    };
    self->request(st.local, caf::infinite, has_atom::value, std::move(leaves))
      .then(on_found, [finish](caf::error&) { finish(); });
  }
  finish();
  serve(self, peer_id);
}

// -- dialing
// ------------------------------------------------------------------------

// Connects in a detached helper: a TCP connect blocks its thread.
void dial(engine_ptr self, const std::string& peer_id,
          const std::vector<std::string>& addrs) {
  self->state.redial.dialed(peer_id, addrs);
  if (!self->state.dialing.insert(peer_id).second)
    return; // already dialing
  auto cfg = self->state.cfg.session;
  cfg.expected_peer = peer_id;
  engine_actor me{self};
  self->spawn<caf::detached>([cfg, addrs, me, peer_id](caf::blocking_actor* b) {
    caf::error last = make_error(ec::unavailable, "no dialable TCP address");
    for (auto& a : addrs) {
      auto ep = parse_multiaddr(a);
      if (!ep || ep->udp)
        continue;
      auto s = dial_peer(b->system(), ep->host, ep->port, cfg,
                         caf::actor_cast<session_owner_actor>(me));
      if (s)
        return; // the session reports to the engine
      last = s.error();
    }
    b->anon_send(me, peer_down_atom::value, peer_id, false, describe(last));
  });
}

// Dials the lost peers whose wait is over.
void redial_due(engine_ptr self, clock::time_point now) {
  auto& st = self->state;
  for (auto& [id, addrs] : st.redial.due(now)) {
    if (st.peers.count(id) > 0)
      continue;
    ++st.redials;
    spdlog::debug("engine: dialing {} again", id);
    dial(self, id, addrs);
  }
}

// Makes room for `newcomer` at `--max-peers` by closing the least useful
// peer (storage::choose_eviction); false if every peer is busy serving us.
bool make_room(engine_ptr self, const std::string& newcomer) {
  auto& st = self->state;
  auto now = clock::now();
  std::vector<storage::peer_usefulness> peers;
  for (auto& [id, p] : st.peers) {
    auto* s = st.sched.find(id);
    // A downloader between two want lists is still being served.
    bool served_lately = now - p.last_served < std::chrono::seconds{2};
    size_t serving = p.serve_queue.size() + p.serving +
                     (p.unsent > 0 || served_lately ? 1 : 0);
    peers.push_back({id, s ? s->outstanding.size() : 0, p.recent.total(now),
                     p.last_useful, serving});
  }
  auto victim = storage::choose_eviction(peers);
  if (!victim)
    return false;
  auto& p = st.peers[*victim];
  auto idle =
    std::chrono::duration_cast<std::chrono::seconds>(now - p.last_useful);
  spdlog::info("engine: evicting peer {} for {} (--max-peers {}): {} block "
               "bytes from it lately, none for {} s, no request in flight "
               "either way",
               *victim, newcomer, st.cfg.max_peers, p.recent.total(now),
               idle.count());
  ++st.evictions;
  st.redial.forget(*victim);
  self->send(p.info.session, close_atom::value,
             std::string{"evicted for a new peer (too many peers)"});
  peer_gone(self, *victim, true, "evicted");
  return true;
}

// Dials again the peers of a previous engine that are not connected yet.
void restore_peers(engine_ptr self) {
  auto& st = self->state;
  if (st.restore.empty())
    return;
  constexpr uint32_t max_rounds = 5;
  if (st.restore_rounds++ >= max_rounds) {
    for (auto& [id, addrs] : st.restore)
      if (st.peers.count(id) == 0)
        spdlog::info("engine: gave up reconnecting to {}", id);
    st.restore.clear();
    return;
  }
  st.restore_at = clock::now() + std::chrono::seconds{1};
  for (auto& [id, addrs] : st.restore)
    if (st.peers.count(id) == 0)
      dial(self, id, addrs);
}

// Answers the first want of a leaf that came with its manifest and was
// stored before (`engine_state::stored_unasked`) from the store, or asks
// the network if it is gone from there. Nobody is asked meanwhile.
void read_back(engine_ptr self, const block_address& leaf) {
  auto& st = self->state;
  wire::address key{leaf};
  st.pending[key].storing = true;
  self
    ->request(st.local, std::chrono::seconds{30}, get_atom::value,
              leaf_atom::value, leaf)
    .then([self, key](block& b,
                      merkle_proof& proof) { resolve(self, key, b, &proof); },
          [self, key](caf::error&) {
            auto i = self->state.pending.find(key);
            if (i == self->state.pending.end())
              return;
            i->second.storing = false;
            schedule(self, key);
            flush(self);
          });
}

// A caller waits for `key`: joins its pending want, or starts one. `Proof`
// selects the waiters that get the leaf's proof as well; `keep` whether
// this caller wants the block stored.
template <class... Proof>
caf::result<block, Proof...> want(engine_ptr self, wire::address key,
                                  bool keep = true, uint32_t leaves = 0) {
  auto& st = self->state;
  if (st.stopping)
    return make_error(ec::shutting_down, "the node is stopping");
  auto rp = self->make_response_promise<block, Proof...>();
  auto [it, fresh] = st.pending.try_emplace(key);
  it->second.keep |= keep;
  if (auto* id = std::get_if<cid>(&key);
      id && id->codec == multicodec::codex_manifest)
    it->second.leaves_with =
      std::max(it->second.leaves_with,
               static_cast<uint32_t>(
                 std::min<size_t>(leaves, wire::max_leaves_with_manifest)));
  if constexpr (sizeof...(Proof) == 0)
    it->second.waiters.push_back(rp);
  else
    it->second.proof_waiters.push_back(rp);
  if (fresh) {
    it->second.since = clock::now();
    if (st.stored_unasked.erase(key) > 0)
      read_back(self, std::get<block_address>(key));
    else
      schedule(self, key);
    flush_soon(self);
  }
  return rp;
}

} // namespace

engine_actor::behavior_type
engine(engine_actor::stateful_pointer<engine_state> self, engine_config cfg,
       local_store_actor local, discovery_actor discovery) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.local = std::move(local);
  st.discovery = std::move(discovery);
  st.sched = storage::peer_scheduler{{st.cfg.max_price, st.cfg.max_bad_blocks},
                                     std::random_device{}()};
  st.redial = storage::redial_backoff{st.cfg.redial, std::random_device{}()};
  self->delayed_send(self, st.cfg.tick, tick_atom::value);
  // A restarted engine reconnects to the peers its predecessor had.
  if (st.cfg.book) {
    st.restore = st.cfg.book->snapshot();
    if (!st.restore.empty())
      spdlog::info("engine: reconnecting to {} peers", st.restore.size());
    restore_peers(self);
  }
  self->set_down_handler([self](caf::down_msg& dm) {
    for (auto& [id, p] : self->state.peers)
      if (p.info.session.address() == dm.source) {
        auto peer = id;
        peer_gone(self, peer, true,
                  "session died: " +
                    (dm.reason ? describe(dm.reason) : std::string{"exited"}));
        flush(self);
        return;
      }
  });
  return instrumented<engine_actor::behavior_type>(
    self, self->state.stats,
    // -- peers
    // ------------------------------------------------------------------
    [self](peer_up_atom, peer_info& info) {
      auto& st = self->state;
      auto id = info.peer_id;
      st.dialing.erase(id);
      if (st.peers.count(id) > 0) {
        // Both dialed each other: keep the first session.
        answer_connecting(st, id, caf::none);
        self->send(info.session, close_atom::value,
                   std::string{"duplicate connection"});
        return;
      }
      if (st.peers.size() >= st.cfg.max_peers && !make_room(self, id)) {
        st.redial.forget(id);
        answer_connecting(
          st, id,
          make_error(ec::unavailable, "too many peers",
                     std::to_string(st.peers.size()) +
                       " connected (--max-peers), none of them idle"));
        self->send(info.session, close_atom::value,
                   std::string{"too many peers"});
        return;
      }
      // Connected: answered only now that the peer is admitted.
      answer_connecting(st, id, caf::none);
      spdlog::info(
        "engine: peer {} connected, handshake round trip {:.1f} ms", id,
        std::chrono::duration<double, std::milli>(info.round_trip).count());
      st.redial.connected(id, clock::now());
      if (st.cfg.book)
        st.cfg.book->put(id, info.addrs);
      if (st.cfg.inspector)
        if (auto insp = st.cfg.inspector->get())
          self->send(
            insp, put_atom::value, caf::actor_cast<caf::actor>(info.session),
            "peer_session/" + id, std::string{"broker"}, std::string{"engine"});
      auto& p = st.peers[id];
      p.info = std::move(info);
      p.last_useful = clock::now();
      st.sched.add(id,
                   std::chrono::duration<double>(p.info.round_trip).count());
      // A session that dies without saying goodbye (a crash) is noticed
      // through its down message.
      self->monitor(p.info.session);
      // Ask the newcomer about everything we wait for: as the scheduler
      // decides when nobody is asked for it yet (a manifest as a block),
      // want-have when others were asked for it directly and are silent.
      std::vector<wire::address> unasked;
      for (auto& [addr, pw] : st.pending)
        if (pw.requested.empty())
          unasked.push_back(addr);
        else if (st.sched.unconfirmed(addr, pw) &&
                 pw.asked_have.insert(id).second)
          queue_want(self, id, addr, want_entry::want_type::have);
      for (auto& addr : unasked)
        schedule(self, addr);
      flush(self);
    },
    [self](peer_down_atom, const std::string& id, bool was_up,
           const std::string& why) {
      // A duplicate session we closed must not take the peer's live
      // session with it.
      auto it = self->state.peers.find(id);
      if (was_up && it != self->state.peers.end() &&
          it->second.info.session.address() != self->current_sender()) {
        spdlog::debug("engine: duplicate session of {} ended: {}", id, why);
        return;
      }
      peer_gone(self, id, was_up, why);
    },
    [self](peer_msg_atom, const std::string& id, wire::message& msg) {
      auto& st = self->state;
      auto it = st.peers.find(id);
      if (it == st.peers.end())
        return;
      auto& p = it->second;
      if (auto* wl = std::get_if<wire::want_list>(&msg))
        on_want_list(self, p, *wl);
      else if (auto* bp = std::get_if<wire::block_presence>(&msg))
        on_presence(self, p, *bp);
      else if (auto* bd = std::get_if<wire::block_delivery>(&msg))
        on_delivery(self, p, *bd);
      flush(self);
    },
    [self](sent_atom, const std::string& id, uint64_t unsent, uint64_t taken) {
      auto it = self->state.peers.find(id);
      if (it == self->state.peers.end())
        return;
      auto& p = it->second;
      // A report of an earlier session of the same peer counts nothing.
      if (self->current_sender() !=
          caf::actor_cast<caf::strong_actor_ptr>(p.info.session))
        return;
      // Deliveries sent since the session's count are still in its
      // mailbox: a session slower than the engine (one I/O thread writes
      // for all peers) would otherwise be sent without bound.
      p.unsent =
        unsent + (p.sent_to_session > taken ? p.sent_to_session - taken : 0);
      serve(self, id);
      serve_paused(self);
    },
    // -- requests
    // -----------------------------------------------------------------
    [self](get_atom, const block_address& addr) -> caf::result<block> {
      return want(self, wire::address{addr});
    },
    [self](get_atom, proof_atom, const block_address& addr,
           bool keep) -> caf::result<block, merkle_proof> {
      return want<merkle_proof>(self, wire::address{addr}, keep);
    },
    [self](get_atom, const cid& id) -> caf::result<block> {
      return want(self, wire::address{id});
    },
    [self](get_atom, manifest_atom, const cid& id,
           uint32_t leaves) -> caf::result<block> {
      return want(self, wire::address{id}, true, leaves);
    },
    [self](connect_atom, const std::string& id,
           const std::vector<std::string>& addrs) -> caf::result<ok_atom> {
      auto& st = self->state;
      if (st.peers.count(id) > 0)
        return ok_atom::value;
      auto rp = self->make_response_promise<ok_atom>();
      st.connecting.emplace(id, rp);
      dial(self, id, addrs);
      return rp;
    },
    [self](peers_atom) {
      std::vector<peer_summary> out;
      auto& st = self->state;
      for (auto& [id, p] : st.peers) {
        static const storage::peer_stats none;
        auto* s = st.sched.find(id);
        if (!s)
          s = &none;
        out.push_back(peer_summary{
          id, p.info.addrs, s->blocks_received, s->bytes_received, p.bytes_sent,
          s->pipe.rate, s->latency, s->bad_blocks, s->timeouts,
          s->outstanding.size(), p.serve_queue.size(), s->handshake_rtt});
      }
      return out;
    },
    // -- housekeeping
    // -----------------------------------------------------------
    [self](tick_atom) {
      auto& st = self->state;
      auto now = clock::now();
      // Requests that took too long: the peer loses them, others get them.
      auto expired = st.sched.expire_requests(now, st.cfg.block_timeout);
      for (auto& [id, addr] : expired) {
        auto pw = st.pending.find(addr);
        if (pw != st.pending.end())
          pw->second.requested.erase(id);
        // Off the peer's queue: a busy peer serves the others sooner.
        queue_want(self, id, addr, want_entry::want_type::block, true);
      }
      for (auto& [id, addr] : expired)
        schedule(self, addr);
      // Manifests asked of a peer with their leaves that never came, and
      // leaves that came with one and were stored a while ago.
      for (auto i = st.leaves_asked.begin(); i != st.leaves_asked.end();)
        i = now - i->second.sent.at > st.cfg.want_timeout
              ? st.leaves_asked.erase(i)
              : std::next(i);
      for (auto i = st.stored_unasked.begin(); i != st.stored_unasked.end();)
        i = now - i->second > read_back_for ? st.stored_unasked.erase(i)
                                            : std::next(i);
      if (!st.restore.empty() && now >= st.restore_at)
        restore_peers(self);
      redial_due(self, now);
      // End-game: with few blocks left, a block waiting on one peer is also
      // asked from another; the first delivery wins, the other is cancelled.
      for (auto& [addr, pw] : st.pending)
        if (storage::peer_scheduler::end_game(pw, st.pending.size(), now))
          schedule(self, addr);
      // Blocks nobody has: give up after a while, else look again. A
      // holder that keeps delivering is slow (a seeder many peers draw
      // from), not gone: its blocks are waited for. A block being stored
      // (or read back) has arrived: the store's answer resolves it.
      std::vector<wire::address> lost;
      for (auto& [addr, pw] : st.pending) {
        if (!pw.requested.empty()) {
          // Asked directly of peers that have not answered yet.
          if (st.sched.unconfirmed(addr, pw))
            schedule(self, addr);
          continue;
        }
        if (now - pw.since > st.cfg.want_timeout && !pw.storing &&
            !st.sched.holder_delivering(addr, now - st.cfg.want_timeout))
          lost.push_back(addr);
        else
          schedule(self, addr);
      }
      for (auto& addr : lost)
        resolve(
          self, addr,
          make_error(ec::not_found, "no peer has " + wire::to_string(addr)));
      flush(self);
      // Block buffers the last 30 s left idle go back to the system (the
      // pool is the process's: any engine's tick may do it).
      buffer_pool::blocks().trim(now);
      self->delayed_send(self, st.cfg.tick, tick_atom::value);
    },
    [self](put_atom) {
      if (self->state.batcher.flush_arrived(clock::now()))
        flush_stores(self);
    },
    [self](retry_atom, const cid& key) {
      auto& st = self->state;
      st.sched.retry_due(key);
      std::vector<wire::address> waiting;
      for (auto& [a, pw] : st.pending)
        if (awaits_request(pw) && storage::dataset_of(a) == key)
          waiting.push_back(a);
      for (auto& a : waiting)
        schedule(self, a);
      flush(self);
    },
    [self](stop_atom) {
      auto& st = self->state;
      if (st.stopping)
        return;
      st.stopping = true;
      spdlog::info("engine: stopping; failing {} pending wants",
                   st.pending.size());
      std::vector<wire::address> all;
      for (auto& [a, pw] : st.pending)
        all.push_back(a);
      auto err = make_error(ec::shutting_down, "the node is stopping");
      for (auto& a : all)
        resolve(self, a, err);
      for (auto& [id, rp] : st.connecting)
        rp.deliver(err);
      st.connecting.clear();
      flush(self);
    },
    [self](flush_atom) {
      self->state.flush_pending = false;
      flush(self);
    },
    [self](lost_atom) {
      auto& st = self->state;
      auto lost = std::move(st.lost);
      st.lost.clear();
      for (auto& addr : lost) {
        auto it = st.pending.find(addr);
        if (it == st.pending.end() || !it->second.requested.empty() ||
            it->second.storing)
          continue;
        // Still true? A peer that connected meanwhile may have been asked.
        if (st.sched.anyone_may_serve(addr))
          continue;
        resolve(self, addr,
                make_error(ec::not_found,
                           "no peer has " + wire::to_string(addr),
                           "no peer we may buy from has it, and no provider "
                           "lookup found one"));
      }
      flush(self);
    },
    [self](update_atom, local_store_actor local) {
      self->state.local = std::move(local);
    },
    [self](wants_atom) {
      std::vector<want_summary> out;
      auto now = clock::now();
      for (auto& [addr, pw] : self->state.pending) {
        want_summary w;
        w.address = wire::to_string(addr);
        w.age_seconds = std::chrono::duration<double>(now - pw.since).count();
        w.peers.assign(pw.requested.begin(), pw.requested.end());
        w.waiters =
          static_cast<uint32_t>(pw.waiters.size() + pw.proof_waiters.size());
        out.push_back(std::move(w));
      }
      return out;
    },
    [self](update_atom, discovery_actor d) {
      self->state.discovery = std::move(d);
    });
}

} // namespace cairn::actors
