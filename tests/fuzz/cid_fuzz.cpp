// Feeds: the input, by its first byte, to one of the CID and multibase
// decoders: a CID's text form (cid::parse, multibase `z` + base58btc or `b`
// + base32, and cid::is_foreign, which no CID that parses is), its
// binary form (cid::from_bytes), base58 (base58_decode) or base64url
// (base64url_decode).
// Checks: no crash, leak or UB; round trips: a CID that parses prints and
// serializes to forms that parse to the same CID (38 bytes, `z…`); base58
// and unpadded base64url decode then encode to the very same text (each
// byte string has one accepted form; padded base64url encodes to the text
// without its `=`).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "messages/base58.hpp"
#include "messages/base64url.hpp"
#include "messages/cid.hpp"

using namespace cairn;

namespace {

void check_cid(const cid& c) {
  auto bin = c.to_bytes();
  FUZZ_CHECK(bin.size() == 38);
  auto from_bin = cid::from_bytes(bin);
  FUZZ_CHECK(from_bin && *from_bin == c);
  auto text = c.to_string();
  FUZZ_CHECK(!text.empty() && text[0] == 'z');
  auto from_text = cid::parse(text);
  FUZZ_CHECK(from_text && *from_text == c);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  auto mode = data[0] % 4;
  byte_view in{data + 1, size - 1};
  std::string_view text{reinterpret_cast<const char*>(in.data), in.size};
  switch (mode) {
  case 0:
    if (auto c = cid::parse(text)) {
      check_cid(*c);
      FUZZ_CHECK(!cid::is_foreign(text));
    } else {
      cid::is_foreign(text);
    }
    break;
  case 1:
    if (auto c = cid::from_bytes(in))
      check_cid(*c);
    break;
  case 2:
    if (auto b = base58_decode(text))
      FUZZ_CHECK(base58_encode(*b) == text);
    break;
  default:
    if (auto b = base64url_decode(text)) {
      auto unpadded = text.substr(0, text.find('='));
      FUZZ_CHECK(base64url_encode(*b) == unpadded);
    }
  }
  return 0;
}
