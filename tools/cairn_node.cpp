// cairn-node: the Cairn storage node daemon. See README.md ("cairn-node") and
// `cairn-node --help`.

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include <malloc.h>
#include <sys/stat.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "actors/fd_budget.hpp"
#include "actors/local_store.hpp"
#include "actors/node_log.hpp"
#include "actors/node_supervisor.hpp"
#include "actors/system_config.hpp"
#include "config/options.hpp"
#include "messages/error.hpp"
#include "messages/type_ids.hpp"
#include "storage/store_verify.hpp"

namespace {

int fail(const std::string& why) {
  std::cerr << "cairn-node: " << why << std::endl;
  return 1;
}

// `cairn-node verify [--repair]`: checks (and repairs) a store no node has
// open. Exit codes: 0 clean, 1 problems, 2 cannot check.
int run_verify(const cairn::config::node_options& opts) {
  using namespace cairn;
  auto cannot = [](const std::string& why) {
    std::cerr << "cairn-node verify: " << why << std::endl;
    return 2;
  };
  auto store_opts = actors::store_options(opts);
  struct stat sb;
  if (::stat((store_opts.path + "/data.mdb").c_str(), &sb) != 0)
    return cannot("no store in " + opts.data_dir + " (no " + store_opts.path +
                  "/data.mdb)");
  // The data dir's lock keeps a node from opening the store while this
  // checks or repairs it, and refuses a store a running node has open.
  auto lock = storage::data_dir_lock::acquire(opts.data_dir);
  if (!lock)
    return cannot(describe(lock.error()) +
                  "; stop it first, or run `cairnctl store verify` against it");
  auto store = storage::lmdb_store::open(store_opts);
  if (!store)
    return cannot(describe(store.error()));
  auto print = [](const storage::verify_report& r) {
    for (auto& p : r.problems)
      std::cout << to_string(p.kind) << ": " << p.text << "\n";
  };
  auto found = storage::verify_store(**store);
  if (!found)
    return cannot(describe(found.error()));
  print(*found);
  auto summary = [](const storage::verify_report& r) {
    return std::to_string(r.blocks) + " blocks (" + std::to_string(r.bytes) +
           " bytes), " + std::to_string(r.datasets) + " datasets, " +
           std::to_string(r.leaves) + " leaves";
  };
  if (!opts.repair || found->clean()) {
    std::cerr << "cairn-node verify: " << summary(*found) << ": "
              << (found->clean()
                    ? std::string{"clean"}
                    : std::to_string(found->problems.size()) + " problems")
              << std::endl;
    return found->clean() ? 0 : 1;
  }
  auto fixed = storage::repair_store(
    **store, *found, storage::repair_options{true, actors::unix_now()});
  if (!fixed)
    return cannot("repair failed: " + describe(fixed.error()));
  for (auto& a : fixed->actions)
    std::cout << "repaired: " << a << "\n";
  auto after = storage::verify_store(**store);
  if (!after)
    return cannot(describe(after.error()));
  print(*after);
  std::cerr << "cairn-node verify: " << found->problems.size() << " problems, "
            << fixed->actions.size() << " repairs; now " << summary(*after)
            << ": "
            << (after->clean()
                  ? std::string{"clean"}
                  : std::to_string(after->problems.size()) + " problems left")
            << std::endl;
  return after->clean() ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  using namespace cairn;
  // Block-sized buffers (64 KiB blocks, frames of up to 4 MiB, LMDB's dirty
  // pages) are allocated and freed by the MiB every transaction. glibc's
  // defaults hand such memory back to the kernel at once (trim above
  // 128 KiB, mmap for large chunks), so every page was faulted in again:
  // one page fault per 4 KiB received. Keep up to 8 MiB per arena instead
  // (two transactions' worth of dirty pages).
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  mallopt(M_TRIM_THRESHOLD, 8 << 20);
  auto parsed = config::parse_node_options(argc, argv);
  if (!parsed.options)
    return parsed.exit_code;
  auto opts = std::move(*parsed.options);
  if (opts.command == "verify")
    return run_verify(opts);

  auto logger = spdlog::stderr_color_mt("cairn");
  spdlog::set_default_logger(logger);
  spdlog::set_level(actors::spdlog_level(opts.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");

  // Signals are taken by sigtimedwait below; block them in every thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // Every descriptor the node may have: peers, API clients and the store
  // share them (actors/fd_budget.hpp).
  auto fds = actors::raise_fd_limit();
  auto lock = storage::data_dir_lock::acquire(opts.data_dir);
  if (!lock)
    return fail(describe(lock.error()));
  auto key = storage::node_key::load_or_create(opts.data_dir + "/node.key");
  if (!key)
    return fail(describe(key.error()));
  storage::repair_report reclaimed;
  auto store = storage::open_after_crash(actors::store_options(opts),
                                         actors::unix_now(), reclaimed);
  if (!store)
    return fail(describe(store.error()));

  caf::actor_system_config cfg;
  actors::configure_actor_system(cfg, opts.threads);
  int exit_code = 0;
  // A node that never started says only why (one line, e.g. a busy port).
  bool started = false;
  {
    caf::actor_system sys{cfg};
    auto ctx = std::make_shared<actors::node_context>();
    ctx->options = opts;
    ctx->key = std::move(*key);
    ctx->preopened =
      std::make_shared<std::unique_ptr<storage::lmdb_store>>(std::move(*store));
    auto sup =
      sys.spawn(actors::node_supervisor, ctx, actors::restart_policy{});
    auto sup_down = std::make_shared<std::atomic<bool>>(false);
    auto sup_reason = std::make_shared<caf::error>();
    caf::actor_cast<caf::actor>(sup)->attach_functor(
      [sup_down, sup_reason](const caf::error& reason) {
        *sup_reason = reason;
        sup_down->store(true);
      });
    caf::scoped_actor self{sys};
    caf::error start_error;
    node_info info;
    self->request(sup, std::chrono::seconds{60}, start_atom::value)
      .receive([&](node_info& x) { info = std::move(x); },
               [&](caf::error& err) { start_error = std::move(err); });
    if (start_error) {
      exit_code = fail(describe(start_error));
    } else {
      started = true;
      // Logged once the node runs: one that cannot start says only why.
      spdlog::info("store: start-up check reclaimed {} orphan blocks ({} "
                   "bytes), {} changes in all",
                   reclaimed.orphans, reclaimed.orphan_bytes,
                   reclaimed.actions.size());
      spdlog::info("node {} ready; data dir {}; {} file descriptors, peer "
                   "connections accepted while fewer than {} are open",
                   info.peer_id, info.data_dir, fds,
                   actors::make_fd_budget(fds, opts.fd_reserve).pause_at);
      auto api = opts.no_api ? std::string{"none"}
                             : "http://" + info.api_host + ":" +
                                 std::to_string(info.api_port);
      std::printf(
        "cairn-node ready api=%s peer-id=%s%s%s\n", api.c_str(),
        info.peer_id.c_str(),
        ctx->metrics_url.empty() ? "" : " metrics=", ctx->metrics_url.c_str());
      std::fflush(stdout);
      timespec tick{0, 200 * 1000 * 1000};
      for (;;) {
        siginfo_t si;
        int sig = sigtimedwait(&signals, &si, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
          spdlog::info("received {}, shutting down",
                       sig == SIGINT ? "SIGINT" : "SIGTERM");
          // A hard deadline: a handler stuck in a request must not keep the
          // process alive forever.
          std::thread{[] {
            std::this_thread::sleep_for(std::chrono::seconds{60});
            spdlog::critical("shutdown took more than 60 s, exiting");
            std::_Exit(1);
          }}.detach();
          // Fetches from peers end first, with shutting_down: the API
          // stops only once its handler threads have answered, and a
          // handler waiting for a block nobody delivers would hold the
          // whole node until the engine's want timeout.
          self
            ->request(sup, std::chrono::seconds{2}, get_atom::value,
                      std::string{"engine"})
            .receive(
              [](caf::actor& engine) {
                caf::anon_send(caf::actor_cast<engine_actor>(engine),
                               stop_atom::value);
              },
              [](caf::error& err) {
                spdlog::debug("shutdown: no engine to stop: {}", describe(err));
              });
          self->request(sup, std::chrono::seconds{30}, stop_atom::value)
            .receive([](ok_atom) {},
                     [&](caf::error& err) {
                       spdlog::error("clean shutdown failed: {}",
                                     describe(err));
                       exit_code = 1;
                     });
          break;
        }
        if (sup_down->load()) {
          exit_code = fail("node stopped: " + describe(*sup_reason));
          break;
        }
      }
    }
    if (!sup_down->load())
      caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  }
  if (started)
    spdlog::info("stopped");
  return exit_code;
}
