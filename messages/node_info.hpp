#pragma once

#include <cstdint>
#include <string>

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
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_info& x) {
  return f(caf::meta::type_name("node_info"), x.peer_id, x.api_host, x.api_port,
           x.data_dir);
}

} // namespace cairn
