// cairn-sim: runs many real Cairn nodes inside agent processes and plays a
// scenario on them. See README.md ("cairn-sim") and `cairn-sim --help`.

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <iostream>

#include <malloc.h>

#include <CLI/CLI.hpp>

#include "tools/cairn-sim/sim.hpp"

int main(int argc, char** argv) {
  using namespace cairn::sim;
  // As in cairn-node: keep block-sized buffers instead of handing them
  // back to the kernel after every transaction.
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  mallopt(M_TRIM_THRESHOLD, 8 << 20);
  CLI::App app{"cairn-sim: many real Cairn nodes in agent processes, driven "
               "by a scenario.\n"
               "  cairn-sim cert --out DIR   makes a cluster's control-link "
               "keys\n"
               "  cairn-sim agent --listen IP:PORT --tls-dir DIR   hosts "
               "nodes\n"
               "  cairn-sim run SCENARIO.toml [--agent IP:PORT]... "
               "[--tls-dir DIR] [--local-agents N]   plays a scenario",
               "cairn-sim"};
  app.require_subcommand(1);
  app.get_formatter()->column_width(30);
  auto levels = CLI::IsMember(
    {"trace", "debug", "info", "notice", "warn", "error", "fatal"});

  std::string cert_out;
  auto* cert = app.add_subcommand(
    "cert", "Make a cluster's control-link keys: ca.pem, cert.pem, key.pem, "
            "secret; copy the directory to every agent and coordinator");
  cert->add_option("--out", cert_out, "Directory to write (must not hold keys)")
    ->required();

  agent_options ao;
  auto* agent = app.add_subcommand(
    "agent", "Host nodes; a coordinator commands them over CAF's middleman "
             "with TLS");
  agent
    ->add_option("--listen", ao.listen,
                 "IP:PORT to publish the agent on (port 0: any; printed)")
    ->required();
  agent
    ->add_option("--tls-dir", ao.tls_dir,
                 "The cluster's keys (cairn-sim cert): only a coordinator "
                 "with a certificate of its CA gets through")
    ->required();
  agent->add_option("--secret-file", ao.secret_file,
                    "File holding the secret a coordinator must present "
                    "(default: TLS-DIR/secret)");
  agent
    ->add_option("--data-dir", ao.data_dir,
                 "Directory of the nodes' stores (node-<i>/)")
    ->capture_default_str();
  agent->add_option("--advertise-ip", ao.advertise_ip,
                    "Address the nodes listen on and announce (default: the "
                    "--listen IP, or 127.0.0.1 for 0.0.0.0)");
  agent->add_option("--log-level", ao.log_level, "Log level of the nodes")
    ->capture_default_str()
    ->check(levels);
  agent
    ->add_option("--api-port", ao.api_port,
                 "Serve every node's REST API on this port of the --listen "
                 "IP, at /nodes/{i}/api/codex/v1/..., /nodes/{i}/api/cairn/"
                 "v1/... and /nodes/{i}/metrics (0: any; printed as api=). "
                 "Off loopback each request needs 'Authorization: Bearer "
                 "<secret>'")
    ->check(CLI::Range(0, 65535));
  agent
    ->add_option("--threads", ao.threads,
                 "Scheduler threads (0 = one per core, at least 2)")
    ->check(CLI::Range(0u, 256u));

  run_options ro;
  uint64_t seed = 0;
  auto* run = app.add_subcommand("run", "Play a scenario on agents");
  run->add_option("scenario", ro.scenario, "Scenario file (TOML)")->required();
  run->add_option("--agent", ro.agents,
                  "An agent to use (HOST:PORT); repeatable, in placement "
                  "order");
  run
    ->add_option("--local-agents", ro.local_agents,
                 "Agent processes to start on this machine (their logs: "
                 "agent-<i>.log in --out)")
    ->check(CLI::Range(0u, 64u));
  run->add_option("--out", ro.out, "Directory of the report")
    ->capture_default_str();
  auto* seed_opt = run->add_option("--seed", seed,
                                   "Seed of the run (default: the scenario's)");
  run->add_option("--tls-dir", ro.tls_dir,
                  "The cluster's keys (cairn-sim cert); needed with --agent, "
                  "local agents alone get fresh ones in a temporary "
                  "directory");
  run->add_option("--secret-file", ro.secret_file,
                  "The agents' secret (default: TLS-DIR/secret)");
  run
    ->add_option("--log-level", ro.log_level,
                 "Log level of the coordinator and of the --local-agents "
                 "(their nodes included)")
    ->capture_default_str()
    ->check(levels);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      std::cout << app.help();
      return 0;
    }
    std::cerr << "cairn-sim: " << e.what() << "\n";
    return 2;
  }
  if (cert->parsed()) {
    std::string why;
    if (!make_cluster_keys(cert_out, why)) {
      std::cerr << "cairn-sim: " << why << "\n";
      return 1;
    }
    std::printf("cairn-sim: cluster keys in %s (copy the directory to every "
                "agent and coordinator machine)\n",
                cert_out.c_str());
    return 0;
  }
  if (agent->parsed())
    return run_agent(ao);
  if (*seed_opt)
    ro.seed = seed;
  char buf[PATH_MAX];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  ro.self_exe = n > 0 ? std::string(buf, static_cast<size_t>(n)) : argv[0];
  return run_scenario(ro);
}
