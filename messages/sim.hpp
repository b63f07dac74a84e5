#pragma once

// The vocabulary of `cairn-sim`: what its coordinator asks an agent (a
// process hosting many nodes) over CAF's middleman, and what comes back.
// Only these small records cross the network between them: blocks travel
// between the nodes themselves.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/atoms.hpp"

namespace cairn {

// Tags of the agent's commands (kept apart from atoms.hpp: only the
// simulator uses them).
using auth_atom = caf::atom_constant<caf::atom("auth")>;
using spawn_atom = caf::atom_constant<caf::atom("spawn")>;
using upload_atom = caf::atom_constant<caf::atom("upload")>;
using download_atom = caf::atom_constant<caf::atom("download")>;
using kill_atom = caf::atom_constant<caf::atom("kill")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using protect_atom = caf::atom_constant<caf::atom("protect")>;

/// A synthetic dataset stored on a node.
struct sim_upload_result {
  /// The manifest CID (base58btc text).
  std::string cid;
  /// SHA-256 of the dataset's bytes, hex.
  std::string sha256;
  uint64_t bytes = 0;
  /// From the command to the committed dataset.
  double seconds = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sim_upload_result& x) {
  return f(caf::meta::type_name("sim_upload_result"), x.cid, x.sha256, x.bytes,
           x.seconds);
}

/// How one download on a node ended. A download that failed has `error`
/// set and the bytes had until then.
struct sim_download_result {
  std::string cid;
  uint64_t bytes = 0;
  /// From the command to the last byte, and to the first byte (-1: none).
  double seconds = 0;
  double first_byte_seconds = -1;
  /// SHA-256 of the bytes received, hex (complete downloads only).
  std::string sha256;
  /// Every byte was compared with the synthetic dataset it should be, and
  /// matched (false when the download was not given a seed to compare with).
  bool verified = false;
  std::string error;
  /// Times the download went on with a new stream after a block could not
  /// be had (at most `sim_download_spec::max_retries`), and why the last
  /// one was needed.
  uint32_t retries = 0;
  std::string retry_reason;
  /// Peers that delivered blocks of the dataset while this download ran
  /// (first copies; `download_sources`), how many each, and the bytes of
  /// those blocks (whole blocks, as they travelled).
  std::vector<std::string> sources;
  std::vector<uint64_t> source_blocks;
  std::vector<uint64_t> source_bytes;
  /// Data blocks of a protected dataset rebuilt from parity because no
  /// peer had them.
  uint64_t blocks_repaired = 0;
  /// Blocks of the dataset that arrived again after one copy was had,
  /// while this download ran.
  uint64_t duplicate_blocks = 0;
  /// Provider lookups the node finished for the dataset (its manifest and
  /// its tree), the DHT nodes they queried, and each lookup's depth in
  /// hops (`storage::kad_lookup::hops`: 1 when the nodes it knew had the
  /// answer; 0 when the providers reached this node before any answer,
  /// stored here or announced to it meanwhile).
  uint64_t dht_lookups = 0;
  uint64_t dht_queries = 0;
  std::vector<uint32_t> dht_hops;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sim_download_result& x) {
  return f(caf::meta::type_name("sim_download_result"), x.cid, x.bytes,
           x.seconds, x.first_byte_seconds, x.sha256, x.verified, x.error,
           x.retries, x.retry_reason, x.sources, x.source_blocks,
           x.source_bytes, x.blocks_repaired, x.duplicate_blocks, x.dht_lookups,
           x.dht_queries, x.dht_hops);
}

/// One hosted node as its agent sees it.
struct sim_node_stats {
  uint32_t index = 0;
  std::string peer_id;
  bool up = false;
  /// Connected peers.
  uint64_t peers = 0;
  uint64_t uploads = 0;
  uint64_t downloads_done = 0;
  uint64_t downloads_failed = 0;
  /// Bytes of completed downloads.
  uint64_t bytes_downloaded = 0;
  uint32_t restarts = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sim_node_stats& x) {
  return f(caf::meta::type_name("sim_node_stats"), x.index, x.peer_id, x.up,
           x.peers, x.uploads, x.downloads_done, x.downloads_failed,
           x.bytes_downloaded, x.restarts);
}

/// A `cairn-sim agent`: hosts nodes (each a complete node with its own
/// supervisor tree, store, key, peer and DHT ports) in one actor system.
/// Every command but `auth_atom` fails with `ec::invalid_argument`
/// ("forbidden: ...") until the
/// sender's process presented the agent's secret. Nodes are named by a
/// global index chosen by the coordinator.
using sim_agent_actor = caf::typed_actor<
  /// (auth_atom, secret) -> (ok_atom)   admits every actor of the sender's
  ///   process   errors: invalid_argument (wrong secret)
  caf::replies_to<auth_atom, std::string>::with<ok_atom>,
  /// (spawn_atom, first, count, node_args, bootstrap) -> (sprs)   starts
  ///   nodes first..first+count-1, each configured by the cairn-node flags
  ///   `node_args` (`--key=value`) and bootstrapping from the records
  ///   `bootstrap`; answers with their signed peer records, in order
  ///   errors: invalid_argument (bad flags, index in use), unavailable
  caf::replies_to<spawn_atom, uint32_t, uint32_t, std::vector<std::string>,
                  std::vector<std::string>>::with<std::vector<std::string>>,
  /// (upload_atom, node, size, seed) -> (result)   stores the synthetic
  ///   dataset of `seed` (storage::synthetic_data), `size` bytes
  ///   errors: not_found (no such node), unavailable (node down)
  caf::replies_to<upload_atom, uint32_t, uint64_t,
                  uint64_t>::with<sim_upload_result>,
  /// (download_atom, node, cid, size, seed) -> (result)   fetches the
  ///   dataset through the node's network store (peers over TCP, providers
  ///   from the DHT) and compares it with synthetic dataset `seed` of
  ///   `size` bytes (size 0: no comparison)
  ///   errors: not_found (no such node), unavailable (node down)
  caf::replies_to<download_atom, uint32_t, std::string, uint64_t,
                  uint64_t>::with<sim_download_result>,
  /// (kill_atom, node) -> (ok_atom)   ends every actor of the node at once,
  ///   without its orderly stop (as a crash would); its store is closed
  ///   before a restart reopens it
  caf::replies_to<kill_atom, uint32_t>::with<ok_atom>,
  /// (protect_atom, node, cid, k, m) -> (result)   erasure-protects the
  ///   dataset `cid` stored on the node (as `POST .../protect`): the
  ///   result's CID is the protected dataset's
  ///   errors: not_found (no such node or dataset, or a block missing),
  ///   unavailable (node down), invalid_argument (K, M)
  caf::replies_to<protect_atom, uint32_t, std::string, uint32_t,
                  uint32_t>::with<sim_upload_result>,
  /// (delete_atom, node, cid, fraction, seed) -> (deleted)   drops the
  ///   blocks `config::pick_blocks(count, fraction, seed)` of the dataset
  ///   `cid` (data and parity, by leaf) from the node's store, as a failing
  ///   disk would; answers how many it held and dropped
  ///   errors: not_found (no such node or dataset), unavailable (node down)
  caf::replies_to<delete_atom, uint32_t, std::string, double,
                  uint64_t>::with<uint64_t>,
  /// (restart_atom, node) -> (spr)   starts a killed node again on its data
  ///   dir, key and (when free) ports
  caf::replies_to<restart_atom, uint32_t>::with<std::string>,
  /// (stats_atom) -> (stats)   every hosted node
  caf::replies_to<stats_atom>::with<std::vector<sim_node_stats>>,
  /// (stop_atom) -> (ok_atom)   stops every node, then the agent
  caf::replies_to<stop_atom>::with<ok_atom>>;

} // namespace cairn
