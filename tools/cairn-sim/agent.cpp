// cairn-sim agent: publishes one sim_agent actor and waits for it to stop.

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/publish.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "actors/sim_agent.hpp"
#include "actors/system_config.hpp"
#include "messages/error.hpp"
#include "messages/type_ids.hpp"
#include "tools/cairn-sim/sim.hpp"

namespace cairn::sim {

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("cairn");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  spdlog::set_level(actors::spdlog_level(level));
}

std::optional<std::pair<std::string, uint16_t>>
split_host_port(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return std::nullopt;
  auto port_text = text.substr(colon + 1);
  if (port_text.find_first_not_of("0123456789") != std::string::npos ||
      port_text.size() > 5)
    return std::nullopt;
  auto port = std::stoul(port_text);
  if (port > 65535)
    return std::nullopt;
  return std::make_pair(text.substr(0, colon), static_cast<uint16_t>(port));
}

std::optional<std::string> read_secret(const std::string& path,
                                       std::string& why) {
  std::ifstream in(path);
  if (!in) {
    why = "cannot read the secret file " + path;
    return std::nullopt;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  auto s = buf.str();
  auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    why = "the secret file " + path + " is empty";
    return std::nullopt;
  }
  auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

int run_agent(const agent_options& o) {
  auto where = split_host_port(o.listen);
  if (!where) {
    std::cerr << "cairn-sim: --listen: '" << o.listen << "' is not IP:PORT\n";
    return 2;
  }
  std::string why;
  auto tls = tls_files::in(o.tls_dir);
  if (!check_tls_files(tls, why)) {
    std::cerr << "cairn-sim: --tls-dir: " << why << "\n";
    return 2;
  }
  auto secret =
    read_secret(o.secret_file.empty() ? tls.secret : o.secret_file, why);
  if (!secret) {
    std::cerr << "cairn-sim: --secret-file: " << why << "\n";
    return 2;
  }
  setup_logging(o.log_level);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  actors::sim_agent_config cfg;
  cfg.secret = *secret;
  cfg.data_dir = o.data_dir;
  cfg.log_sink = actors::node_log_sink::install();
  cfg.advertise_ip = !o.advertise_ip.empty()     ? o.advertise_ip
                     : where->first == "0.0.0.0" ? std::string{"127.0.0.1"}
                                                 : where->first;
  caf::actor_system_config sys_cfg;
  actors::configure_actor_system(sys_cfg, o.threads);
  use_control_tls(sys_cfg, tls);
  int code = 0;
  {
    caf::actor_system sys{sys_cfg};
    std::unique_ptr<node_api_server> api;
    if (o.api_port >= 0) {
      auto served =
        serve_node_apis(where->first, static_cast<uint16_t>(o.api_port),
                        cfg.directory, *secret);
      if (!served) {
        std::cerr << "cairn-sim: " << describe(served.error()) << "\n";
        return 1;
      }
      api = std::move(*served);
    }
    auto agent = sys.spawn(actors::sim_agent, cfg);
    auto down = std::make_shared<std::atomic<bool>>(false);
    caf::actor_cast<caf::actor>(agent)->attach_functor(
      [down](const caf::error&) { down->store(true); });
    auto port =
      caf::openssl::publish(agent, where->second, where->first.c_str(), true);
    if (!port) {
      std::cerr << "cairn-sim: cannot listen on " << o.listen << ": "
                << describe(port.error()) << "\n";
      caf::anon_send_exit(agent, caf::exit_reason::user_shutdown);
      code = 1;
    } else {
      std::printf(
        "cairn-sim agent ready listen=%s:%u data-dir=%s%s\n",
        where->first.c_str(), static_cast<unsigned>(*port), o.data_dir.c_str(),
        api ? (" api=" + where->first + ":" + std::to_string(api->port)).c_str()
            : "");
      std::fflush(stdout);
      timespec tick{0, 200 * 1000 * 1000};
      while (!down->load()) {
        siginfo_t si;
        int sig = sigtimedwait(&signals, &si, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
          caf::anon_send_exit(agent, caf::exit_reason::user_shutdown);
          break;
        }
      }
      // A node that does not stop must not keep the process alive.
      std::thread{[] {
        std::this_thread::sleep_for(std::chrono::seconds{30});
        std::fprintf(stderr, "cairn-sim: agent stop took more than 30 s\n");
        std::_Exit(1);
      }}.detach();
      while (!down->load())
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
  }
  return code;
}

} // namespace cairn::sim
