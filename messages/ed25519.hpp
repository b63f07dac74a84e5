#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "messages/bytes.hpp"

namespace cairn {

/// An Ed25519 private seed (RFC 8032 "private key", 32 bytes).
using ed25519_seed = std::array<uint8_t, 32>;

/// An Ed25519 public key (32 bytes).
using ed25519_public = std::array<uint8_t, 32>;

/// Size of an Ed25519 signature in bytes.
constexpr size_t ed25519_signature_size = 64;

/// The 64-byte Ed25519 signature of `msg` under the key whose private seed is
/// `seed` (OpenSSL, deterministic per RFC 8032). Returns an empty vector if
/// OpenSSL fails (out of memory). Thread-safe.
bytes ed25519_sign(const ed25519_seed& seed, byte_view msg);

/// True if `sig` is a valid Ed25519 signature of `msg` under `pub`. False for
/// a signature that is not 64 bytes or a public key that is not a valid curve
/// point. Thread-safe.
bool ed25519_verify(const ed25519_public& pub, byte_view msg, byte_view sig);

/// The public key of the private seed `seed`; `std::nullopt` only if OpenSSL
/// fails. Thread-safe.
std::optional<ed25519_public> ed25519_public_key(const ed25519_seed& seed);

} // namespace cairn
