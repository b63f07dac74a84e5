// Feeds: the input, by its first byte, to one of the parsers of request
// headers and URL values (messages/http.*): a `Range` header, parsed by
// cpp-httplib as the API server does, then resolved with resolve_range
// against a resource size from the input; a `Content-Disposition` header
// (filename_from_disposition, then is_valid_filename as an upload checks
// it); an `Accept` header (preferred_media_type over the API's offers); a
// `Content-Type` (is_valid_media_type); a decimal from a URL
// (parse_decimal).
// Checks: no crash, leak or UB; a resolved range lies inside the resource; a
// negotiated type is one of the offers; a valid file name survives
// disposition_for → filename_from_disposition unchanged; a parsed decimal
// prints back to the digits without leading zeros.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <httplib.h>

#include "fuzz_check.hpp"
#include "messages/http.hpp"

using namespace cairn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9)
    return 0;
  auto mode = data[0] % 5;
  uint64_t number = 0;
  std::memcpy(&number, data + 1, sizeof(number));
  std::string_view text{reinterpret_cast<const char*>(data + 9), size - 9};
  switch (mode) {
  case 0: {
    httplib::Ranges ranges;
    if (!httplib::detail::parse_range_header(std::string{text}, ranges))
      break;
    // Small sizes too, where the edge cases are.
    uint64_t resource = number % 4 == 0 ? number >> 2 : (number >> 2) % 4096;
    for (auto& [first, last] : ranges) {
      if (auto r = resolve_range(first, last, resource)) {
        FUZZ_CHECK(r->first <= r->last);
        FUZZ_CHECK(r->last < resource);
        FUZZ_CHECK(r->length() >= 1 && r->length() <= resource);
      }
    }
    break;
  }
  case 1:
    if (auto name = filename_from_disposition(text)) {
      if (is_valid_filename(*name)) {
        auto again = filename_from_disposition(disposition_for(*name));
        FUZZ_CHECK(again && *again == *name);
      }
    }
    if (is_valid_filename(text)) {
      auto again = filename_from_disposition(disposition_for(text));
      FUZZ_CHECK(again && *again == text);
    }
    break;
  case 2: {
    auto got = preferred_media_type(text, {"application/json", "text/plain"});
    if (got)
      FUZZ_CHECK(*got == "application/json" || *got == "text/plain");
    auto one = preferred_media_type(text, {"application/octet-stream"});
    if (one)
      FUZZ_CHECK(*one == "application/octet-stream");
    break;
  }
  case 3:
    if (is_valid_media_type(text))
      FUZZ_CHECK(!text.empty() && text.size() <= 255 &&
                 text.find('/') != std::string_view::npos);
    break;
  default:
    if (auto v = parse_decimal(text, number)) {
      FUZZ_CHECK(*v <= number);
      auto digits =
        text.substr(std::min(text.find_first_not_of('0'), text.size() - 1));
      FUZZ_CHECK(std::to_string(*v) == digits);
    }
  }
  return 0;
}
