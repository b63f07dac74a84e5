#include "messages/type_ids.hpp"

#include "messages/block.hpp"
#include "messages/cid.hpp"
#include "messages/error.hpp"
#include "messages/interfaces.hpp"
#include "messages/manifest.hpp"
#include "messages/node_info.hpp"
#include "messages/proof.hpp"
#include "messages/sim.hpp"
#include "messages/space.hpp"

namespace cairn {

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<cid>("cairn::cid");
  cfg.add_message_type<block_address>("cairn::block_address");
  cfg.add_message_type<block>("cairn::block");
  cfg.add_message_type<std::vector<block>>("std::vector<cairn::block>");
  cfg.add_message_type<std::vector<cid>>("std::vector<cairn::cid>");
  cfg.add_message_type<digest256>("cairn::digest256");
  cfg.add_message_type<std::vector<digest256>>("std::vector<cairn::digest256>");
  cfg.add_message_type<merkle_proof>("cairn::merkle_proof");
  cfg.add_message_type<manifest>("cairn::manifest");
  cfg.add_message_type<dataset_entry>("cairn::dataset_entry");
  cfg.add_message_type<std::vector<dataset_entry>>(
    "std::vector<cairn::dataset_entry>");
  cfg.add_message_type<space_info>("cairn::space_info");
  cfg.add_message_type<store_check>("cairn::store_check");
  cfg.add_message_type<node_info>("cairn::node_info");
  cfg.add_message_type<sim_upload_result>("cairn::sim_upload_result");
  cfg.add_message_type<sim_download_result>("cairn::sim_download_result");
  cfg.add_message_type<sim_node_stats>("cairn::sim_node_stats");
  cfg.add_message_type<std::vector<sim_node_stats>>(
    "std::vector<cairn::sim_node_stats>");
  cfg.add_error_category(
    error_category, [](uint8_t code, caf::atom_value, const caf::message& ctx) {
      return describe(caf::error{code, error_category, ctx});
    });
}

} // namespace cairn
