#include "actors/sim_agent.hpp"

#include <malloc.h>

#include <algorithm>
#include <filesystem>

#include <caf/event_based_actor.hpp>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "actors/api_routes.hpp"
#include "actors/engine.hpp"
#include "actors/sim_download.hpp"
#include "actors/sim_upload.hpp"
#include "config/scenario.hpp"
#include "messages/error.hpp"
#include "storage/store_verify.hpp"

namespace cairn::actors {

namespace {

using sim_agent_ptr = sim_agent_actor::stateful_pointer<sim_agent_state>;
using start_done = std::function<void(caf::expected<std::string>)>;

constexpr auto start_timeout = std::chrono::seconds{60};
constexpr auto ask_timeout = std::chrono::seconds{10};

// How long after the last download of the agent ended its heap is trimmed:
// by then the sessions those downloads used have gone quiet, and their
// wide read buffers and write backlogs were freed at their keep-alive
// checks (every 15 s by default).
constexpr auto sim_agent_trim_after = std::chrono::seconds{40};

// Hands the memory the downloads freed back to the kernel. glibc keeps
// freed chunks in its arenas (cairn-sim raises M_TRIM_THRESHOLD and
// M_MMAP_THRESHOLD to 8 MiB, and a chunk still in use pins what lies
// below it): after 199 downloads of 10 MiB in a 200-node agent, 600 of
// its 960 MiB RssAnon was free memory. A helper waits, so that the agent's
// interface takes no timer message from outside; it ends with the agent.
void trim_later(sim_agent_ptr self) {
  auto agent = caf::actor_cast<caf::actor>(self);
  self->spawn([agent](caf::event_based_actor* helper) -> caf::behavior {
    helper->monitor(agent);
    helper->set_down_handler([helper](caf::down_msg&) { helper->quit(); });
    helper->delayed_send(helper, sim_agent_trim_after, tick_atom::value);
    return {[helper](tick_atom) {
      bool released = ::malloc_trim(0) == 1;
      spdlog::debug("sim_agent: downloads over; heap trimmed{}",
                    released ? "" : " (nothing to give back)");
      helper->quit();
    }};
  });
}

// Only processes that presented the secret may command the agent: its
// port controls every hosted node.
caf::error check_admitted(sim_agent_ptr self) {
  auto& sender = self->current_sender();
  if (sender && self->state.admitted.count(sender->node()) > 0)
    return caf::none;
  return make_error(ec::invalid_argument,
                    "forbidden: present the agent's secret first");
}

// The port of the first `/ip4/A/udp/P` in `addrs`, 0 if none.
uint16_t udp_port(const std::vector<std::string>& addrs) {
  for (auto& a : addrs) {
    auto at = a.find("/udp/");
    if (at != std::string::npos)
      return static_cast<uint16_t>(std::stoul(a.substr(at + 5)));
  }
  return 0;
}

caf::expected<sim_node*> find_node(sim_agent_ptr self, uint32_t index) {
  auto i = self->state.nodes.find(index);
  if (i == self->state.nodes.end())
    return make_error(ec::not_found,
                      "no node " + std::to_string(index) + " on this agent");
  return &i->second;
}

caf::expected<sim_node*> find_up_node(sim_agent_ptr self, uint32_t index) {
  auto n = find_node(self, index);
  if (n && !(*n)->up)
    return make_error(ec::unavailable,
                      "node " + std::to_string(index) + " is down");
  return n;
}

// One protect of a dataset on a node; blocks its own thread (spawned
// detached), as the REST handler blocks an HTTP thread.
using sim_protect_actor =
  caf::typed_actor<caf::replies_to<protect_atom>::with<sim_upload_result>>;

sim_protect_actor::behavior_type sim_protect(sim_protect_actor::pointer self,
                                             std::shared_ptr<api_shared> api,
                                             cid id, uint32_t k, uint32_t m) {
  return {
    [=](protect_atom) -> caf::result<sim_upload_result> {
      self->quit();
      auto started = std::chrono::steady_clock::now();
      caf::scoped_actor scoped{self->system()};
      auto head = rest::ask<block>(scoped, api->local_store(),
                                   rest::store_timeout, get_atom::value, id);
      if (!head)
        return head.error();
      auto orig = manifest_from_block(*head);
      if (!orig)
        return orig.error();
      if (orig->is_protected)
        return make_error(ec::invalid_argument,
                          id.to_string() + " is protected already");
      auto out = rest::protect_dataset(*api, scoped, *orig, k, m);
      if (!out)
        return out.error();
      sim_upload_result r;
      r.cid = out->first.to_string();
      r.bytes = out->second.content_size();
      r.seconds = std::chrono::duration<double>(
                    std::chrono::steady_clock::now() - started)
                    .count();
      return r;
    },
  };
}

// A running node and a dataset's CID (text), for commands on one from an
// admitted sender.
caf::expected<std::pair<sim_node*, cid>>
find_dataset_on(sim_agent_ptr self, uint32_t index, const std::string& id) {
  if (auto err = check_admitted(self))
    return err;
  auto n = find_up_node(self, index);
  if (!n)
    return n.error();
  auto parsed = cid::parse(id);
  if (!parsed)
    return parsed.error();
  return std::make_pair(*n, *parsed);
}

// Quits once stopping and every store closed.
void check_stopped(sim_agent_ptr self) {
  if (!self->state.stopping)
    return;
  for (auto& [i, n] : self->state.nodes)
    if (n.local || n.starting)
      return;
  self->quit();
}

// Asks the supervisor for its children `names`, in order, then calls
// `done` with their handles (or the first error).
void ask_children(
  sim_agent_ptr self, node_supervisor_actor sup, std::vector<std::string> names,
  std::function<void(caf::expected<std::vector<caf::actor>>)> done,
  std::vector<caf::actor> got = {}) {
  if (got.size() == names.size())
    return done(std::move(got));
  auto name = names[got.size()];
  self->request(sup, ask_timeout, get_atom::value, name)
    .then(
      [=](caf::actor& h) mutable {
        got.push_back(std::move(h));
        ask_children(self, sup, std::move(names), std::move(done),
                     std::move(got));
      },
      [done](caf::error& err) { done(std::move(err)); });
}

// Starts node `index` from its options and key: a fresh supervisor tree.
void start_node(sim_agent_ptr self, uint32_t index, start_done done) {
  auto& n = self->state.nodes[index];
  n.ctx = std::make_shared<node_context>();
  n.ctx->options = n.options;
  n.ctx->key = n.key;
  // Its store is opened as cairn-node opens one: what a kill left (blocks
  // of uploads and downloads it cut short) is reclaimed before any actor
  // uses it.
  storage::repair_report reclaimed;
  auto store =
    storage::open_after_crash(store_options(n.options), unix_now(), reclaimed);
  if (!store) {
    done(store.error());
    check_stopped(self);
    return;
  }
  if (reclaimed.orphans > 0)
    spdlog::info("sim_agent: node {}: start-up check reclaimed {} orphan "
                 "blocks ({} bytes)",
                 index, reclaimed.orphans, reclaimed.orphan_bytes);
  n.ctx->preopened =
    std::make_shared<std::unique_ptr<storage::lmdb_store>>(std::move(*store));
  n.starting = true;
  if (self->state.cfg.log_sink) {
    n.ctx->log =
      std::make_shared<node_log>(node_log{self->state.cfg.log_sink, index});
    n.ctx->registry->log = n.ctx->log;
  }
  n.supervisor = self->spawn(node_supervisor, n.ctx, restart_policy{});
  self->monitor(n.supervisor);
  auto sup = n.supervisor;
  auto fail = [self, index, done](caf::error err) {
    auto& n = self->state.nodes[index];
    n.starting = false;
    if (n.supervisor)
      self->send_exit(n.supervisor, caf::exit_reason::user_shutdown);
    done(std::move(err));
    check_stopped(self);
  };
  self->request(sup, start_timeout, start_atom::value)
    .then(
      [=](node_info& info) {
        auto& n = self->state.nodes[index];
        // A restart binds the same ports again when it can.
        n.options.listen_port = info.listen_port;
        n.options.disc_port = udp_port(info.addrs);
        n.stats.peer_id = info.peer_id;
        ask_children(
          self, sup, {"local_store", "network_store", "discovery"},
          [=](caf::expected<std::vector<caf::actor>> hs) {
            if (!hs)
              return fail(hs.error());
            auto& n = self->state.nodes[index];
            n.local = (*hs)[0];
            self->monitor(n.local);
            n.store = caf::actor_cast<network_store_actor>((*hs)[1]);
            auto disc = caf::actor_cast<discovery_actor>((*hs)[2]);
            n.discovery = disc;
            self->request(disc, ask_timeout, get_atom::value, spr_atom::value)
              .then(
                [=](std::string& spr) {
                  auto& n = self->state.nodes[index];
                  n.starting = false;
                  n.up = true;
                  self->state.cfg.directory->set(index, n.ctx);
                  done(std::move(spr));
                  check_stopped(self);
                },
                [=](caf::error& err) { fail(std::move(err)); });
          });
      },
      [=](caf::error& err) { fail(std::move(err)); });
}

// Stops every node (each supervisor takes its children down); the agent
// quits once every store closed.
void begin_stop(sim_agent_ptr self) {
  auto& st = self->state;
  st.stopping = true;
  for (auto& [i, n] : st.nodes)
    if (n.supervisor)
      self->send_exit(n.supervisor, caf::exit_reason::user_shutdown);
  check_stopped(self);
}

} // namespace

sim_agent_actor::behavior_type
sim_agent(sim_agent_actor::stateful_pointer<sim_agent_state> self,
          sim_agent_config cfg) {
  self->state.cfg = std::move(cfg);
  // An exit from outside (the process stops) stops the nodes first: they
  // are not linked to the agent.
  self->set_exit_handler([self](caf::exit_msg&) { begin_stop(self); });
  self->set_down_handler([self](caf::down_msg& dm) {
    for (auto& [i, n] : self->state.nodes) {
      if (n.supervisor && dm.source == n.supervisor.address()) {
        if (n.up && !self->state.stopping)
          spdlog::warn("sim_agent: node {} stopped: {}", i,
                       dm.reason ? describe(dm.reason) : "normally");
        n.up = false;
        n.supervisor = nullptr;
        self->state.cfg.directory->set(i, nullptr);
      } else if (n.local && dm.source == n.local.address()) {
        n.local = nullptr;
      } else {
        continue;
      }
      if (!n.supervisor && !n.local) {
        auto waiting = std::move(n.on_closed);
        n.on_closed.clear();
        for (auto& f : waiting)
          f();
      }
    }
    check_stopped(self);
  });
  return {
    [self](auth_atom, const std::string& secret) -> caf::result<ok_atom> {
      auto& want = self->state.cfg.secret;
      auto& sender = self->current_sender();
      if (!sender || want.empty() || secret.size() != want.size() ||
          CRYPTO_memcmp(secret.data(), want.data(), want.size()) != 0)
        return make_error(ec::invalid_argument, "forbidden: wrong secret");
      self->state.admitted.insert(sender->node());
      return ok_atom::value;
    },
    [self](spawn_atom, uint32_t first, uint32_t count,
           const std::vector<std::string>& args,
           const std::vector<std::string>& bootstrap)
      -> caf::result<std::vector<std::string>> {
      if (auto err = check_admitted(self))
        return err;
      auto& st = self->state;
      if (count == 0 || st.stopping)
        return make_error(ec::invalid_argument, "nothing to spawn");
      std::string why;
      auto opts = config::parse_node_flags(args, why);
      if (!opts)
        return make_error(ec::invalid_argument, "node settings", why);
      // Without --log-level of their own, nodes log at the agent's level.
      bool own_level = std::any_of(args.begin(), args.end(), [](auto& a) {
        return a.rfind("--log-level", 0) == 0;
      });
      for (uint32_t i = first; i < first + count; ++i)
        if (st.nodes.count(i) > 0)
          return make_error(ec::invalid_argument,
                            "node " + std::to_string(i) + " exists already");
      for (uint32_t i = first; i < first + count; ++i) {
        sim_node n;
        n.index = i;
        n.stats.index = i;
        n.options = *opts;
        n.options.data_dir = st.cfg.data_dir + "/node-" + std::to_string(i);
        // The agent's one HTTP server serves every node's API (no HTTP
        // threads per node); changes of state through it take the secret.
        n.options.no_api = true;
        n.options.metrics = false;
        n.options.api_token = st.cfg.secret;
        n.options.listen_ip = st.cfg.advertise_ip;
        n.options.listen_port = 0;
        n.options.disc_port = 0;
        n.options.bootstrap_nodes = bootstrap;
        // The nodes of an agent (and of every agent on its machine) dial
        // and query each other from one address: limits per address would
        // take a swarm for one host (99 nodes dialing their seeder at
        // once were refused by its cap of 8 pending handshakes per
        // address). The limits in all stay.
        n.options.max_pending_handshakes_per_ip =
          n.options.max_pending_handshakes;
        n.options.dht_rate_limit = 0;
        std::error_code fs_err;
        std::filesystem::create_directories(n.options.data_dir, fs_err);
        if (fs_err)
          return make_error(ec::storage_io, n.options.data_dir,
                            fs_err.message());
        auto key =
          storage::node_key::load_or_create(n.options.data_dir + "/node.key");
        if (!key)
          return key.error();
        n.key = std::move(*key);
        st.nodes.emplace(i, std::move(n));
        st.cfg.directory->set(i, nullptr);
        if (own_level && st.cfg.log_sink)
          st.cfg.log_sink->set_level_of(i, spdlog_level(opts->log_level));
      }
      auto rp = self->make_response_promise<std::vector<std::string>>();
      auto sprs = std::make_shared<std::vector<std::string>>(count);
      auto left = std::make_shared<uint32_t>(count);
      auto failed = std::make_shared<bool>(false);
      for (uint32_t k = 0; k < count; ++k)
        start_node(self, first + k, [=](caf::expected<std::string> r) mutable {
          if (*failed)
            return;
          if (!r) {
            *failed = true;
            rp.deliver(r.error());
            return;
          }
          (*sprs)[k] = std::move(*r);
          if (--*left == 0)
            rp.deliver(std::move(*sprs));
        });
      return rp;
    },
    [self](upload_atom, uint32_t index, uint64_t size,
           uint64_t seed) -> caf::result<sim_upload_result> {
      if (auto err = check_admitted(self))
        return err;
      auto n = find_up_node(self, index);
      if (!n)
        return n.error();
      ++(*n)->stats.uploads;
      auto h = self->spawn(sim_upload, (*n)->store, size, seed);
      return self->delegate(h, upload_atom::value);
    },
    [self](download_atom, uint32_t index, const std::string& id, uint64_t size,
           uint64_t seed) -> caf::result<sim_download_result> {
      if (auto err = check_admitted(self))
        return err;
      auto n = find_up_node(self, index);
      if (!n)
        return n.error();
      sim_download_spec spec;
      spec.cid = id;
      spec.expect_size = size;
      spec.expect_seed = seed;
      spec.window = (*n)->options.stream_window;
      spec.ec_backend = (*n)->options.ec_backend;
      spec.supervisor = (*n)->supervisor;
      spec.store = (*n)->store;
      spec.discovery = (*n)->discovery;
      spec.downloads = (*n)->ctx->downloads;
      spec.sources = (*n)->ctx->sources;
      auto h = self->spawn(sim_download, std::move(spec));
      auto rp = self->make_response_promise<sim_download_result>();
      ++self->state.downloads_running;
      auto ended = [self] {
        if (--self->state.downloads_running == 0 && !self->state.stopping)
          trim_later(self);
      };
      self->request(h, caf::infinite, download_atom::value)
        .then(
          [self, index, rp, ended](sim_download_result& r) mutable {
            ended();
            auto& s = self->state.nodes[index].stats;
            if (r.error.empty()) {
              ++s.downloads_done;
              s.bytes_downloaded += r.bytes;
            } else {
              ++s.downloads_failed;
            }
            rp.deliver(std::move(r));
          },
          [rp, ended](caf::error& err) mutable {
            ended();
            rp.deliver(std::move(err));
          });
      return rp;
    },
    [self](kill_atom, uint32_t index) -> caf::result<ok_atom> {
      if (auto err = check_admitted(self))
        return err;
      auto n = find_up_node(self, index);
      if (!n)
        return n.error();
      // Not the supervisor's orderly stop: its exit handler takes every
      // child down at once, mid-request, as a crash of the process would.
      (*n)->up = false;
      self->state.cfg.directory->set(index, nullptr);
      self->send_exit((*n)->supervisor,
                      make_error(ec::injected_fault, "killed by cairn-sim"));
      spdlog::info("sim_agent: node {} killed", index);
      return ok_atom::value;
    },
    [self](protect_atom, uint32_t index, const std::string& id, uint32_t k,
           uint32_t m) -> caf::result<sim_upload_result> {
      auto target = find_dataset_on(self, index, id);
      if (!target)
        return target.error();
      auto [n, parsed] = *target;
      auto api = n->ctx->api->get();
      if (!api)
        return make_error(ec::unavailable, "node " + std::to_string(index) +
                                             " runs no API actor yet");
      auto h =
        self->spawn<caf::detached>(sim_protect, std::move(api), parsed, k, m);
      return self->delegate(h, protect_atom::value);
    },
    [self](delete_atom, uint32_t index, const std::string& id, double fraction,
           uint64_t seed) -> caf::result<uint64_t> {
      auto target = find_dataset_on(self, index, id);
      if (!target)
        return target.error();
      auto [n, parsed] = *target;
      auto local = caf::actor_cast<local_store_actor>(n->local);
      auto rp = self->make_response_promise<uint64_t>();
      self->request(local, ask_timeout, get_atom::value, parsed)
        .then(
          [self, local, fraction, seed, rp](block& head) mutable {
            auto m = manifest_from_block(head);
            if (!m) {
              rp.deliver(m.error());
              return;
            }
            auto picks = config::pick_blocks(m->blocks_count(), fraction, seed);
            if (picks.empty()) {
              rp.deliver(uint64_t{0});
              return;
            }
            auto left = std::make_shared<size_t>(picks.size());
            auto dropped = std::make_shared<uint64_t>(0);
            // A block the node never had is no error: it counts as not
            // dropped.
            auto one = [left, dropped, rp](bool ok) mutable {
              *dropped += ok;
              if (--*left == 0)
                rp.deliver(*dropped);
            };
            for (auto i : picks)
              self
                ->request(local, ask_timeout, delete_atom::value,
                          block_address{m->tree_cid, i})
                .then([one](ok_atom) mutable { one(true); },
                      [one](caf::error&) mutable { one(false); });
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self](restart_atom, uint32_t index) -> caf::result<std::string> {
      if (auto err = check_admitted(self))
        return err;
      auto n = find_node(self, index);
      if (!n)
        return n.error();
      if ((*n)->up || (*n)->starting)
        return make_error(ec::invalid_argument,
                          "node " + std::to_string(index) + " is running");
      ++(*n)->stats.restarts;
      auto rp = self->make_response_promise<std::string>();
      auto answer = [](caf::typed_response_promise<std::string>& rp,
                       caf::expected<std::string>& r) {
        if (r)
          rp.deliver(std::move(*r));
        else
          rp.deliver(r.error());
      };
      auto go = [self, index, rp, answer]() mutable {
        start_node(
          self, index,
          [self, index, rp, answer](caf::expected<std::string> r) mutable {
            auto& n = self->state.nodes[index];
            if (r || (n.options.listen_port == 0 && n.options.disc_port == 0))
              return answer(rp, r);
            // Its ports were taken meanwhile: any will do.
            n.options.listen_port = 0;
            n.options.disc_port = 0;
            start_node(self, index,
                       [rp, answer](caf::expected<std::string> r) mutable {
                         answer(rp, r);
                       });
          });
      };
      if ((*n)->local || (*n)->supervisor)
        (*n)->on_closed.push_back(std::move(go));
      else
        go();
      return rp;
    },
    [self](stats_atom) -> caf::result<std::vector<sim_node_stats>> {
      if (auto err = check_admitted(self))
        return err;
      std::vector<sim_node_stats> out;
      for (auto& [i, n] : self->state.nodes) {
        auto s = n.stats;
        s.up = n.up;
        s.peers =
          n.up && n.ctx && n.ctx->peers ? n.ctx->peers->snapshot().size() : 0;
        out.push_back(std::move(s));
      }
      return out;
    },
    [self](stop_atom) -> caf::result<ok_atom> {
      if (auto err = check_admitted(self))
        return err;
      auto rp = self->make_response_promise<ok_atom>();
      rp.deliver(ok_atom::value);
      begin_stop(self);
      return rp;
    },
  };
}

} // namespace cairn::actors
