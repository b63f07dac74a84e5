// Crash torture: a real `cairn-node` (A) is killed with SIGKILL at a random
// moment while clients upload, read, delete, protect (erasure-code),
// delete single blocks of, and download from a second node (B, its network
// peer), with a block TTL of 6 s and maintenance deleting expired blocks
// every second. After each kill:
//  - `cairn-node verify` on A's store finds nothing but what the cut
//    operations leave (orphan blocks and extra references, which A's
//    start-up pass reclaims);
//  - A restarts, and the verifier on the running node
//    (POST /api/cairn/v1/store/verify) finds zero problems;
//  - every dataset whose upload, protect or network download was answered,
//    for which no delete or block delete was sent during or after that
//    request, and which is not near its expiry, downloads from A byte for
//    byte.
// At the end A stops cleanly and `cairn-node verify` must exit 0.
//
// Seeded: CAIRN_TORTURE_SEED (default 19) picks the kill moments, sizes and
// operations. CAIRN_TORTURE_CYCLES (default 20) sets the cycles;
// `tools/torture [CYCLES]` runs 200. The counts of a run are printed at its
// end ("torture: ...").

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/integration/api_helpers.hpp"
#include "tests/integration/net_helpers.hpp"
#include "tests/integration/node_process.hpp"
#include "tests/integration/subprocess.hpp"

namespace {

using namespace cairn::test;
using namespace std::chrono_literals;

uint64_t env_number(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0')
    return fallback;
  return std::strtoull(v, nullptr, 10);
}

/// `cairn-node verify --data-dir DIR` (no node may have it open).
run_result offline_verify(const std::string& data_dir) {
  return run_process({CAIRN_NODE_BIN, "verify", "--data-dir", data_dir}, {},
                     {"CAIRN_DATA_DIR"}, 120s);
}

/// The problem lines of a verify's stdout.
std::vector<std::string> nonempty_lines(const std::string& out) {
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);)
    if (!l.empty())
      lines.push_back(l);
  return lines;
}

/// Seconds since the Unix epoch, as the store counts expiry.
int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// A's block TTL, and how long before its expiry a dataset is no longer
/// checked (a check must not race the maintenance sweep).
constexpr int64_t ttl_seconds = 6;
constexpr int64_t expiry_margin = 2;

/// What the clients know about A's datasets: answered uploads, protects
/// and network downloads, minus those a delete or block delete was sent
/// for during or after the request. Each with the time its request started: its
/// blocks expire no earlier than `ttl_seconds` after it.
struct ledger {
  struct entry {
    std::string data;
    int64_t since = 0;
    /// "upload", "protect" or "network download" (for failure messages).
    const char* kind = "";
  };
  std::mutex mtx;
  /// CID -> the dataset's bytes and time.
  std::map<std::string, entry> stored;
  /// Deletes and block deletes sent, and per CID the number of the last one
  /// sent for it.
  uint64_t deletes_sent = 0;
  std::map<std::string, uint64_t> deleted;

  /// Taken when a request that may add a dataset starts.
  struct ticket {
    int64_t since = 0;
    uint64_t deletes_sent = 0;
  };
  ticket begin() {
    std::lock_guard<std::mutex> guard{mtx};
    return ticket{unix_now(), deletes_sent};
  }
  /// Records `cid` as stored, unless a delete of it was sent while the
  /// request of `t` ran: then the node may have applied the delete after
  /// the request stored the dataset (a protect that answers with the CID of
  /// a protected dataset stored already, while another client deletes that
  /// one), and the dataset may be gone.
  void add(const std::string& cid, const std::string& data, ticket t,
           const char* kind) {
    std::lock_guard<std::mutex> guard{mtx};
    auto d = deleted.find(cid);
    if (d != deleted.end() && d->second > t.deletes_sent)
      return;
    stored[cid] = entry{data, t.since, kind};
  }
  void forget(const std::string& cid) {
    std::lock_guard<std::mutex> guard{mtx};
    stored.erase(cid);
    deleted[cid] = ++deletes_sent;
  }
  /// Forgets the datasets that have expired by now; returns how many.
  uint64_t forget_expired() {
    std::lock_guard<std::mutex> guard{mtx};
    uint64_t n = 0;
    auto now = unix_now();
    for (auto it = stored.begin(); it != stored.end();)
      if (now >= it->second.since + ttl_seconds) {
        it = stored.erase(it);
        ++n;
      } else {
        ++it;
      }
    return n;
  }
  /// A random known CID, or "" if none.
  std::string pick(std::mt19937_64& rng) {
    std::lock_guard<std::mutex> guard{mtx};
    if (stored.empty())
      return {};
    auto it = stored.begin();
    std::advance(it, rng() % stored.size());
    return it->first;
  }
  size_t size() {
    std::lock_guard<std::mutex> guard{mtx};
    return stored.size();
  }
  bool has(const std::string& cid) {
    std::lock_guard<std::mutex> guard{mtx};
    return stored.count(cid) > 0;
  }
  /// The dataset's entry if it is known and not near its expiry.
  std::optional<entry> fresh(const std::string& cid) {
    std::lock_guard<std::mutex> guard{mtx};
    auto it = stored.find(cid);
    if (it == stored.end() ||
        unix_now() >= it->second.since + ttl_seconds - expiry_margin)
      return std::nullopt;
    return it->second;
  }
};

/// Counters of a run, printed at its end.
struct tally {
  std::atomic<uint64_t> uploads{0}, downloads{0}, network{0}, deletes{0},
    protects{0}, block_deletes{0}, cut{0};
  uint64_t orphans_after_kills = 0, checks = 0, checked = 0, expired = 0,
           swept = 0;
};

/// The lines of `log` that contain `word`.
std::string lines_naming(const std::string& log, const std::string& word) {
  std::string out;
  for (auto& l : nonempty_lines(log))
    if (l.find(word) != std::string::npos)
      out += l + "\n";
  return out;
}

/// Expired blocks maintenance deleted, by its lines in a run's `log`.
uint64_t swept_in(const std::string& log) {
  const std::string mark = "maintenance: deleted ";
  uint64_t n = 0;
  for (auto at = log.find(mark); at != std::string::npos;
       at = log.find(mark, at + 1))
    n += std::strtoull(log.c_str() + at + mark.size(), nullptr, 10);
  return n;
}

/// One client thread: `op` runs until `stop`, on its own generator.
/// A failed request is expected once A is killed.
template <class Op>
std::thread client(std::atomic<bool>& stop, uint64_t seed, Op op) {
  return std::thread{[&stop, seed, op]() mutable {
    std::mt19937_64 rng{seed};
    while (!stop.load())
      op(rng);
  }};
}

} // namespace

TEST(CrashTortureTest, KillNineDuringTrafficLosesNothingAnsweredAndVerifies) {
  const uint64_t seed = env_number("CAIRN_TORTURE_SEED", 19);
  const uint64_t cycles = env_number("CAIRN_TORTURE_CYCLES", 20);
  std::mt19937_64 rng{seed};
  SCOPED_TRACE("CAIRN_TORTURE_SEED=" + std::to_string(seed));
  auto t0 = steady::now();

  // B: the network peer, holding datasets that A downloads.
  test_node b;
  ASSERT_TRUE(b.proc.start());
  std::vector<std::pair<std::string, std::string>> on_b;
  {
    auto cli = b.proc.client();
    for (int i = 0; i < 12; ++i) {
      auto data = random_bytes(64 * 1024 * (1 + rng() % 24) - rng() % 5000,
                               seed * 1000 + i);
      std::string cid;
      ASSERT_TRUE(upload(cli, data, &cid));
      on_b.emplace_back(cid, std::move(data));
    }
  }

  test_node a{{"--block-maintenance-interval", "1s", "--block-ttl",
               std::to_string(ttl_seconds) + "s"}};
  ledger known;
  tally count;
  for (uint64_t cycle = 0; cycle < cycles; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    ASSERT_TRUE(a.proc.start()) << a.proc.diagnostics();
    // The start-up pass reclaimed what the kill left: the running node's
    // own check must find nothing.
    {
      auto cli = a.proc.client();
      cli.set_read_timeout(120, 0);
      auto res = cli.Post("/api/cairn/v1/store/verify");
      ASSERT_TRUE(res) << httplib::to_string(res.error());
      ASSERT_EQ(res->status, 200) << res->body;
      auto j = nlohmann::json::parse(res->body);
      ASSERT_TRUE(j["clean"].get<bool>()) << res->body;
      ++count.checks;
    }
    // Every dataset the clients were told is stored, byte for byte, but
    // those about to expire.
    count.expired += known.forget_expired();
    std::vector<std::string> cids;
    {
      std::lock_guard<std::mutex> guard{known.mtx};
      for (auto& [cid, e] : known.stored)
        cids.push_back(cid);
    }
    for (auto& cid : cids) {
      auto e = known.fresh(cid);
      if (!e)
        continue;
      auto r = stream_get(a.proc.host(), a.proc.port(), api("/data/" + cid));
      // Maintenance deletes the dataset only once its expiry, no earlier
      // than `since + ttl_seconds`, has passed: if that time has come by the
      // answer (a check slowed down by the margin), expiry may have taken it.
      if (!is_whole(r, e->data) && unix_now() >= e->since + ttl_seconds) {
        ++count.expired;
        continue;
      }
      ASSERT_TRUE(is_whole(r, e->data))
        << "dataset " << cid << " (" << e->kind << " at " << e->since
        << ", now " << unix_now() << "); A's log of it:\n"
        << lines_naming(a.proc.stderr_tail(size_t{1} << 30), cid);
      ++count.checked;
    }
    ASSERT_TRUE(connect_nodes(a.proc, b.proc));

    // Traffic, then SIGKILL at a random moment.
    std::atomic<bool> stop{false};
    auto host = a.proc.host();
    int port = a.proc.port();
    std::vector<std::thread> clients;
    for (int u = 0; u < 2; ++u)
      clients.push_back(client(stop, rng(), [&, host, port](auto& r) {
        // A is kept at some 30-60 datasets, so that checking them all
        // after each kill stays quick.
        if (known.size() > 60) {
          std::this_thread::sleep_for(5ms);
          return;
        }
        // Mostly small, now and then a few MiB: cut uploads leave blocks.
        size_t n = r() % 8 == 0 ? 1 + r() % (3 << 20) : 1 + r() % (300 << 10);
        auto data = random_bytes(n, r());
        httplib::Client cli{host, port};
        cli.set_read_timeout(30, 0);
        std::string cid;
        auto t = known.begin();
        if (upload(cli, data, &cid)) {
          known.add(cid, data, t, "upload");
          ++count.uploads;
        } else {
          ++count.cut;
        }
      }));
    clients.push_back(client(stop, rng(), [&, host, port](auto& r) {
      auto cid = known.pick(r);
      if (cid.empty()) {
        std::this_thread::sleep_for(10ms);
        return;
      }
      auto res = stream_get(host, port, api("/data/" + cid));
      if (res.error.empty() && res.status == 200)
        ++count.downloads;
    }));
    clients.push_back(client(stop, rng(), [&, host, port](auto& r) {
      // A network download from B, or a delete: B's datasets come and go,
      // and A keeps about 30 datasets.
      bool full = known.size() > 30;
      if (!full)
        std::this_thread::sleep_for(std::chrono::milliseconds(r() % 100));
      auto& [cid, data] = on_b[r() % on_b.size()];
      bool have = known.has(cid);
      httplib::Client cli{host, port};
      if (have || full || r() % 4 == 0) {
        auto pick = have && !full ? cid : known.pick(r);
        if (pick.empty())
          return;
        // Sent: from now on the dataset may be gone.
        known.forget(pick);
        auto res = cli.Delete(api("/data/" + pick));
        if (res && res->status / 100 == 2)
          ++count.deletes;
        return;
      }
      // What A may hold of it (expiring, or partial) goes first: its
      // manifest and leaves would not be stored again, and expire early.
      auto del = cli.Delete(api("/data/" + cid));
      if (!del || del->status / 100 != 2)
        return;
      auto t = known.begin();
      auto res =
        stream_get(host, port, api("/data/" + cid + "/network/stream"));
      if (is_whole(res, data)) {
        known.add(cid, data, t, "network download");
        ++count.network;
      }
    }));
    clients.push_back(client(stop, rng(), [&, host, port](auto& r) {
      // Protect a dataset (a new, erasure-coded one), or delete one leaf
      // of one (which leaves it incomplete here).
      std::this_thread::sleep_for(std::chrono::milliseconds(r() % 150));
      auto cid = known.pick(r);
      auto e = cid.empty() ? std::nullopt : known.fresh(cid);
      if (!e)
        return;
      httplib::Client cli{host, port};
      cli.set_read_timeout(30, 0);
      if (r() % 3 != 0) {
        auto t = known.begin();
        auto res = cli.Post("/api/cairn/v1/data/" + cid + "/protect?ecK=" +
                            std::to_string(2 + r() % 3) + "&ecM=1");
        if (!res || res->status != 200)
          return;
        auto j = nlohmann::json::parse(res->body, nullptr, false);
        auto protected_cid =
          j.is_object() ? j.value("cid", std::string{}) : std::string{};
        if (protected_cid.empty())
          return;
        known.add(protected_cid, e->data, t, "protect");
        ++count.protects;
        return;
      }
      json listing;
      if (!get_json(cli, api("/data"), &listing))
        return;
      for (auto& item : listing.value("content", json::array())) {
        if (item.value("cid", std::string{}) != cid)
          continue;
        auto m = item.value("manifest", json::object());
        auto size = m.value("datasetSize", uint64_t{0});
        auto bs = m.value("blockSize", uint64_t{65536});
        if (size == 0 || bs == 0)
          return;
        auto index = r() % ((size + bs - 1) / bs);
        known.forget(cid);
        auto res = cli.Delete("/api/cairn/v1/blocks/" +
                              m.value("treeCid", std::string{}) + "/" +
                              std::to_string(index));
        if (res && res->status / 100 == 2)
          ++count.block_deletes;
        return;
      }
    }));
    std::this_thread::sleep_for(std::chrono::milliseconds(30 + rng() % 1500));
    a.proc.kill9();
    count.swept += swept_in(a.proc.stderr_text());
    stop = true;
    for (auto& t : clients)
      t.join();

    // The store as the kill left it: only cut operations' leftovers.
    auto v = offline_verify(a.data_dir);
    ASSERT_TRUE(v.code == 0 || v.code == 1) << v.describe();
    for (auto& line : nonempty_lines(v.out)) {
      unsigned long long refs = 0, owned = 0;
      bool extra =
        std::sscanf(line.c_str(), "refcount: block %*s refcount %llu, %llu",
                    &refs, &owned) == 2 &&
        refs > owned;
      bool orphan = line.rfind("orphan: ", 0) == 0;
      EXPECT_TRUE(orphan || extra) << line << v.describe();
      count.orphans_after_kills += orphan ? 1 : 0;
    }
    if (HasFatalFailure() || HasFailure())
      return;
  }

  // A clean stop after a last restart leaves a store that verifies clean.
  ASSERT_TRUE(a.proc.start());
  auto st = a.proc.stop();
  ASSERT_TRUE(st.clean()) << st.to_string();
  auto v = offline_verify(a.data_dir);
  EXPECT_EQ(v.code, 0) << v.describe();
  EXPECT_GT(count.swept, 0u) << "maintenance deleted no expired block";
  std::printf(
    "torture: seed %llu, %llu cycles in %.0f s: %llu uploads, %llu local "
    "and %llu network downloads, %llu protects, %llu deletes, %llu block "
    "deletes, %llu datasets expired, %llu expired blocks deleted by "
    "maintenance, %llu requests cut by a kill, %llu orphan blocks "
    "reclaimed, %llu clean checks, %llu datasets checked byte for byte\n",
    static_cast<unsigned long long>(seed),
    static_cast<unsigned long long>(cycles), seconds_since(t0),
    static_cast<unsigned long long>(count.uploads.load()),
    static_cast<unsigned long long>(count.downloads.load()),
    static_cast<unsigned long long>(count.network.load()),
    static_cast<unsigned long long>(count.protects.load()),
    static_cast<unsigned long long>(count.deletes.load()),
    static_cast<unsigned long long>(count.block_deletes.load()),
    static_cast<unsigned long long>(count.expired),
    static_cast<unsigned long long>(count.swept),
    static_cast<unsigned long long>(count.cut.load()),
    static_cast<unsigned long long>(count.orphans_after_kills),
    static_cast<unsigned long long>(count.checks),
    static_cast<unsigned long long>(count.checked));
}
