// The plots of a run's report, written as SVG by hand: no plotting program
// has to be installed where the coordinator runs, and the same report
// always gives the same bytes (config/scenarios/README.md, "Plots").

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>

#include "tools/cairn-sim/sim.hpp"

namespace cairn::sim {

namespace {

const char* const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                               "#9467bd", "#8c564b", "#e377c2", "#17becf"};

const char* color(size_t i) {
  return palette[i % (sizeof(palette) / sizeof(palette[0]))];
}

// Plot area inside a 720 x 420 picture.
constexpr double width = 720, height = 420;
constexpr double left = 70, right = 170, top = 40, bottom = 50;

std::string num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", x);
  return buf;
}

std::string coord(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", x);
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

// A step between ticks of 1, 2 or 5 times a power of ten, giving about
// five ticks over [0, hi].
double tick_step(double hi) {
  if (!(hi > 0))
    return 1;
  double raw = hi / 5;
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw)
      return m * p;
  return 10 * p;
}

// Axes from 0 to the maxima, rounded up to a tick.
struct frame {
  double xmax = 1, ymax = 1, xstep = 1, ystep = 1;

  frame(double x, double y) {
    xstep = tick_step(x);
    ystep = tick_step(y);
    xmax = std::max(xstep, std::ceil(x / xstep - 1e-9) * xstep);
    ymax = std::max(ystep, std::ceil(y / ystep - 1e-9) * ystep);
  }
  double px(double x) const { return left + x / xmax * (width - left - right); }
  double py(double y) const {
    return height - bottom - y / ymax * (height - top - bottom);
  }
};

std::string header(const std::string& title) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) +
         "\" height=\"" + num(height) + "\" viewBox=\"0 0 " + num(width) + " " +
         num(height) +
         "\" font-family=\"sans-serif\" font-size=\"12\">\n"
         "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
         "<text x=\"" +
         coord(width / 2) +
         "\" y=\"22\" text-anchor=\"middle\" "
         "font-size=\"15\">" +
         escape(title) + "</text>\n";
}

// Horizontal grid lines with their values on the left.
std::string y_grid(const frame& f) {
  std::string out;
  for (double y = 0; y <= f.ymax + 1e-9; y += f.ystep)
    out += "<line x1=\"" + coord(left) + "\" y1=\"" + coord(f.py(y)) +
           "\" x2=\"" + coord(width - right) + "\" y2=\"" + coord(f.py(y)) +
           "\" stroke=\"#e0e0e0\"/>\n<text x=\"" + coord(left - 6) + "\" y=\"" +
           coord(f.py(y) + 4) + "\" text-anchor=\"end\">" + num(y) +
           "</text>\n";
  return out;
}

// The plot area's border and the axes' names.
std::string box_and_labels(const std::string& xlabel,
                           const std::string& ylabel) {
  std::string out;
  out += "<rect x=\"" + coord(left) + "\" y=\"" + coord(top) + "\" width=\"" +
         coord(width - left - right) + "\" height=\"" +
         coord(height - top - bottom) + "\" fill=\"none\" stroke=\"black\"/>\n";
  out += "<text x=\"" + coord((left + width - right) / 2) + "\" y=\"" +
         coord(height - 12) + "\" text-anchor=\"middle\">" + escape(xlabel) +
         "</text>\n";
  out +=
    "<text transform=\"translate(18 " + coord((top + height - bottom) / 2) +
    ") rotate(-90)\" text-anchor=\"middle\">" + escape(ylabel) + "</text>\n";
  return out;
}

std::string axes(const frame& f, const std::string& xlabel,
                 const std::string& ylabel) {
  std::string out;
  for (double x = 0; x <= f.xmax + 1e-9; x += f.xstep)
    out += "<line x1=\"" + coord(f.px(x)) + "\" y1=\"" + coord(f.py(0)) +
           "\" x2=\"" + coord(f.px(x)) + "\" y2=\"" + coord(f.py(f.ymax)) +
           "\" stroke=\"#e0e0e0\"/>\n<text x=\"" + coord(f.px(x)) + "\" y=\"" +
           coord(f.py(0) + 16) + "\" text-anchor=\"middle\">" + num(x) +
           "</text>\n";
  out += y_grid(f);
  out += box_and_labels(xlabel, ylabel);
  return out;
}

std::string legend(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    auto y = top + 10 + 18 * static_cast<double>(i);
    out += "<rect x=\"" + coord(width - right + 14) + "\" y=\"" + coord(y - 9) +
           "\" width=\"14\" height=\"10\" fill=\"" + color(i) +
           "\"/>\n<text x=\"" + coord(width - right + 34) + "\" y=\"" +
           coord(y) + "\">" + escape(names[i]) + "</text>\n";
  }
  return out;
}

struct series {
  std::string name;
  std::vector<std::pair<double, double>> points;
};

// Lines through the points of each series (`steps`: a staircase, as a CDF
// is drawn).
std::string line_chart(const std::string& title, const std::string& xlabel,
                       const std::string& ylabel,
                       const std::vector<series>& lines, bool steps,
                       std::optional<double> ymax = std::nullopt) {
  double xm = 0, ym = 0;
  for (auto& s : lines)
    for (auto& [x, y] : s.points) {
      xm = std::max(xm, x);
      ym = std::max(ym, y);
    }
  frame f{xm, ymax ? *ymax : ym};
  auto out = header(title) + axes(f, xlabel, ylabel);
  std::vector<std::string> names;
  for (size_t i = 0; i < lines.size(); ++i) {
    names.push_back(lines[i].name);
    std::string d;
    double last_y = 0;
    bool first = true;
    for (auto& [x, y] : lines[i].points) {
      if (first) {
        d += "M" + coord(f.px(steps ? 0 : x)) + " " +
             coord(f.py(steps ? 0 : y)) + " ";
        first = false;
      }
      if (steps)
        d += "L" + coord(f.px(x)) + " " + coord(f.py(last_y)) + " ";
      d += "L" + coord(f.px(x)) + " " + coord(f.py(y)) + " ";
      last_y = y;
    }
    // Group lines are dashed over the wider "all" line they may cover.
    if (!d.empty())
      out += "<path d=\"" + d + "\" fill=\"none\" stroke=\"" + color(i) +
             (i == 0 ? "\" stroke-width=\"4\"/>\n"
                     : "\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n");
  }
  return out + legend(names) + "</svg>\n";
}

struct bar {
  std::string label;
  double value = 0;
  size_t color = 0;
};

std::string bar_chart(const std::string& title, const std::string& xlabel,
                      const std::string& ylabel, const std::vector<bar>& bars,
                      const std::vector<std::string>& names) {
  double ym = 0;
  for (auto& b : bars)
    ym = std::max(ym, b.value);
  frame f{1, ym};
  // Bars sit on the x range [0, 1] of the frame; the axis is labelled with
  // the bars' own labels, not numbers.
  auto out = header(title);
  out += y_grid(f);
  double slot = (width - left - right) / std::max<size_t>(bars.size(), 1);
  size_t every = std::max<size_t>(1, bars.size() / 20);
  for (size_t i = 0; i < bars.size(); ++i) {
    auto x = left + slot * static_cast<double>(i);
    out += "<rect x=\"" + coord(x + slot * 0.1) + "\" y=\"" +
           coord(f.py(bars[i].value)) + "\" width=\"" + coord(slot * 0.8) +
           "\" height=\"" + coord(f.py(0) - f.py(bars[i].value)) +
           "\" fill=\"" + color(bars[i].color) + "\"><title>" +
           escape(bars[i].label) + ": " + num(bars[i].value) +
           "</title></rect>\n";
    if (i % every == 0)
      out += "<text x=\"" + coord(x + slot / 2) + "\" y=\"" +
             coord(f.py(0) + 16) + "\" text-anchor=\"middle\">" +
             escape(bars[i].label) + "</text>\n";
  }
  out += box_and_labels(xlabel, ylabel);
  return out + legend(names) + "</svg>\n";
}

std::string group_of(const actors::sim_run_log& log, uint32_t node) {
  return node < log.node_group.size() ? log.node_group[node] : std::string{};
}

// "all" and, with more than one group downloading, each such group in
// scenario order.
std::vector<std::string> line_names(const actors::sim_run_log& log) {
  std::vector<std::string> out{"all"};
  for (auto& g : log.node_group) {
    bool downloads =
      std::any_of(log.downloads.begin(), log.downloads.end(), [&](auto& d) {
        return d.node < log.node_group.size() && log.node_group[d.node] == g;
      });
    if (downloads && std::find(out.begin() + 1, out.end(), g) == out.end())
      out.push_back(g);
  }
  if (out.size() == 2)
    out.pop_back();
  return out;
}

bool in_line(const actors::sim_run_log& log, const std::string& line,
             uint32_t node) {
  return line == "all" || group_of(log, node) == line;
}

// Per line: the fraction of its downloads done by each completion time.
std::vector<series> completion_cdf(const actors::sim_run_log& log) {
  std::vector<series> out;
  for (auto& name : line_names(log)) {
    std::vector<double> times;
    size_t total = 0;
    for (auto& d : log.downloads) {
      if (!in_line(log, name, d.node))
        continue;
      ++total;
      if (d.state == "done")
        times.push_back(d.result.seconds);
    }
    std::sort(times.begin(), times.end());
    series s{name + " (" + std::to_string(times.size()) + "/" +
               std::to_string(total) + ")",
             {}};
    for (size_t i = 0; i < times.size(); ++i)
      s.points.emplace_back(times[i], static_cast<double>(i + 1) /
                                        static_cast<double>(total));
    out.push_back(std::move(s));
  }
  return out;
}

// Per line: MiB/s received by the downloads, each download's bytes spread
// evenly from its first byte to its end (only totals are reported back).
std::vector<series> throughput(const actors::sim_run_log& log) {
  double end = 0;
  for (auto& d : log.downloads)
    end = std::max(end, d.at + d.result.seconds);
  double bin = std::max(0.25, tick_step(end) / 5);
  auto bins = static_cast<size_t>(std::ceil(end / bin)) + 1;
  std::vector<series> out;
  for (auto& name : line_names(log)) {
    std::vector<double> bytes(bins, 0);
    for (auto& d : log.downloads) {
      if (!in_line(log, name, d.node) || d.result.bytes == 0 ||
          d.result.first_byte_seconds < 0)
        continue;
      double from = d.at + d.result.first_byte_seconds;
      double to = std::max(d.at + d.result.seconds, from);
      double rate = d.result.bytes / std::max(to - from, 1e-9);
      if (to - from < 1e-9) {
        bytes[std::min(bins - 1, static_cast<size_t>(from / bin))] +=
          d.result.bytes;
        continue;
      }
      for (auto b = static_cast<size_t>(from / bin); b < bins && b * bin < to;
           ++b) {
        double lo = std::max(from, b * bin), hi = std::min(to, (b + 1) * bin);
        if (hi > lo)
          bytes[b] += rate * (hi - lo);
      }
    }
    series s{name, {}};
    for (size_t b = 0; b < bins; ++b)
      s.points.emplace_back((b + 0.5) * bin, bytes[b] / bin / 1048576.0);
    out.push_back(std::move(s));
  }
  return out;
}

} // namespace

std::vector<std::string> write_plots(const actors::sim_run_log& log,
                                     const std::string& dir, std::string& why) {
  std::vector<std::string> files;
  if (log.downloads.empty()) {
    why = "no downloads to plot";
    return files;
  }
  auto put = [&](const std::string& name, const std::string& svg) {
    std::ofstream f(dir + "/" + name, std::ios::trunc);
    f << svg;
    if (f)
      files.push_back(name);
    else
      why = "cannot write " + dir + "/" + name;
  };
  put("completion-cdf.svg", line_chart("Completion time of the downloads",
                                       "seconds from request to last byte",
                                       "fraction of the downloads done",
                                       completion_cdf(log), true, 1.0));
  put("throughput.svg",
      line_chart("Aggregate download throughput", "seconds into the timeline",
                 "MiB/s", throughput(log), false));
  // Bytes each node served, from the downloaders' records of who
  // delivered what.
  std::map<std::string, uint32_t> by_peer;
  for (auto& n : log.nodes)
    by_peer[n.peer_id] = n.index;
  std::vector<double> served(log.placement.size(), 0);
  for (auto& d : log.downloads)
    for (size_t i = 0; i < d.result.sources.size(); ++i) {
      auto it = by_peer.find(d.result.sources[i]);
      if (it != by_peer.end() && it->second < served.size() &&
          i < d.result.source_bytes.size())
        served[it->second] += d.result.source_bytes[i] / 1048576.0;
    }
  std::vector<std::string> groups;
  std::vector<bar> bars;
  for (uint32_t i = 0; i < served.size(); ++i) {
    auto g = group_of(log, i);
    auto at = std::find(groups.begin(), groups.end(), g);
    if (at == groups.end())
      at = groups.insert(groups.end(), g);
    bars.push_back(bar{std::to_string(i), served[i],
                       static_cast<size_t>(at - groups.begin())});
  }
  put("bytes-served.svg",
      bar_chart("Bytes served per node", "node", "MiB", bars, groups));
  return files;
}

} // namespace cairn::sim
