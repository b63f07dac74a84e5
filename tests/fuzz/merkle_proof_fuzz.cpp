// Feeds: a CodexTree of 1..40 leaves built by storage::merkle_tree, then a
// sequence of operations chosen by the input on inclusion proofs that a
// peer could send (real proofs with the input's changes to index, leaf
// count, path and leaf): storage::verify_proof, storage::check_delivery (a
// BLOCK_DELIVERY leaf as a session checks it), and a storage::tree_witness
// fed such proofs and candidate digests and asked to prove leaves with some
// of them lost.
// Checks: no crash, leak or UB; soundness: whatever a proof check accepts is
// the real leaf at a real index; every proof tree_witness::prove hands out
// verifies; unchanged proofs of the tree always verify.

#include <cstddef>
#include <cstdint>
#include <variant>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz_check.hpp"
#include "messages/wire/messages.hpp"
#include "storage/delivery_check.hpp"
#include "storage/merkle_tree.hpp"
#include "storage/tree_witness.hpp"

using namespace cairn;

namespace {

digest256 some_digest(FuzzedDataProvider& in) {
  digest256 d{};
  auto b = in.ConsumeBytes<uint8_t>(d.size());
  std::copy(b.begin(), b.end(), d.begin());
  return d;
}

// A proof as a peer could send it: a real one, changed by the input.
merkle_proof make_proof(FuzzedDataProvider& in, const storage::merkle_tree& t) {
  auto n = t.leaves_count();
  merkle_proof p;
  if (auto real = t.proof(in.ConsumeIntegralInRange<uint64_t>(0, n - 1)))
    p = *real;
  switch (in.ConsumeIntegralInRange(0, 6)) {
  case 0:
    break; // unchanged
  case 1:
    p.index = in.ConsumeIntegralInRange<uint64_t>(0, n + 2);
    break;
  case 2:
    p.nleaves = in.ConsumeBool()
                  ? in.ConsumeIntegral<uint64_t>()
                  : in.ConsumeIntegralInRange<uint64_t>(0, 2 * n);
    break;
  case 3:
    if (!p.path.empty())
      p.path.erase(p.path.begin() +
                   in.ConsumeIntegralInRange<size_t>(0, p.path.size() - 1));
    break;
  case 4:
    p.path.insert(p.path.begin() +
                    in.ConsumeIntegralInRange<size_t>(0, p.path.size()),
                  some_digest(in));
    break;
  case 5:
    if (!p.path.empty()) {
      auto& d = p.path[in.ConsumeIntegralInRange<size_t>(0, p.path.size() - 1)];
      d[in.ConsumeIntegralInRange<size_t>(0, d.size() - 1)] ^=
        in.ConsumeIntegralInRange<uint8_t>(1, 255);
    }
    break;
  default:
    p.index = in.ConsumeIntegral<uint64_t>();
    p.nleaves = in.ConsumeIntegral<uint64_t>();
    p.path.resize(in.ConsumeIntegralInRange<size_t>(0, 66));
    for (auto& d : p.path)
      d = some_digest(in);
  }
  return p;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in{data, size};
  auto n = in.ConsumeIntegralInRange<uint64_t>(1, 40);
  std::vector<bytes> blocks;
  std::vector<digest256> leaves;
  for (uint64_t i = 0; i < n; ++i) {
    blocks.push_back(bytes{static_cast<uint8_t>(i), static_cast<uint8_t>(n)});
    leaves.push_back(sha256(blocks.back()));
  }
  auto tree = storage::merkle_tree::build(leaves);
  FUZZ_CHECK(tree);
  cid root{multicodec::codex_root, tree->root()};
  for (uint64_t i = 0; i < n; ++i) {
    auto p = tree->proof(i);
    FUZZ_CHECK(p && storage::verify_proof(leaves[i], *p, root));
  }
  // The leaf a check accepted must be the real one at a real index.
  auto genuine = [&](uint64_t index, const digest256& leaf) {
    return index < n && leaves[index] == leaf;
  };
  storage::tree_witness witness{root, n};
  uint64_t lost_mask = in.ConsumeIntegral<uint64_t>();
  auto lost = [&](uint64_t first, uint64_t end) {
    for (auto i = first; i < end; ++i)
      if (i >= 64 || !(lost_mask >> i & 1))
        return i;
    return end;
  };
  while (in.remaining_bytes() > 0) {
    auto index = in.ConsumeIntegralInRange<uint64_t>(0, n);
    auto leaf =
      in.ConsumeBool() ? leaves[std::min(index, n - 1)] : some_digest(in);
    switch (in.ConsumeIntegralInRange(0, 4)) {
    case 0: {
      auto p = make_proof(in, *tree);
      if (storage::verify_proof(leaf, p, root))
        FUZZ_CHECK(genuine(p.index, leaf));
      break;
    }
    case 1: {
      auto p = make_proof(in, *tree);
      wire::delivery d;
      auto i = std::min(index, n - 1);
      auto body = blocks[i];
      if (in.ConsumeBool() && !body.empty())
        body[0] ^= 1;
      d.addr = block_address{root, p.index};
      d.data = std::make_shared<const bytes>(body);
      d.proof = p;
      if (auto got = storage::check_delivery(d))
        FUZZ_CHECK(genuine(p.index, *got) && *got == sha256(body));
      break;
    }
    case 2: {
      auto p = make_proof(in, *tree);
      if (witness.add_proof(leaf, p))
        FUZZ_CHECK(genuine(p.index, leaf));
      break;
    }
    case 3:
      if (index < n)
        witness.add_candidate(index, leaf);
      break;
    default: {
      auto r = witness.prove(index, leaf, lost);
      if (auto* p = std::get_if<merkle_proof>(&r)) {
        FUZZ_CHECK(p->index == index);
        FUZZ_CHECK(storage::verify_proof(leaf, *p, root));
        FUZZ_CHECK(genuine(index, leaf));
      } else if (auto* need = std::get_if<storage::witness_need>(&r)) {
        FUZZ_CHECK(need->leaf < n);
      }
    }
    }
  }
  return 0;
}
