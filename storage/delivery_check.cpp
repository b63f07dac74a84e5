#include "storage/delivery_check.hpp"

#include "messages/error.hpp"
#include "storage/merkle_tree.hpp"

namespace cairn::storage {

caf::expected<digest256> check_delivery(const wire::delivery& d) {
  if (!d.data)
    return make_error(ec::verification_failed, "no data");
  auto digest = sha256(*d.data);
  if (auto* c = std::get_if<cid>(&d.addr)) {
    if (digest != c->digest)
      return make_error(ec::verification_failed,
                        "bytes do not hash to " + c->to_string());
    return digest;
  }
  const auto& a = std::get<block_address>(d.addr);
  if (!d.proof)
    return make_error(ec::verification_failed,
                      "leaf " + to_string(a) + " without proof");
  if (d.proof->index != a.index || !verify_proof(digest, *d.proof, a.tree))
    return make_error(ec::verification_failed,
                      "proof of " + to_string(a) + " fails");
  return digest;
}

} // namespace cairn::storage
