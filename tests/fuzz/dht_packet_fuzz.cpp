// Feeds: one UDP datagram of the DHT (messages/wire/DHT_FORMAT.md) to
// wire::dht::peek, which reads its header as the rate limiter does, and to
// wire::dht::decode, which parses it and verifies every signed record in it.
// Checks: no crash, leak or UB; a packet that decodes peeks to the same
// request ID and kind; round trip: a packet that decodes encodes
// (after trim_to_fit, as a sender would) to a datagram that decodes to a
// packet with the same encoding, the same sender and the same request ID.

#include <cstddef>
#include <cstdint>

#include "fuzz_check.hpp"
#include "messages/wire/dht_messages.hpp"

using namespace cairn;
namespace dht = cairn::wire::dht;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto head = dht::peek(byte_view{data, size});
  auto pkt = dht::decode(byte_view{data, size});
  if (!pkt)
    return 0;
  FUZZ_CHECK(head);
  FUZZ_CHECK(head->request_id == pkt->request_id);
  FUZZ_CHECK(head->request == dht::is_request(pkt->body));
  (void)dht::kind_name(pkt->body);
  // What decodes fits a datagram already, so nothing may be trimmed.
  FUZZ_CHECK(dht::trim_to_fit(*pkt) == 0);
  auto enc = dht::encode(*pkt);
  FUZZ_CHECK(enc);
  FUZZ_CHECK(enc->size() <= dht::max_datagram_size);
  auto again = dht::decode(*enc);
  FUZZ_CHECK(again);
  FUZZ_CHECK(again->request_id == pkt->request_id);
  FUZZ_CHECK(again->sender == pkt->sender);
  FUZZ_CHECK(again->body.index() == pkt->body.index());
  auto enc2 = dht::encode(*again);
  FUZZ_CHECK(enc2 && *enc2 == *enc);
  return 0;
}
