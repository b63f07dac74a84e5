#include "messages/http.hpp"

#include <cctype>
#include <cstdlib>
#include <string>
#include <vector>

#include <caf/sec.hpp>
#include <openssl/crypto.h>

#include "messages/error.hpp"

namespace cairn {

std::optional<uint64_t> parse_decimal(std::string_view text, uint64_t max) {
  if (text.empty())
    return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    auto d = static_cast<uint64_t>(c - '0');
    // `max - d` would wrap around for a digit above a small `max`.
    if (d > max || v > (max - d) / 10)
      return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::optional<byte_range> resolve_range(int64_t first, int64_t last,
                                        uint64_t size) {
  if (size == 0)
    return std::nullopt;
  if (first < 0) {
    // Suffix range: the last `last` bytes.
    if (last <= 0)
      return std::nullopt;
    auto n = std::min<uint64_t>(static_cast<uint64_t>(last), size);
    return byte_range{size - n, size - 1};
  }
  auto a = static_cast<uint64_t>(first);
  if (a >= size)
    return std::nullopt;
  uint64_t b = last < 0
                 ? size - 1
                 : std::min<uint64_t>(static_cast<uint64_t>(last), size - 1);
  if (b < a)
    return std::nullopt;
  return byte_range{a, b};
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

} // namespace

std::optional<std::string> filename_from_disposition(std::string_view h) {
  std::optional<std::string> plain, extended;
  size_t pos = 0;
  while (pos < h.size()) {
    auto semi = h.find(';', pos);
    // Quoted values may contain ';': find the end of the parameter properly.
    auto eq = h.find('=', pos);
    std::string_view part =
      h.substr(pos, semi == std::string_view::npos ? h.npos : semi - pos);
    if (eq != std::string_view::npos &&
        (semi == std::string_view::npos || eq < semi)) {
      std::string key;
      for (char c : h.substr(pos, eq - pos))
        if (!std::isspace(static_cast<unsigned char>(c)))
          key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t v = eq + 1;
      while (v < h.size() && std::isspace(static_cast<unsigned char>(h[v])))
        ++v;
      std::string value;
      size_t end = v;
      if (v < h.size() && h[v] == '"') {
        end = v + 1;
        while (end < h.size() && h[end] != '"') {
          if (h[end] == '\\' && end + 1 < h.size())
            ++end;
          value += h[end++];
        }
        end = h.find(';', end);
      } else {
        end = h.find(';', v);
        value = std::string{h.substr(v, end == h.npos ? h.npos : end - v)};
        while (!value.empty() &&
               std::isspace(static_cast<unsigned char>(value.back())))
          value.pop_back();
      }
      if (key == "filename") {
        plain = value;
      } else if (key == "filename*") {
        // charset'lang'percent-encoded
        auto q = value.find('\'');
        auto q2 = q == std::string::npos ? q : value.find('\'', q + 1);
        if (q2 != std::string::npos) {
          std::string decoded;
          for (size_t i = q2 + 1; i < value.size(); ++i) {
            if (value[i] == '%' && i + 2 < value.size() &&
                hex_value(value[i + 1]) >= 0 && hex_value(value[i + 2]) >= 0) {
              decoded += static_cast<char>(hex_value(value[i + 1]) * 16 +
                                           hex_value(value[i + 2]));
              i += 2;
            } else {
              decoded += value[i];
            }
          }
          extended = decoded;
        }
      }
      pos = end == h.npos ? h.size() : end + 1;
    } else {
      (void)part;
      pos = semi == std::string_view::npos ? h.size() : semi + 1;
    }
  }
  auto name = extended ? extended : plain;
  if (!name)
    return std::nullopt;
  return name;
}

bool is_valid_filename(std::string_view name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..")
    return false;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f ||
        std::string_view{"/\\:*?\"<>|"}.find(c) != std::string_view::npos)
      return false;
  }
  return true;
}

namespace {

// RFC 6838 restricted-name: 1 to 127 of ALPHA DIGIT ! # $ & - ^ _ . +,
// starting with ALPHA or DIGIT.
bool is_restricted_name(std::string_view s) {
  if (s.empty() || s.size() > 127 ||
      !std::isalnum(static_cast<unsigned char>(s[0])))
    return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view{"!#$&-^_.+"}.find(c) == std::string_view::npos)
      return false;
  return true;
}

// RFC 9110 token characters.
bool is_token(std::string_view s) {
  if (s.empty())
    return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view{"!#$%&'*+-.^_`|~"}.find(c) == std::string_view::npos)
      return false;
  return true;
}

} // namespace

bool is_valid_media_type(std::string_view type) {
  if (type.size() > 255)
    return false;
  auto semi = type.find(';');
  auto essence = trim(type.substr(0, semi));
  auto slash = essence.find('/');
  if (slash == std::string_view::npos ||
      !is_restricted_name(essence.substr(0, slash)) ||
      !is_restricted_name(essence.substr(slash + 1)))
    return false;
  while (semi != std::string_view::npos) {
    auto next = type.find(';', semi + 1);
    auto param = trim(type.substr(
      semi + 1, next == std::string_view::npos ? next : next - semi - 1));
    auto eq = param.find('=');
    if (eq == std::string_view::npos || !is_token(param.substr(0, eq)))
      return false;
    auto value = param.substr(eq + 1);
    bool quoted =
      value.size() >= 2 && value.front() == '"' && value.back() == '"';
    if (!quoted && !is_token(value))
      return false;
    semi = next;
  }
  return true;
}

std::string disposition_for(std::string_view filename) {
  std::string out = "attachment; filename=\"";
  for (char c : filename) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      continue;
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

int http_status(const caf::error& err) {
  if (err.category() == error_category) {
    switch (static_cast<ec>(err.code())) {
    case ec::invalid_cid:
    case ec::unsupported_cid:
    case ec::invalid_argument:
    case ec::out_of_range:
      return 400;
    case ec::not_found:
      return 404;
    case ec::quota_exceeded:
      return 413;
    case ec::disk_full:
      return 507;
    case ec::timeout:
    case ec::unavailable:
    case ec::shutting_down:
      return 503;
    default:
      return 500;
    }
  }
  if (err.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(err.code())) {
    case caf::sec::request_timeout:
    case caf::sec::request_receiver_down:
      return 503;
    default:
      return 500;
    }
  }
  return 500;
}

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// One media range of an Accept header: its type, and its weight (q).
struct media_range {
  std::string_view type;
  double q = 1.0;
};

std::optional<media_range> parse_media_range(std::string_view part) {
  media_range r;
  auto semi = part.find(';');
  r.type = trim(part.substr(0, semi));
  if (r.type.empty() || r.type.find('/') == std::string_view::npos)
    return std::nullopt;
  while (semi != std::string_view::npos) {
    auto next = part.find(';', semi + 1);
    auto param = trim(part.substr(semi + 1, next == std::string_view::npos
                                              ? std::string_view::npos
                                              : next - semi - 1));
    if (param.size() > 2 && (param[0] == 'q' || param[0] == 'Q') &&
        param[1] == '=') {
      auto text = std::string{param.substr(2)};
      char* end = nullptr;
      double q = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0' || q < 0 || q > 1)
        return std::nullopt;
      r.q = q;
    }
    semi = next;
  }
  return r;
}

// How specifically `range` matches `type`: 3 exact, 2 `type/*`, 1 `*/*`,
// 0 not at all.
int specificity(std::string_view range, std::string_view type) {
  if (iequals(range, type))
    return 3;
  if (range == "*/*")
    return 1;
  auto slash = type.find('/');
  if (range.size() == slash + 2 && range.substr(slash) == "/*" &&
      iequals(range.substr(0, slash), type.substr(0, slash)))
    return 2;
  return 0;
}

} // namespace

std::optional<std::string_view>
preferred_media_type(std::string_view accept,
                     std::initializer_list<std::string_view> offered) {
  std::vector<media_range> ranges;
  size_t pos = 0;
  while (pos <= accept.size()) {
    auto comma = accept.find(',', pos);
    auto part = trim(accept.substr(
      pos, comma == std::string_view::npos ? comma : comma - pos));
    if (!part.empty()) {
      auto r = parse_media_range(part);
      if (!r)
        return *offered.begin();
      ranges.push_back(*r);
    }
    if (comma == std::string_view::npos)
      break;
    pos = comma + 1;
  }
  if (ranges.empty())
    return *offered.begin();
  std::optional<std::string_view> best;
  double best_q = 0;
  for (auto type : offered) {
    // The most specific range that matches decides the type's quality.
    int spec = 0;
    double q = 0;
    for (auto& r : ranges) {
      auto s = specificity(r.type, type);
      if (s > spec) {
        spec = s;
        q = r.q;
      }
    }
    if (spec > 0 && q > best_q) {
      best = type;
      best_q = q;
    }
  }
  return best;
}

bool bearer_matches(std::string_view authorization, std::string_view secret) {
  constexpr std::string_view scheme = "Bearer ";
  if (secret.empty() || authorization.size() != scheme.size() + secret.size() ||
      authorization.substr(0, scheme.size()) != scheme)
    return false;
  return CRYPTO_memcmp(authorization.data() + scheme.size(), secret.data(),
                       secret.size()) == 0;
}

} // namespace cairn
