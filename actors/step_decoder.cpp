#include "actors/step_decoder.hpp"

#include <algorithm>
#include <vector>

#include "messages/atoms.hpp"
#include "messages/block.hpp"
#include "messages/buffer_pool.hpp"
#include "storage/erasure.hpp"

namespace cairn::actors {

caf::behavior step_decoder(caf::event_based_actor*) {
  return {
    [](decode_atom, uint32_t k, uint32_t m, int32_t backend,
       std::vector<block>& shards) -> caf::result<std::vector<block>> {
      auto codec = storage::erasure_codec::get(
        k, m, static_cast<storage::ec_backend>(backend));
      if (!codec)
        return codec.error();
      size_t len = 0;
      for (auto& b : shards)
        len = std::max(len, b.size());
      // Present shards are read in place (the codec writes only the absent
      // ones); absent shards, and a short one, get buffers of their own.
      std::vector<bytes> bufs(shards.size());
      std::vector<uint8_t*> ptrs(shards.size());
      std::vector<bool> present(shards.size());
      for (size_t i = 0; i < shards.size(); ++i) {
        present[i] = shards[i].data != nullptr;
        if (present[i] && shards[i].size() == len) {
          ptrs[i] = const_cast<uint8_t*>(shards[i].data->data());
          continue;
        }
        // Pooled: absent shards are written whole by the codec; a short
        // one is copied and its tail zero-padded.
        bufs[i] = buffer_pool::blocks().take(len);
        if (present[i]) {
          auto tail = std::copy(shards[i].data->begin(), shards[i].data->end(),
                                bufs[i].begin());
          std::fill(tail, bufs[i].end(), uint8_t{0});
        }
        ptrs[i] = bufs[i].data();
      }
      if (auto err = (*codec)->decode(ptrs, present, len))
        return err;
      std::vector<block> out(shards.size(),
                             block{cid{multicodec::codex_block, {}}, nullptr});
      for (size_t i = 0; i < shards.size(); ++i)
        if (!present[i])
          out[i] = block::make(std::move(bufs[i]));
      return out;
    },
  };
}

} // namespace cairn::actors
