// Feeds: the input, by its first byte, to one of the decoders of peer
// identities: a binary signed peer record (peer_record::decode), its text
// form `spr:…` (peer_record::from_text), a `--bootstrap-node` value
// (config::bootstrap_record, then from_text), a multiaddr
// (parse_multiaddr) or a peer ID's text (peer_id::is_valid_text).
// Checks: no crash, leak or UB; round trips: a record that decodes encodes
// to bytes and text that decode to an equal, verifying record with the same
// peer ID; a parsed multiaddr prints to a multiaddr that parses the same; a
// record's peer ID is valid text.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/options.hpp"
#include "fuzz_check.hpp"
#include "messages/peer_id.hpp"
#include "messages/peer_record.hpp"

using namespace cairn;

namespace {

void check_record(const peer_record& r) {
  FUZZ_CHECK(r.verify());
  auto bin = peer_record::decode(r.encode());
  FUZZ_CHECK(bin && *bin == r);
  auto text = peer_record::from_text(r.to_text());
  FUZZ_CHECK(text && *text == r);
  FUZZ_CHECK(peer_id::is_valid_text(r.id().to_string()));
  FUZZ_CHECK(r.id() == peer_id::from_ed25519(r.public_key));
  for (auto& a : r.addrs)
    if (auto ep = parse_multiaddr(a))
      FUZZ_CHECK(parse_multiaddr(make_multiaddr(*ep)) == ep);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  auto mode = data[0] % 5;
  byte_view in{data + 1, size - 1};
  std::string_view text{reinterpret_cast<const char*>(in.data), in.size};
  switch (mode) {
  case 0:
    if (auto r = peer_record::decode(in))
      check_record(*r);
    break;
  case 1:
    if (auto r = peer_record::from_text(text))
      check_record(*r);
    break;
  case 2:
    if (auto r =
          peer_record::from_text(config::bootstrap_record(std::string{text})))
      check_record(*r);
    break;
  case 3:
    if (auto ep = parse_multiaddr(text)) {
      FUZZ_CHECK(ep->port != 0);
      auto again = parse_multiaddr(make_multiaddr(*ep));
      FUZZ_CHECK(again && *again == *ep);
    }
    break;
  default:
    (void)peer_id::is_valid_text(text);
  }
  return 0;
}
