#include "tools/cairnctl/top.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "tools/cairnctl/format.hpp"

namespace cairn::tools::cairnctl {

namespace {

using clock_type = std::chrono::steady_clock;

volatile std::sig_atomic_t quit_requested = 0;
volatile std::sig_atomic_t resized = 0;

extern "C" void on_quit_signal(int) {
  quit_requested = 1;
}

extern "C" void on_winch(int) {
  resized = 1;
}

/// One actor as `top` shows it.
struct top_row {
  std::string node;
  json actor;
  double mailbox = 0;
  /// Messages per second over the last interval; unknown on the first poll.
  std::optional<double> rate;
};

/// Polls the nodes and keeps what the previous poll saw, for the rates.
class sampler {
public:
  explicit sampler(const context& ctx) : ctx_(ctx) {}

  /// Polls every node once. Returns false if no node answered.
  bool poll() {
    auto results = for_each_node(ctx_, fetch_actors);
    auto now = clock_type::now();
    rows_.clear();
    errors_.clear();
    bool any = false;
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& node = ctx_.nodes[i].url().text;
      if (!results[i]) {
        errors_.push_back(results[i].error());
        continue;
      }
      any = true;
      for (auto& a : *results[i]) {
        top_row row{node, a, number_field(a, "mailbox"), std::nullopt};
        auto key = node + "\n" + text_field(a, "name");
        auto id = text_field(a, "id");
        auto processed = number_field(a, "processed");
        auto it = previous_.find(key);
        if (it != previous_.end()) {
          auto dt =
            std::chrono::duration<double>(now - it->second.when).count();
          auto delta = processed - it->second.processed;
          // A restarted actor (new id) or a reset counter counts from zero.
          if (it->second.id != id || delta < 0)
            delta = processed;
          if (dt > 0)
            row.rate = delta / dt;
        }
        previous_[key] = {id, processed, now};
        rows_.push_back(std::move(row));
      }
    }
    return any;
  }

  /// Rows of the last poll, sorted by `key` ("mailbox" or "rate").
  std::vector<top_row> sorted(const std::string& key) const {
    auto out = rows_;
    auto by_rate = key == "rate";
    std::stable_sort(
      out.begin(), out.end(), [by_rate](const top_row& a, const top_row& b) {
        auto ra = a.rate.value_or(0), rb = b.rate.value_or(0);
        if (by_rate && ra != rb)
          return ra > rb;
        if (a.mailbox != b.mailbox)
          return a.mailbox > b.mailbox;
        if (ra != rb)
          return ra > rb;
        return text_field(a.actor, "name") < text_field(b.actor, "name");
      });
    return out;
  }

  const std::vector<failure>& errors() const noexcept { return errors_; }

  double total_rate() const {
    double sum = 0;
    for (auto& r : rows_)
      sum += r.rate.value_or(0);
    return sum;
  }

  std::size_t actors() const noexcept { return rows_.size(); }

private:
  struct seen {
    std::string id;
    double processed = 0;
    clock_type::time_point when;
  };
  const context& ctx_;
  std::vector<top_row> rows_;
  std::vector<failure> errors_;
  std::map<std::string, seen> previous_;
};

std::string clock_text() {
  auto t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof(buf), "%H:%M:%S", &tm);
  return buf;
}

// Peer sessions carry a 52-character peer id: keep the start and the end.
std::string short_name(const std::string& name) {
  constexpr std::size_t max = 44;
  if (name.size() <= max)
    return name;
  return name.substr(0, 30) + ".." + name.substr(name.size() - 12);
}

/// The lines of one view: header, status line, blank, table. `width` and
/// `height` bound it (0 = unbounded); `interactive` adds the key help.
std::vector<std::string> frame(const context& ctx, const sampler& s,
                               const top_options& opt, std::size_t width,
                               std::size_t height, bool interactive) {
  std::vector<std::string> lines;
  auto nodes = ctx.nodes.size() == 1
                 ? ctx.nodes[0].url().text
                 : std::to_string(ctx.nodes.size()) + " nodes";
  lines.push_back("cairnctl top  " + nodes + "  " + clock_text() + "  " +
                  std::to_string(s.actors()) + " actors  " +
                  fixed(s.total_rate(), 1) + " msgs/s  sort: " + opt.sort);
  std::string status;
  for (auto& e : s.errors())
    status += (status.empty() ? "! " : "; ") + e.message;
  if (status.empty() && interactive)
    status = "keys: m sort by mailbox  r sort by rate  q quit  (every " +
             fixed(opt.interval_seconds, opt.interval_seconds < 1 ? 1 : 0) +
             "s)";
  lines.push_back(printable(status));
  lines.push_back("");
  bool node_column = ctx.nodes.size() > 1;
  auto mark = [&](const char* name, const char* key) {
    return std::string{name} + (opt.sort == key ? "*" : "");
  };
  std::vector<table::column> cols;
  if (node_column)
    cols.push_back({"NODE"});
  for (table::column c :
       {table::column{"NAME"}, table::column{"KIND"},
        table::column{mark("MAILBOX", "mailbox"), true},
        table::column{mark("MSG/S", "rate"), true},
        table::column{"PROCESSED", true}, table::column{"RESTARTS", true},
        table::column{"LAST_ERROR"}})
    cols.push_back(c);
  table t{cols};
  for (auto& r : s.sorted(opt.sort)) {
    std::vector<std::string> cells;
    if (node_column)
      cells.push_back(r.node);
    cells.push_back(short_name(text_field(r.actor, "name")));
    cells.push_back(text_field(r.actor, "kind"));
    cells.push_back(count(r.mailbox));
    cells.push_back(r.rate ? fixed(*r.rate, 1) : "-");
    cells.push_back(count(number_field(r.actor, "processed")));
    cells.push_back(count(number_field(r.actor, "restarts")));
    cells.push_back(one_line(text_field(r.actor, "last_error")));
    t.add_row(std::move(cells));
  }
  auto rows = t.lines(width);
  if (height != 0 && lines.size() + rows.size() > height) {
    auto keep = height > lines.size() + 1 ? height - lines.size() - 1 : 0;
    auto hidden = rows.size() - keep;
    rows.resize(keep);
    rows.push_back("... " + std::to_string(hidden) + " more");
  }
  lines.insert(lines.end(), rows.begin(), rows.end());
  if (width != 0)
    for (auto& l : lines)
      l = truncate_columns(l, width);
  return lines;
}

/// The terminal in raw mode on the alternate screen; restored by `leave` or
/// the destructor, whichever comes first.
class terminal {
public:
  terminal() {
    keys_ = ::isatty(0) == 1 && ::tcgetattr(0, &saved_) == 0;
    if (keys_) {
      auto raw = saved_;
      // No echo, no line buffering, Ctrl-C and Ctrl-Z arrive as keys.
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | ISIG | IEXTEN);
      raw.c_iflag &= ~static_cast<tcflag_t>(IXON | ICRNL);
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      ::tcsetattr(0, TCSANOW, &raw);
    }
    put("\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J");
    active_ = true;
  }

  ~terminal() { leave(); }

  terminal(const terminal&) = delete;
  terminal& operator=(const terminal&) = delete;

  void leave() {
    if (!active_)
      return;
    active_ = false;
    put("\x1b[?25h\x1b[?1049l");
    if (keys_)
      ::tcsetattr(0, TCSANOW, &saved_);
  }

  /// True if keys can be read from stdin.
  bool keys() const noexcept { return keys_; }

  /// Stops reading keys (stdin closed).
  void no_keys() noexcept { keys_ = false; }

  static std::pair<std::size_t, std::size_t> size() {
    winsize ws{};
    if (::ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0)
      return {ws.ws_col, ws.ws_row};
    return {80, 24};
  }

  /// Draws `lines` over the previous frame.
  static void draw(const std::vector<std::string>& lines) {
    std::string out = "\x1b[H";
    for (std::size_t i = 0; i < lines.size(); ++i) {
      // The column header (4th line) in reverse video.
      if (i == 3)
        out += "\x1b[7m" + lines[i] + "\x1b[0m";
      else
        out += lines[i];
      out += "\x1b[K";
      if (i + 1 < lines.size())
        out += "\r\n";
    }
    out += "\x1b[J";
    put(out);
  }

private:
  static void put(const std::string& s) {
    const char* p = s.data();
    auto n = s.size();
    while (n > 0) {
      auto w = ::write(1, p, n);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return;
      p += w;
      n -= static_cast<std::size_t>(w);
    }
  }

  termios saved_{};
  bool keys_ = false;
  bool active_ = false;
};

int report_all(const sampler& s) {
  int code = exit_ok;
  for (auto& e : s.errors()) {
    report(e);
    code = std::max(code, e.code);
  }
  return code;
}

void sleep_seconds(double seconds) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

/// One snapshot for scripts: two polls one interval apart.
int snapshot(const context& ctx, const top_options& opt) {
  sampler s{ctx};
  if (!s.poll())
    return report_all(s);
  sleep_seconds(opt.interval_seconds);
  s.poll();
  int code = report_all(s);
  if (ctx.json) {
    std::map<std::string, json> by_node;
    for (auto& r : s.sorted(opt.sort)) {
      auto a = r.actor;
      if (a.is_object())
        a["msgsPerSecond"] = r.rate ? json(*r.rate) : json(nullptr);
      auto& list = by_node[r.node];
      if (list.is_null())
        list = json::array();
      list.push_back(std::move(a));
    }
    if (ctx.nodes.size() == 1) {
      std::cout << dump_json(by_node.count(ctx.nodes[0].url().text)
                               ? by_node[ctx.nodes[0].url().text]
                               : json::array())
                << "\n";
    } else {
      auto out = json::array();
      for (auto& n : ctx.nodes)
        if (by_node.count(n.url().text))
          out.push_back(
            {{"node", n.url().text}, {"actors", by_node[n.url().text]}});
      std::cout << dump_json(out) << "\n";
    }
    return code;
  }
  auto lines = frame(ctx, s, opt, 0, 0, false);
  lines.erase(lines.begin() + 1, lines.begin() + 3); // no status, no blank
  for (auto& l : lines)
    std::cout << l << "\n";
  return code;
}

} // namespace

int run_top(const context& ctx, const top_options& options) {
  if (ctx.json || ::isatty(1) != 1)
    return snapshot(ctx, options);
  auto opt = options;
  sampler s{ctx};
  if (!s.poll())
    return report_all(s);
  struct sigaction sa {};
  sa.sa_handler = on_quit_signal;
  sigemptyset(&sa.sa_mask);
  // No SA_RESTART: a signal must wake the poll below.
  for (int sig : {SIGINT, SIGTERM, SIGHUP})
    ::sigaction(sig, &sa, nullptr);
  sa.sa_handler = on_winch;
  ::sigaction(SIGWINCH, &sa, nullptr);

  terminal term;
  auto redraw = [&] {
    auto [w, h] = terminal::size();
    terminal::draw(frame(ctx, s, opt, w, h, true));
  };
  redraw();
  std::size_t refreshes = 1;
  bool user_quit = false;
  while (!user_quit && quit_requested == 0 &&
         (opt.iterations == 0 || refreshes < opt.iterations)) {
    auto next = clock_type::now() +
                std::chrono::duration_cast<clock_type::duration>(
                  std::chrono::duration<double>(opt.interval_seconds));
    while (!user_quit && quit_requested == 0) {
      auto now = clock_type::now();
      if (now >= next)
        break;
      auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(next - now)
          .count() +
        1;
      pollfd pfd{0, POLLIN, 0};
      int n = ::poll(&pfd, term.keys() ? 1 : 0, static_cast<int>(ms));
      if (resized != 0) {
        resized = 0;
        redraw();
      }
      if (n <= 0)
        continue;
      char keys[64];
      auto got = ::read(0, keys, sizeof(keys));
      if (got <= 0) {
        if (got == 0 || (errno != EINTR && errno != EAGAIN))
          term.no_keys();
        continue;
      }
      for (ssize_t i = 0; i < got; ++i) {
        switch (keys[i]) {
        case 'q':
        case 'Q':
        case 3: // Ctrl-C
          user_quit = true;
          break;
        case 'm':
        case 'M':
          opt.sort = "mailbox";
          redraw();
          break;
        case 'r':
        case 'R':
          opt.sort = "rate";
          redraw();
          break;
        default:
          break;
        }
      }
    }
    if (user_quit || quit_requested != 0)
      break;
    s.poll();
    redraw();
    ++refreshes;
  }
  term.leave();
  if (!user_quit && quit_requested == 0) {
    // --iterations ran out: leave the last view on the normal screen.
    auto [w, h] = terminal::size();
    for (auto& l : frame(ctx, s, opt, w, 0, false))
      std::cout << l << "\n";
  }
  return exit_ok;
}

} // namespace cairn::tools::cairnctl
