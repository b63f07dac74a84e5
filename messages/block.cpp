#include "messages/block.hpp"

#include "messages/buffer_pool.hpp"

namespace cairn {

block block::make(bytes data, multicodec codec) {
  auto id = cid::of(codec, data);
  return block{id, buffer_pool::blocks().share(std::move(data))};
}

bool block::verify() const {
  return data && sha256(*data) == id.digest;
}

std::string to_string(const block& x) {
  return "block(" + x.id.to_string() + ", " + std::to_string(x.size()) + " B)";
}

} // namespace cairn
