#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <caf/error.hpp>

namespace cairn {

/// An inclusive byte range of a resource.
struct byte_range {
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t length() const { return last - first + 1; }
};

/// Resolves one HTTP range as cpp-httplib parses it (`-1` for an absent
/// bound: `a-` is (a, -1), `-n` is (-1, n)) against a resource of `size`
/// bytes. `std::nullopt` if unsatisfiable (RFC 9110 §14.1.2: start past the
/// end, empty resource, or a zero-length suffix).
std::optional<byte_range> resolve_range(int64_t first, int64_t last,
                                        uint64_t size);

/// The file name in a `Content-Disposition` header (`filename="a b.txt"`,
/// `filename=a.txt`, or RFC 5987 `filename*=UTF-8''a%20b.txt`), without any
/// directory part. `std::nullopt` if there is none.
std::optional<std::string> filename_from_disposition(std::string_view header);

/// `attachment; filename="..."` with quotes and backslashes escaped and
/// control characters dropped.
std::string disposition_for(std::string_view filename);

/// A decimal number from a URL (path segment or query value): digits only,
/// no sign, no spaces, at most `max`. `std::nullopt` otherwise.
std::optional<uint64_t> parse_decimal(std::string_view text,
                                      uint64_t max = UINT64_MAX);

/// The HTTP status for an error: 400 malformed input, 404 not found, 413
/// quota, 503 unavailable or timed out, 500 otherwise.
int http_status(const caf::error& err);

} // namespace cairn
