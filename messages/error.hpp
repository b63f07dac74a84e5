#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace cairn {

/// Every error Cairn produces. Registered with CAF under the category atom
/// `cairn` (see `error_category`), so `to_string(err)` prints its name and the
/// attached context, e.g. `cairn: storage_io("mdb_put", "MDB_MAP_FULL")`.
enum class ec : uint8_t {
  /// Not an error (CAF reserves code 0).
  none = 0,
  /// A CID, multihash or multibase string that cannot be parsed.
  invalid_cid,
  /// A CID that parses but whose codec or hash this node does not handle.
  unsupported_cid,
  /// A manifest whose bytes do not decode, or decode to inconsistent fields.
  invalid_manifest,
  /// A block whose bytes do not hash to its CID, or a proof that fails.
  verification_failed,
  /// The requested block, leaf or dataset is not in the store.
  not_found,
  /// Storing would exceed the storage quota.
  quota_exceeded,
  /// LMDB or file-system I/O failed; context names the operation.
  storage_io,
  /// A request took longer than its timeout.
  timeout,
  /// The actor that should answer is gone (crashed, restarting or stopped).
  unavailable,
  /// A request whose arguments are malformed (bad range, empty upload, ...).
  invalid_argument,
  /// A configuration value or flag that cannot be used.
  invalid_config,
  /// A proof or tree request outside the dataset's leaves.
  out_of_range,
  /// The node or one of its actors is shutting down.
  shutting_down,
  /// Bytes from a peer that break the wire protocol (bad frame, bad field,
  /// unexpected message); context says what.
  protocol_error,
  /// A peer failed the handshake (bad signature, wrong version, own ID).
  handshake_failed,
  /// A peer sent something it must not (unrequested or invalid block).
  peer_misbehaved,
  /// An operator injected this failure (`POST .../actors/{name}/crash`).
  injected_fault,
  /// The file system holding the store has no space left for a write.
  disk_full,
};

/// The atom under which `ec` is registered as a CAF error category.
constexpr caf::atom_value error_category = caf::atom("cairn");

/// Name of an error code, e.g. "not_found".
std::string to_string(ec x);

/// Converts a bare error code (needed by `caf::error`'s converting ctor).
caf::error make_error(ec x);

/// Builds an error with context: `make_error(ec::storage_io, "mdb_put", why)`.
template <class T, class... Ts>
caf::error make_error(ec x, T&& y, Ts&&... ys) {
  return caf::error{
    static_cast<uint8_t>(x), error_category,
    caf::make_message(std::forward<T>(y), std::forward<Ts>(ys)...)};
}

/// True if `err` carries code `x` of the `cairn` category.
inline bool is(const caf::error& err, ec x) {
  return err.category() == error_category &&
         err.code() == static_cast<uint8_t>(x);
}

/// Renders any error (ours or CAF's) as one line, without needing an actor
/// system: "not_found: no such block zDz...". Used in logs and HTTP bodies.
std::string describe(const caf::error& err);

} // namespace cairn
