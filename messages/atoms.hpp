#pragma once

#include <caf/atom.hpp>

namespace cairn {

// Message tags of Cairn's actor interfaces (CAF atoms are at most 10 chars).

using get_atom = caf::atom_constant<caf::atom("get")>;
using put_atom = caf::atom_constant<caf::atom("put")>;
using delete_atom = caf::atom_constant<caf::atom("delete")>;
using update_atom = caf::atom_constant<caf::atom("update")>;
using ok_atom = caf::atom_constant<caf::atom("ok")>;
using commit_atom = caf::atom_constant<caf::atom("commit")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using has_atom = caf::atom_constant<caf::atom("has")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using space_atom = caf::atom_constant<caf::atom("space")>;
using expire_atom = caf::atom_constant<caf::atom("expire")>;
using pull_atom = caf::atom_constant<caf::atom("pull")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using send_atom = caf::atom_constant<caf::atom("send")>;
using close_atom = caf::atom_constant<caf::atom("close")>;
using timeout_atom = caf::atom_constant<caf::atom("timeout")>;
using peer_up_atom = caf::atom_constant<caf::atom("peer_up")>;
using peer_msg_atom = caf::atom_constant<caf::atom("peer_msg")>;
using peer_down_atom = caf::atom_constant<caf::atom("peer_down")>;
using sent_atom = caf::atom_constant<caf::atom("sent")>;
using connect_atom = caf::atom_constant<caf::atom("connect")>;
using peers_atom = caf::atom_constant<caf::atom("peers")>;
using leaf_atom = caf::atom_constant<caf::atom("leaf")>;
using link_atom = caf::atom_constant<caf::atom("link")>;
using verify_atom = caf::atom_constant<caf::atom("verify")>;
using find_atom = caf::atom_constant<caf::atom("find")>;
using provide_atom = caf::atom_constant<caf::atom("provide")>;
using spr_atom = caf::atom_constant<caf::atom("spr")>;
using udp_atom = caf::atom_constant<caf::atom("udp")>;
using manifest_atom = caf::atom_constant<caf::atom("manifest")>;
using proof_atom = caf::atom_constant<caf::atom("proof")>;
using lost_atom = caf::atom_constant<caf::atom("lost")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using decode_atom = caf::atom_constant<caf::atom("decode")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using crash_atom = caf::atom_constant<caf::atom("crash")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using wants_atom = caf::atom_constant<caf::atom("wants")>;
using local_atom = caf::atom_constant<caf::atom("local")>;
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;

} // namespace cairn
