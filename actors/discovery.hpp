#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/instrumented.hpp"
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
  uint64_t lookup = 0; ///< 0: not part of a lookup
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
  storage::provider_store store;
  std::map<uint64_t, dht_request> requests;
  std::map<uint64_t, dht_lookup> lookups;
  /// Providers the last lookup of each key answered with: a lookup that
  /// finds only these walks on (they may be gone: a stale record must not
  /// hide a new provider).
  std::map<digest256, std::set<std::string>> answered;
  uint64_t next_id = 1;
  /// The receiving thread (blocking recvfrom) and its stop flag.
  std::shared_ptr<std::atomic<bool>> stop;
  std::thread receiver;
  uint64_t packets_in = 0, packets_out = 0, bad_packets = 0;
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
/// expiry. Every packet carries the sender's signed record, so contacts are
/// learnt from traffic. A thread per node blocks in recvfrom and forwards
/// datagrams to this actor's mailbox; sends are non-blocking sendto.
discovery_actor::behavior_type
discovery(discovery_actor::stateful_pointer<discovery_state> self,
          discovery_config cfg);

} // namespace cairn::actors
