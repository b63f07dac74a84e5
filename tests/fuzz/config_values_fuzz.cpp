// Feeds: the input, by its first byte, to the parsers of single option
// values in config/options.*: parse_size (`--storage-quota`),
// parse_duration (`--block-ttl`, `--block-maintenance-interval`) and
// bootstrap_record (`--bootstrap-node`, an SPR or the JSON of GET /spr).
// Checks: no crash, leak or UB; a parsed duration is positive; a whole
// number of bytes parses to itself, and a size printed back in bytes parses
// to the same size.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/options.hpp"
#include "fuzz_check.hpp"

using namespace cairn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  auto mode = data[0] % 3;
  std::string text{reinterpret_cast<const char*>(data + 1), size - 1};
  switch (mode) {
  case 0:
    if (auto n = config::parse_size(text)) {
      auto again = config::parse_size(std::to_string(*n));
      FUZZ_CHECK(again && *again == *n);
      auto b = config::parse_size(std::to_string(*n) + "B");
      FUZZ_CHECK(b && *b == *n);
    }
    break;
  case 1:
    if (auto d = config::parse_duration(text)) {
      FUZZ_CHECK(d->count() > 0);
      auto again = config::parse_duration(std::to_string(d->count()) + "s");
      FUZZ_CHECK(again && *again == *d);
    }
    break;
  default:
    (void)config::bootstrap_record(text);
  }
  return 0;
}
