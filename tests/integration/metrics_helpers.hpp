#pragma once

// Reading a node's Prometheus endpoint (`--metrics`) in integration tests.
// Every function is inline.

#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/integration/net_helpers.hpp"

namespace cairn::test {

/// Prometheus text: metric (with labels) -> value, and name -> type.
struct scrape {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
};

/// Parses the Prometheus text of /metrics into `*out`.
inline ::testing::AssertionResult parse_metrics(const std::string& text,
                                                scrape* out) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty())
      continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      if (type != "gauge" && type != "counter")
        return ::testing::AssertionFailure() << "bad TYPE line: " << line;
      out->types[name] = type;
      continue;
    }
    if (line[0] == '#')
      continue;
    auto sp = line.rfind(' ');
    if (sp == std::string::npos)
      return ::testing::AssertionFailure() << "no value: " << line;
    try {
      size_t used = 0;
      auto v = std::stod(line.substr(sp + 1), &used);
      if (used != line.size() - sp - 1)
        throw std::invalid_argument("trailing");
      out->samples[line.substr(0, sp)] = v;
    } catch (const std::exception&) {
      return ::testing::AssertionFailure() << "bad value: " << line;
    }
  }
  return ::testing::AssertionSuccess();
}

/// The metrics URL `/debug/info` of `n` reports; empty without --metrics.
inline std::string metrics_url(const node_process& n) {
  auto cli = n.client();
  json info;
  EXPECT_TRUE(get_json(cli, api("/debug/info"), &info));
  auto m = info["cairn"]["metrics"];
  return m.is_string() ? m.get<std::string>() : std::string{};
}

/// The scrape of the node's metrics endpoint.
inline ::testing::AssertionResult scrape_metrics(const node_process& n,
                                                 scrape* out) {
  auto url = metrics_url(n);
  if (url.rfind("http://", 0) != 0)
    return ::testing::AssertionFailure() << "no metrics URL: " << url;
  auto host_port = url.substr(7, url.find("/metrics") - 7);
  httplib::Client mc(host_port.substr(0, host_port.find(':')),
                     std::stoi(host_port.substr(host_port.find(':') + 1)));
  auto res = mc.Get("/metrics");
  if (!res || res->status != 200)
    return ::testing::AssertionFailure() << "GET " << url << " failed";
  return parse_metrics(res->body, out);
}

/// The value of the sample `name` in the node's metrics, -1 when the scrape
/// fails or has no such sample.
inline double metric_value(const node_process& n, const std::string& name) {
  scrape s;
  if (!scrape_metrics(n, &s))
    return -1;
  return s.samples.count(name) > 0 ? s.samples[name] : -1;
}

/// The same for a `test_node`.
inline std::string metrics_url(const test_node& n) {
  return metrics_url(n.proc);
}
inline ::testing::AssertionResult scrape_metrics(const test_node& n,
                                                 scrape* out) {
  return scrape_metrics(n.proc, out);
}

} // namespace cairn::test
