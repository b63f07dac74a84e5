// Feeds: a manifest block's bytes (msgpack, messages/manifest.cpp) to
// manifest::decode, as a node does with a manifest fetched from a peer or
// read from its store.
// Checks: no crash, leak or UB; round trip: a manifest that decodes encodes
// to bytes that decode to an equal manifest and encode to the same bytes;
// the derived counts stay consistent (content within the dataset).

#include <cstddef>
#include <cstdint>

#include "fuzz_check.hpp"
#include "messages/manifest.hpp"

using namespace cairn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto m = manifest::decode(byte_view{data, size});
  if (!m)
    return 0;
  auto enc = m->encode();
  auto again = manifest::decode(enc);
  FUZZ_CHECK(again);
  FUZZ_CHECK(again->encode() == enc);
  FUZZ_CHECK(again->tree_cid == m->tree_cid);
  FUZZ_CHECK(again->dataset_size == m->dataset_size);
  FUZZ_CHECK(again->filename == m->filename);
  FUZZ_CHECK(again->mimetype == m->mimetype);
  FUZZ_CHECK(again->original_tree_cid == m->original_tree_cid);
  FUZZ_CHECK(m->block_size > 0);
  (void)m->blocks_count();
  FUZZ_CHECK(m->content_blocks_count() <= m->blocks_count());
  auto blk = m->to_block();
  auto from_block = manifest_from_block(blk);
  FUZZ_CHECK(from_block && from_block->encode() == enc);
  return 0;
}
