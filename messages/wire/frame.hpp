#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

#include <caf/error.hpp>

#include "messages/bytes.hpp"

namespace cairn::wire {

/// Largest payload of one frame in bytes (4 MiB), not counting the 4-byte
/// length header. A header announcing more is a protocol error.
constexpr size_t max_frame_size = 4 << 20;

/// Size of the big-endian length header that precedes every payload.
constexpr size_t frame_header_size = 4;

/// The buffer of a frame being assembled holds at most this many times the
/// bytes of it that arrived (at least 4 KiB, never more than announced).
constexpr size_t frame_body_growth = 8;

/// Writes `n` as the 4-byte big-endian frame header at `out`.
inline void store_frame_length(uint8_t* out, size_t n) {
  for (size_t i = 0; i < frame_header_size; ++i)
    out[i] = static_cast<uint8_t>(n >> (8 * (frame_header_size - 1 - i)));
}

/// Frames `payload`: its length as a 4-byte big-endian integer, then the
/// bytes. The caller keeps `payload` within `max_frame_size` (and non-empty);
/// this function does not check, the receiver does. Thread-safe.
bytes encode_frame(byte_view payload);

/// Incremental decoder of the frames of one TCP byte stream (see FORMAT.md).
/// Feed it whatever the socket delivered, then pop complete payloads with
/// `next()` until it returns `std::nullopt`:
///
/// ~~~
/// if (auto err = reader.feed(buf, n))
///   return close(err); // the reader is now unusable
/// while (auto payload = reader.next())
///   handle(*payload);
/// ~~~
///
/// Memory: headers are checked the moment their fourth byte arrives, so an
/// oversized frame fails before any of its body is buffered, and the frame
/// being assembled never holds more than `max_frame_size` bytes (its buffer
/// grows with the bytes that arrive, to `frame_body_growth` times them, not
/// with the announced length). Complete
/// payloads wait in a queue until popped; drain `next()` after each `feed` to
/// keep at most one partial frame plus one read's worth of frames.
///
/// Cost: every payload byte is copied once, from the fed buffer into the
/// payload that `next()` hands out by move (a frame that arrives in reads of
/// at least 1/`frame_body_growth` of it is never moved to a larger buffer
/// on the way); there is no re-scanning or
/// compaction of a shared buffer, so large (64 KiB–4 MiB) frames cost O(n).
///
/// Not thread-safe: one reader belongs to one session (actor).
class frame_reader {
public:
  /// Appends `n` bytes of the stream (`data` may be null if `n` is 0).
  /// Returns `ec::protocol_error` with context "frame of N bytes exceeds the
  /// limit of M bytes" as soon as a header announces more than the limit,
  /// or "zero-length frame" for an empty one. After an error the reader is
  /// unusable: it drops everything it buffered (also complete frames not yet
  /// popped), `next()` returns `std::nullopt` and every later `feed` returns
  /// the same error.
  caf::error feed(const uint8_t* data, size_t n);

  /// Sets the largest payload accepted in headers checked from now on
  /// (`max_frame_size` until then). Frames already complete are not checked
  /// again. A peer session keeps it small until the handshake is done.
  void set_limit(size_t n) { limit_ = n; }

  /// Convenience overload of `feed(data, n)`.
  caf::error feed(byte_view x) { return feed(x.data, x.size); }

  /// Pops the next complete payload (without its header), oldest first;
  /// `std::nullopt` if no frame is complete yet or the reader has failed.
  std::optional<bytes> next();

  /// True once `feed` has returned an error.
  bool failed() const { return static_cast<bool>(error_); }

  /// Bytes held: complete payloads not yet popped plus the partial frame.
  size_t buffered() const { return queued_bytes_ + header_len_ + body_.size(); }

  /// Bytes allocated for the partial frame (for tests).
  size_t reserved() const { return body_.capacity(); }

private:
  caf::error fail(caf::error err);

  /// Header bytes of the current frame received so far (0..4).
  std::array<uint8_t, frame_header_size> header_{};
  size_t header_len_ = 0;
  /// Largest payload accepted (`set_limit`).
  size_t limit_ = max_frame_size;
  /// Payload length announced by the current header, valid if header_len_==4.
  size_t body_size_ = 0;
  /// Payload of the current frame received so far.
  bytes body_;
  /// Complete payloads, oldest first.
  std::deque<bytes> ready_;
  /// Sum of the sizes in `ready_`.
  size_t queued_bytes_ = 0;
  /// The error that made the reader unusable, or none.
  caf::error error_;
};

} // namespace cairn::wire
