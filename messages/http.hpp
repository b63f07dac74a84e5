#pragma once

#include <cstdint>
#include <initializer_list>
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
/// `filename=a.txt`, or RFC 5987 `filename*=UTF-8''a%20b.txt`), as given.
/// `std::nullopt` if there is none.
std::optional<std::string> filename_from_disposition(std::string_view header);

/// Whether `name` can be a dataset's file name, as Codex checks an upload's:
/// 1 to 255 bytes, not `.` or `..`, no path separator, no control character
/// and none of `:*?"<>|`.
bool is_valid_filename(std::string_view name);

/// Whether `type` is a media type (RFC 6838 §4.2 `type/subtype`, with
/// optional `; name=value` parameters) of at most 255 bytes.
bool is_valid_media_type(std::string_view type);

/// `attachment; filename="..."` with quotes and backslashes escaped and
/// control characters dropped.
std::string disposition_for(std::string_view filename);

/// A decimal number from a URL (path segment or query value): digits only,
/// no sign, no spaces, at most `max`. `std::nullopt` otherwise.
std::optional<uint64_t> parse_decimal(std::string_view text,
                                      uint64_t max = UINT64_MAX);

/// Which of `offered` media types (in the server's order of preference) an
/// `Accept` header prefers (RFC 9110 §12.5.1): the highest quality wins,
/// an exact type beats `type/*` beats `*/*`, and ties go to the earlier
/// offer. An empty or unparsable header accepts anything: the first offer.
/// `std::nullopt` when the header refuses every offer (all q=0 or unlisted).
std::optional<std::string_view>
preferred_media_type(std::string_view accept,
                     std::initializer_list<std::string_view> offered);

/// Whether an `Authorization` header is `Bearer <secret>`, compared in
/// time that does not depend on where they differ. An empty secret
/// matches nothing.
bool bearer_matches(std::string_view authorization, std::string_view secret);

/// The HTTP status for an error: 400 malformed input, 404 not found, 413
/// quota, 507 disk full, 503 unavailable or timed out, 500 otherwise.
int http_status(const caf::error& err);

} // namespace cairn
