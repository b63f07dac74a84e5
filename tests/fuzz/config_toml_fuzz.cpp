// Feeds: the input as the TOML file of `--config`, written to a temporary
// file and read by config::parse_node_options exactly as cairn-node reads
// it (toml++ parse, every key mapped onto its flag and checked by CLI11).
// Checks: no crash, leak or UB, and no exception escapes: parsing ends with
// options or with exit code 2 (a one-line error, muted here).

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>

#include "config/options.hpp"
#include "fuzz_check.hpp"

namespace {

// One file per process (parallel jobs must not share it), removed at exit.
const std::string& config_path() {
  static const std::string path =
    "/tmp/cairn-config-fuzz-" + std::to_string(getpid()) + ".toml";
  static const bool cleanup = [] {
    return std::atexit([] { std::remove(path.c_str()); }) == 0;
  }();
  (void)cleanup;
  return path;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& path = config_path();
  if (auto* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  } else {
    return 0;
  }
  const char* argv[] = {"cairn-node", "--config", path.c_str()};
  std::ostringstream muted;
  auto* out = std::cout.rdbuf(muted.rdbuf());
  auto* err = std::cerr.rdbuf(muted.rdbuf());
  auto res = cairn::config::parse_node_options(3, argv);
  std::cout.rdbuf(out);
  std::cerr.rdbuf(err);
  // `help = true` in the file ends with exit code 0 and no options.
  FUZZ_CHECK(res.options ? res.exit_code == 0
                         : res.exit_code == 0 || res.exit_code == 2);
  if (res.options)
    FUZZ_CHECK(res.options->config_file == path);
  return 0;
}
