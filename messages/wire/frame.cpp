#include "messages/wire/frame.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "messages/error.hpp"

namespace cairn::wire {

bytes encode_frame(byte_view payload) {
  bytes out;
  out.reserve(frame_header_size + payload.size);
  out.resize(frame_header_size);
  store_frame_length(out.data(), payload.size);
  if (payload.size > 0)
    out.insert(out.end(), payload.data, payload.data + payload.size);
  return out;
}

caf::error frame_reader::fail(caf::error err) {
  error_ = std::move(err);
  header_len_ = 0;
  body_size_ = 0;
  bytes{}.swap(body_);
  ready_.clear();
  queued_bytes_ = 0;
  return error_;
}

caf::error frame_reader::feed(const uint8_t* data, size_t n) {
  if (error_)
    return error_;
  while (n > 0) {
    if (header_len_ < frame_header_size) {
      auto k = std::min(n, frame_header_size - header_len_);
      std::memcpy(header_.data() + header_len_, data, k);
      header_len_ += k;
      data += k;
      n -= k;
      if (header_len_ < frame_header_size)
        break;
      // Check the announced length before buffering any of the body.
      auto len = (uint32_t{header_[0]} << 24) | (uint32_t{header_[1]} << 16) |
                 (uint32_t{header_[2]} << 8) | uint32_t{header_[3]};
      if (len == 0)
        return fail(make_error(ec::protocol_error, "zero-length frame"));
      if (len > limit_)
        return fail(
          make_error(ec::protocol_error, "frame of " + std::to_string(len) +
                                           " bytes exceeds the limit of " +
                                           std::to_string(limit_) + " bytes"));
      body_size_ = len;
      continue;
    }
    auto k = std::min(n, body_size_ - body_.size());
    if (body_.capacity() < body_.size() + k) {
      // Grow to `frame_body_growth` times the bytes that arrived, never past
      // the announced size: a frame that comes in a few reads (a 1 MiB delivery
      // in 256 KiB reads) is one allocation, not one copy per doubling, and
      // a peer that announces 4 MiB and sends one byte costs us one small
      // buffer, not 4 MiB.
      size_t want = std::max({frame_body_growth * (body_.size() + k),
                              2 * body_.capacity(), size_t{4096}});
      body_.reserve(std::min(want, body_size_));
    }
    body_.insert(body_.end(), data, data + k);
    data += k;
    n -= k;
    if (body_.size() == body_size_) {
      queued_bytes_ += body_.size();
      ready_.push_back(std::move(body_));
      body_ = bytes{};
      header_len_ = 0;
      body_size_ = 0;
    }
  }
  return caf::none;
}

std::optional<bytes> frame_reader::next() {
  if (error_ || ready_.empty())
    return std::nullopt;
  auto out = std::move(ready_.front());
  ready_.pop_front();
  queued_bytes_ -= out.size();
  return std::optional<bytes>{std::move(out)};
}

} // namespace cairn::wire
