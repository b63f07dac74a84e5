#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace cairn {

/// What a running node tells its operator: identity and bound addresses.
struct node_info {
  /// The libp2p-style peer ID (base58btc, `12D3KooW...`).
  std::string peer_id;
  /// Address and port the REST API listens on (port resolved when 0).
  std::string api_host;
  uint16_t api_port = 0;
  /// The data directory.
  std::string data_dir;
  /// Port of the peer listener (resolved when 0).
  uint16_t listen_port = 0;
  /// Multiaddrs peers can dial (`/ip4/A/tcp/P`).
  std::vector<std::string> addrs;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_info& x) {
  return f(caf::meta::type_name("node_info"), x.peer_id, x.api_host, x.api_port,
           x.data_dir, x.listen_port, x.addrs);
}

} // namespace cairn
