#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/instrumented.hpp"
#include "actors/udp_poller.hpp"
#include "messages/interfaces.hpp"
#include "messages/peer_record.hpp"
#include "messages/wire/dht_messages.hpp"
#include "storage/kad_lookup.hpp"
#include "storage/node_key.hpp"
#include "storage/provider_store.hpp"
#include "storage/routing_table.hpp"

namespace cairn::actors {

/// A bound UDP socket (closed by the destructor unless taken).
class udp_socket {
public:
  /// Binds `ip:port` (port 0 picks one). Errors: `ec::unavailable`.
  static caf::expected<std::shared_ptr<udp_socket>> bind(const std::string& ip,
                                                         uint16_t port);
  ~udp_socket();
  int fd() const { return fd_; }
  uint16_t port() const { return port_; }

private:
  udp_socket(int fd, uint16_t port) : fd_(fd), port_(port) {}
  int fd_;
  uint16_t port_;
};

/// Settings of the discovery actor.
struct discovery_config {
  std::shared_ptr<const storage::node_key> key;
  /// The bound socket of --disc-port.
  std::shared_ptr<udp_socket> socket;
  /// Multiaddrs published in this node's record: its TCP peer listener and
  /// its UDP discovery address.
  std::vector<std::string> addrs;
  /// Signed peer records (`spr:...`) to join the DHT through.
  std::vector<std::string> bootstrap;
  /// Where the routing table's contacts are saved (their signed records,
  /// one per line; written to a temporary file, then renamed) and read
  /// from at start as more bootstrap records, so that a node restarted
  /// without `--bootstrap-node` rejoins the DHT. Empty: not saved.
  std::string contacts_file;
  /// How often the contacts are saved at most: also one second after the
  /// table changed, and when the actor stops.
  std::chrono::milliseconds save_interval{30000};
  /// One request's timeout, and how often timeouts are checked.
  std::chrono::milliseconds request_timeout{1000};
  std::chrono::milliseconds tick{200};
  /// Requests per second one source IP address may send on average, and at
  /// once (--dht-rate-limit); the rest are dropped unread. 0: no limit.
  double rate_limit = 100;
  /// Datagrams handed to the actor and not handled yet, at most: a flood
  /// from forged addresses costs a bounded mailbox, not memory.
  size_t max_backlog = 1024;
  /// Nodes pinged at once to check that they answer at the address they
  /// claim, before they enter the routing table.
  size_t max_verifications = 256;
};

/// Counters shared by the discovery actor and the handler of its datagrams
/// (on the UDP poller's thread).
struct dht_counters {
  /// Requests dropped by the per-source rate limit.
  std::atomic<uint64_t> rate_limited{0};
  /// Datagrams dropped because `max_backlog` were waiting.
  std::atomic<uint64_t> backlog_dropped{0};
  /// Datagrams handed to the actor and not handled yet.
  std::atomic<uint64_t> queued{0};
};

/// An IPv4 UDP address, in host byte order.
struct udp_address {
  uint32_t ip = 0;
  uint16_t port = 0;
  friend bool operator==(const udp_address& x, const udp_address& y) {
    return x.ip == y.ip && x.port == y.port;
  }
  friend bool operator!=(const udp_address& x, const udp_address& y) {
    return !(x == y);
  }
};

/// An iterative lookup in progress.
struct dht_lookup {
  enum class mode { find_node, find_providers, provide };
  mode kind = mode::find_node;
  storage::kad_lookup walk;
  digest256 key{};
  /// Providers found so far (peer ID → record text).
  std::map<std::string, std::string> found;
  /// Who waits for the providers, or (find_node) for the record of the
  /// node whose ID is `key`.
  std::vector<caf::typed_response_promise<std::vector<std::string>>> finders;
  std::vector<caf::typed_response_promise<ok_atom>> providers;
};

/// A request sent, waiting for its answer.
struct dht_request {
  storage::node_id to{};
  /// Where it went: only an answer from there counts.
  udp_address addr;
  uint64_t lookup = 0; ///< 0: not part of a lookup
  /// A ping to a node not in the routing table, which enters it if it
  /// answers.
  bool verify = false;
  std::chrono::steady_clock::time_point deadline;
};

/// State of the `discovery` actor.
struct discovery_state {
  static inline constexpr const char* name = "discovery";
  /// Handler counters, published for the inspector.
  std::shared_ptr<actor_stats> stats = std::make_shared<actor_stats>();
  discovery_config cfg;
  peer_record self_record;
  std::string self_text;
  storage::node_id self_id{};
  std::unique_ptr<storage::routing_table> table;
  /// The bootstrap records (flags and saved contacts): lookups start from
  /// them too while the table holds fewer than k contacts; they enter the
  /// table when they answer.
  std::vector<storage::contact> seeds;
  /// Nodes pinged to check their address, and the ping's request ID.
  std::map<storage::node_id, uint64_t> verifying;
  storage::provider_store store;
  std::map<uint64_t, dht_request> requests;
  std::map<uint64_t, dht_lookup> lookups;
  /// Providers the last lookup of each key answered with: a lookup that
  /// finds only these walks on (they may be gone: a stale record must not
  /// hide a new provider).
  std::map<digest256, std::set<std::string>> answered;
  /// Per key, the provider lookups finished: how many, the nodes they
  /// queried, and the hops of each (`kad_lookup::hops`; the first 64).
  struct lookup_tally_entry {
    uint64_t lookups = 0;
    uint64_t queries = 0;
    std::vector<uint32_t> hops;
  };
  std::map<digest256, lookup_tally_entry> lookup_tally;
  uint64_t next_id = 1;
  /// This node's socket in the process's UDP poller (null if it refused
  /// it); dropping it stops the datagrams.
  std::unique_ptr<udp_poller::registration> receiver;
  uint64_t packets_in = 0, packets_out = 0, bad_packets = 0;
  /// Answers to no request of ours, or from elsewhere than it went to.
  uint64_t unsolicited = 0;
  std::shared_ptr<dht_counters> counters = std::make_shared<dht_counters>();
  /// Datagrams in and out, and the ones dropped, by reason.
  void gauges(std::vector<std::pair<std::string, double>>& out) const {
    out.emplace_back("contacts", table ? table->size() : 0);
    out.emplace_back("datagrams_in", packets_in);
    out.emplace_back("datagrams_out", packets_out);
    out.emplace_back("dropped_malformed", bad_packets);
    out.emplace_back("dropped_unsolicited", unsolicited);
    out.emplace_back("dropped_rate_limited", counters->rate_limited.load());
    out.emplace_back("dropped_backlog", counters->backlog_dropped.load());
  }
  /// The contacts last saved to `contacts_file`, and when.
  std::vector<std::string> saved;
  std::chrono::steady_clock::time_point saved_at{};
  /// Saves the routing table's contacts to `cfg.contacts_file` if they
  /// changed since the last save. Errors are logged, not returned.
  void save_contacts();
  ~discovery_state();
};

/// Kademlia over UDP (messages/wire/DHT_FORMAT.md): routing table, iterative
/// lookups (alpha 3, k 16), provider records with signed peer records and 24 h
/// expiry. Requests are answered at the datagram's source address, never at
/// the address a record claims. Every packet carries the sender's signed
/// record, so contacts are learnt from traffic, but a node enters the
/// routing table only once it answered a request sent to the address its
/// record claims (a ping of a node that sent a request from that address,
/// or any query of a lookup). The process's one `udp_poller` thread reads
/// the socket, drops the requests over the per-source rate limit, and
/// forwards datagrams to this actor's mailbox; sends are non-blocking
/// sendto.
discovery_actor::behavior_type
discovery(discovery_actor::stateful_pointer<discovery_state> self,
          discovery_config cfg);

} // namespace cairn::actors
