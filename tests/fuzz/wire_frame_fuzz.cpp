// Feeds: a TCP byte stream of length-prefixed frames (messages/wire/FORMAT.md),
// split into reads whose sizes come from the input's first byte, into
// wire::frame_reader; every complete payload goes on to wire::decode.
// Checks: no crash, leak or UB; the payloads the incremental reader hands out
// equal those of a one-shot reference parse of the whole stream, and it fails
// exactly where the reference finds a zero or oversized header.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_check.hpp"
#include "messages/wire/frame.hpp"
#include "messages/wire/messages.hpp"

using namespace cairn;

namespace {

struct reference_parse {
  std::vector<bytes> payloads;
  bool failed = false;
};

reference_parse parse_all(const uint8_t* p, size_t n) {
  reference_parse out;
  size_t pos = 0;
  while (n - pos >= wire::frame_header_size) {
    size_t len = size_t{p[pos]} << 24 | size_t{p[pos + 1]} << 16 |
                 size_t{p[pos + 2]} << 8 | p[pos + 3];
    if (len == 0 || len > wire::max_frame_size) {
      out.failed = true;
      out.payloads.clear();
      return out;
    }
    if (n - pos - wire::frame_header_size < len)
      break;
    pos += wire::frame_header_size;
    out.payloads.emplace_back(p + pos, p + pos + len);
    pos += len;
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  // Read sizes cycle through 1..16 bytes, or the whole rest at 0.
  size_t step = data[0] % 17;
  ++data;
  --size;
  wire::frame_reader reader;
  std::vector<bytes> got;
  caf::error err;
  for (size_t pos = 0; pos < size && !err;) {
    size_t n = step == 0 ? size - pos : std::min(step, size - pos);
    err = reader.feed(data + pos, n);
    pos += n;
    while (auto payload = reader.next()) {
      auto msg = wire::decode(*payload);
      if (msg)
        FUZZ_CHECK(wire::type_of(*msg) >= 1 && wire::type_of(*msg) <= 8);
      got.push_back(std::move(*payload));
    }
  }
  auto ref = parse_all(data, size);
  FUZZ_CHECK(static_cast<bool>(err) == ref.failed);
  FUZZ_CHECK(reader.failed() == ref.failed);
  if (!ref.failed) {
    FUZZ_CHECK(got == ref.payloads);
    size_t framed = 0;
    for (auto& p : got)
      framed += wire::frame_header_size + p.size();
    FUZZ_CHECK(framed + reader.buffered() == size);
    // A frame re-encoded reads back the same.
    for (auto& p : got) {
      wire::frame_reader again;
      FUZZ_CHECK(!again.feed(wire::encode_frame(p)));
      auto q = again.next();
      FUZZ_CHECK(q && *q == p && !again.next());
    }
  }
  return 0;
}
