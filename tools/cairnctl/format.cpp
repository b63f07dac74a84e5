#include "tools/cairnctl/format.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace cairn::tools::cairnctl {

namespace {

bool continuation_byte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

} // namespace

std::size_t display_width(std::string_view text) {
  std::size_t n = 0;
  for (char c : text)
    if (!continuation_byte(c))
      ++n;
  return n;
}

std::string truncate_columns(std::string_view text, std::size_t columns) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (continuation_byte(text[i]))
      continue;
    if (seen == columns)
      return std::string{text.substr(0, i)};
    ++seen;
  }
  return std::string{text};
}

std::string pad_right(std::string_view text, std::size_t columns) {
  std::string out{text};
  auto w = display_width(text);
  if (w < columns)
    out.append(columns - w, ' ');
  return out;
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n' || c == '\t' || c == '\r')
      out += ' ';
    else if (u < 0x20 || u == 0x7F)
      out += '?';
    else
      out += c;
  }
  return out;
}

std::string human_bytes(double bytes) {
  if (!std::isfinite(bytes) || bytes < 0)
    bytes = 0;
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (bytes >= 1024 && u < 5) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof(buf), "%.0f B", bytes);
  else
    std::snprintf(buf, sizeof(buf), "%.1f %s", bytes, units[u]);
  return buf;
}

std::string human_rate(double bytes_per_second) {
  return human_bytes(bytes_per_second) + "/s";
}

std::string human_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    seconds = 0;
  auto s = static_cast<std::uint64_t>(std::llround(seconds));
  char buf[48];
  if (s < 60)
    std::snprintf(buf, sizeof(buf), "%llus",
                  static_cast<unsigned long long>(s));
  else if (s < 3600)
    std::snprintf(buf, sizeof(buf), "%llum%02llus",
                  static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  else if (s < 86400)
    std::snprintf(buf, sizeof(buf), "%lluh%02llum",
                  static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s % 3600 / 60));
  else
    std::snprintf(buf, sizeof(buf), "%llud%02lluh",
                  static_cast<unsigned long long>(s / 86400),
                  static_cast<unsigned long long>(s % 86400 / 3600));
  return buf;
}

std::string fixed(double value, int decimals) {
  if (!std::isfinite(value))
    value = 0;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  return buf;
}

std::string count(double value) {
  if (!std::isfinite(value) || value < 0)
    return "0";
  if (value >= 1.8e19)
    return fixed(value, 0);
  return std::to_string(static_cast<std::uint64_t>(value));
}

bool is_byte_gauge(std::string_view name) {
  auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() &&
           name.substr(name.size() - suffix.size()) == suffix;
  };
  return name == "bytes" || name == "unsent" || name.rfind("bytes_", 0) == 0 ||
         ends_with("_bytes");
}

std::string gauge_text(std::string_view name, const json& value) {
  if (!value.is_number()) {
    if (value.is_string())
      return value.get<std::string>();
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  auto v = value.get<double>();
  if (is_byte_gauge(name))
    return human_bytes(v);
  // Gauges arrive as doubles ("5.0"): counts are whole numbers.
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9e15)
    return std::to_string(static_cast<long long>(v));
  return fixed(v, 2);
}

std::size_t output_columns() {
  winsize ws{};
  if (::isatty(1) == 1 && ::ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  if (const char* env = std::getenv("COLUMNS")) {
    char* end = nullptr;
    auto n = std::strtoul(env, &end, 10);
    if (end != env && *end == '\0' && n > 0 && n < 100000)
      return n;
  }
  return 0;
}

std::string one_line(std::string_view text) {
  auto nl = text.find_first_of("\r\n");
  if (nl != std::string_view::npos)
    text = text.substr(0, nl);
  while (!text.empty() && text.back() == ' ')
    text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ')
    text.remove_prefix(1);
  return printable(truncate_columns(text, 300));
}

std::string dump_json(const json& value) {
  return value.dump(2, ' ', false, json::error_handler_t::replace);
}

std::string text_field(const json& j, const char* key) {
  if (!j.is_object())
    return {};
  auto it = j.find(key);
  if (it == j.end())
    return {};
  if (it->is_string())
    return it->get<std::string>();
  if (it->is_number() || it->is_boolean())
    return it->dump();
  return {};
}

double number_field(const json& j, const char* key, double fallback) {
  if (!j.is_object())
    return fallback;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number())
    return fallback;
  return it->get<double>();
}

bool has_number(const json& j, const char* key) {
  if (!j.is_object())
    return false;
  auto it = j.find(key);
  return it != j.end() && it->is_number();
}

const json* array_field(const json& j, const char* key) {
  if (!j.is_object())
    return nullptr;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array())
    return nullptr;
  return &*it;
}

// -- table --------------------------------------------------------------------

table::table(std::vector<column> columns) : columns_(std::move(columns)) {
  // Rows come with add_row.
}

void table::add_row(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  for (auto& c : cells)
    c = printable(c);
  rows_.push_back(std::move(cells));
}

std::vector<std::string> table::lines(std::size_t max_width) const {
  return lines(max_width, 0);
}

std::vector<std::string> table::lines(std::size_t max_width,
                                      std::size_t fit) const {
  std::vector<std::size_t> widths(columns_.size(), 0);
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    widths[i] = display_width(columns_[i].header);
    for (auto& row : rows_)
      widths[i] = std::max(widths[i], display_width(row[i]));
  }
  // Narrow the shrinkable columns, last first, until the widest line fits.
  std::vector<bool> narrowed(columns_.size(), false);
  if (fit != 0) {
    std::size_t total = 0;
    for (auto w : widths)
      total += w + 2;
    total -= columns_.empty() ? 0 : 2;
    for (std::size_t k = columns_.size(); k > 0 && total > fit; --k) {
      auto i = k - 1;
      if (!columns_[i].shrink)
        continue;
      auto floor = std::max<std::size_t>(display_width(columns_[i].header), 1);
      auto cut = std::min(total - fit, widths[i] - std::min(widths[i], floor));
      if (cut == 0)
        continue;
      widths[i] -= cut;
      total -= cut;
      narrowed[i] = true;
    }
  }
  auto fitted = [&](std::size_t i, const std::string& cell) {
    if (!narrowed[i] || display_width(cell) <= widths[i])
      return cell;
    return truncate_columns(cell, widths[i] - 1) + "…";
  };
  auto render_row = [&](auto&& cell_of) {
    std::string line;
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      const std::string cell = fitted(i, cell_of(i));
      bool last = i + 1 == columns_.size();
      auto w = display_width(cell);
      if (columns_[i].right && w < widths[i])
        line.append(widths[i] - w, ' ');
      line += cell;
      if (!last) {
        if (!columns_[i].right && w < widths[i])
          line.append(widths[i] - w, ' ');
        line += "  ";
      }
    }
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    if (max_width != 0)
      line = truncate_columns(line, max_width);
    return line;
  };
  std::vector<std::string> out;
  out.push_back(render_row(
    [&](std::size_t i) -> const std::string& { return columns_[i].header; }));
  for (auto& row : rows_)
    out.push_back(
      render_row([&](std::size_t i) -> const std::string& { return row[i]; }));
  return out;
}

std::string table::render(std::size_t fit) const {
  std::string out;
  for (auto& line : lines(0, fit))
    out += line + "\n";
  return out;
}

} // namespace cairn::tools::cairnctl
