// Feeds: one frame payload (the msgpack envelope of messages/wire/FORMAT.md)
// to wire::decode: every peer message, the handshake's HELLO and AUTH
// included. A HELLO that decodes is also put through the AUTH check a
// session runs (auth_payload + ed25519_verify) with a signature from the
// input's tail.
// Checks: no crash, leak or UB; round trip: a message that decodes encodes
// (encode and append_frame alike) to bytes that decode to an equal message.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_check.hpp"
#include "messages/ed25519.hpp"
#include "messages/wire/frame.hpp"
#include "messages/wire/messages.hpp"

using namespace cairn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto msg = wire::decode(byte_view{data, size});
  if (!msg)
    return 0;
  (void)wire::type_name(*msg);
  auto enc = wire::encode(*msg);
  auto again = wire::decode(enc);
  FUZZ_CHECK(again);
  FUZZ_CHECK(*again == *msg);
  FUZZ_CHECK(wire::encode(*again) == enc);
  std::vector<char> framed;
  wire::append_frame(*msg, framed);
  auto expected = wire::encode_frame(enc);
  FUZZ_CHECK(
    framed.size() == expected.size() &&
    std::equal(framed.begin(), framed.end(), expected.begin(),
               [](char c, uint8_t b) { return static_cast<uint8_t>(c) == b; }));
  if (auto* h = std::get_if<wire::hello>(&*msg)) {
    std::array<uint8_t, 32> own_nonce{};
    std::array<uint8_t, 32> binding{};
    auto payload =
      wire::auth_payload(own_nonce, h->nonce, h->public_key, binding);
    FUZZ_CHECK(payload.size() == 141);
    auto sig_len = std::min<size_t>(size, wire::signature_size);
    (void)ed25519_verify(h->public_key, payload,
                         byte_view{data + size - sig_len, sig_len});
  }
  return 0;
}
