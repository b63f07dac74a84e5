#include "messages/http.hpp"

#include <cctype>

#include <caf/sec.hpp>

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
    if (v > (max - d) / 10)
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

std::string strip_dirs(std::string name) {
  auto slash = name.find_last_of("/\\");
  if (slash != std::string::npos)
    name = name.substr(slash + 1);
  return name;
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
  auto base = strip_dirs(*name);
  if (base.empty())
    return std::nullopt;
  return base;
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

} // namespace cairn
