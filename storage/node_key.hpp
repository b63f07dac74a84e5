#pragma once

#include <array>
#include <memory>
#include <string>

#include <caf/expected.hpp>

#include "messages/bytes.hpp"
#include "messages/peer_id.hpp"

namespace cairn::storage {

/// The node's Ed25519 key pair, kept in `<data-dir>/node.key` (the 32-byte
/// private seed, mode 0600). Immutable after loading; thread-safe.
class node_key {
public:
  /// Loads the key from `path`, creating it if the file does not exist.
  /// Errors: `ec::storage_io` (unreadable, unwritable, or not 32 bytes).
  static caf::expected<node_key> load_or_create(const std::string& path);

  const std::array<uint8_t, 32>& public_key() const { return pub_; }

  /// The peer ID derived from the public key.
  const cairn::peer_id& peer_id() const { return id_; }

  /// Ed25519 signature (64 bytes) of `msg`.
  bytes sign(byte_view msg) const;

  /// True if `sig` is `pub`'s Ed25519 signature of `msg`.
  static bool verify(const std::array<uint8_t, 32>& pub, byte_view msg,
                     byte_view sig);

private:
  std::array<uint8_t, 32> seed_{};
  std::array<uint8_t, 32> pub_{};
  cairn::peer_id id_;
};

/// An exclusive lock on a data directory (flock on `<dir>/LOCK`), held while
/// the object lives: two nodes never share one store.
class data_dir_lock {
public:
  /// Creates `dir` if missing and locks it. Errors: `ec::storage_io` (cannot
  /// create, not a directory, or locked by another process).
  static caf::expected<std::unique_ptr<data_dir_lock>>
  acquire(const std::string& dir);
  ~data_dir_lock();

private:
  explicit data_dir_lock(int fd) : fd_(fd) {}
  int fd_;
};

} // namespace cairn::storage
