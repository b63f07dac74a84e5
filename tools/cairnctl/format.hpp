#pragma once

// Text output of cairnctl: aligned tables, human-readable sizes, rates and
// durations, and JSON field access that never throws on a node's odd answer.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace cairn::tools::cairnctl {

using json = nlohmann::json;

/// Columns `text` takes on a terminal: one per UTF-8 code point (the output
/// has no wide characters).
std::size_t display_width(std::string_view text);

/// `text` cut to at most `columns` display columns (whole code points).
std::string truncate_columns(std::string_view text, std::size_t columns);

/// `text` padded with spaces to `columns` display columns (never cut).
std::string pad_right(std::string_view text, std::size_t columns);

/// `text` with control characters (which could move a terminal's cursor)
/// replaced by '?', and newlines and tabs by spaces.
std::string printable(std::string_view text);

/// "0 B", "512 B", "1.5 KiB", "12.0 MiB", "3.2 GiB" (binary units).
std::string human_bytes(double bytes);

/// `human_bytes(bytes_per_second) + "/s"`.
std::string human_rate(double bytes_per_second);

/// A duration, coarse: "0s", "45s", "2m05s", "1h02m", "3d04h".
std::string human_duration(double seconds);

/// `value` with `decimals` digits after the point ("1.50").
std::string fixed(double value, int decimals);

/// An integer count ("1234"); non-finite or negative values give "0".
std::string count(double value);

/// True for gauges that are sizes in bytes, by name ("bytes", "bytes_in",
/// "map_bytes", "unsent"): they print as "1.5 MiB".
bool is_byte_gauge(std::string_view name);

/// A gauge's value for the actors table: a size with `human_bytes`, a whole
/// number as an integer ("12"), anything else with two decimals ("0.25").
std::string gauge_text(std::string_view name, const json& value);

/// Columns of the terminal stdout writes to (TIOCGWINSZ), else $COLUMNS
/// when set to a number, else 0: output to a pipe or file is not cut.
std::size_t output_columns();

/// The first line of `text`, trimmed, at most 300 characters, printable.
std::string one_line(std::string_view text);

/// JSON as text for the user: indented, invalid UTF-8 replaced (never
/// throws).
std::string dump_json(const json& value);

/// `j[key]` as text: a string as is, a number or bool in JSON form, anything
/// else (absent, null, object, array, or `j` not an object) as "".
std::string text_field(const json& j, const char* key);

/// `j[key]` if it is a number, else `fallback`.
double number_field(const json& j, const char* key, double fallback = 0);

/// True if `j` is an object with a number under `key`.
bool has_number(const json& j, const char* key);

/// `j[key]` if `j` is an object and that is an array, else nullptr.
const json* array_field(const json& j, const char* key);

/// A table for the terminal: a header row and rows of cells, columns
/// separated by two spaces, left- or right-aligned. The last column is not
/// padded.
class table {
public:
  /// One column: its header, whether cells are right-aligned (numbers), and
  /// whether its cells are cut (ending in "…") to fit a width given to
  /// `render` (a long column that must not push the next ones off screen).
  struct column {
    std::string header;
    bool right = false;
    bool shrink = false;
  };

  explicit table(std::vector<column> columns);

  /// Adds a row; missing cells are empty, extra cells are dropped. Cells are
  /// passed through `printable`.
  void add_row(std::vector<std::string> cells);

  /// Number of rows added.
  std::size_t size() const noexcept { return rows_.size(); }

  /// The header and rows, one line each (no newline), each cut to
  /// `max_width` columns when `max_width` is not 0.
  std::vector<std::string> lines(std::size_t max_width = 0) const;

  /// `lines()` joined with newlines, with a final newline. With `fit` not
  /// 0, the `shrink` columns are narrowed (down to their header's width)
  /// so that lines fit `fit` columns; other columns are never cut.
  std::string render(std::size_t fit = 0) const;

private:
  std::vector<std::string> lines(std::size_t max_width, std::size_t fit) const;

  std::vector<column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

} // namespace cairn::tools::cairnctl
