#include "messages/error.hpp"

#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>

namespace cairn {

std::string to_string(ec x) {
  switch (x) {
  case ec::none:
    return "none";
  case ec::invalid_cid:
    return "invalid_cid";
  case ec::unsupported_cid:
    return "unsupported_cid";
  case ec::invalid_manifest:
    return "invalid_manifest";
  case ec::verification_failed:
    return "verification_failed";
  case ec::not_found:
    return "not_found";
  case ec::quota_exceeded:
    return "quota_exceeded";
  case ec::storage_io:
    return "storage_io";
  case ec::timeout:
    return "timeout";
  case ec::unavailable:
    return "unavailable";
  case ec::invalid_argument:
    return "invalid_argument";
  case ec::invalid_config:
    return "invalid_config";
  case ec::out_of_range:
    return "out_of_range";
  case ec::shutting_down:
    return "shutting_down";
  case ec::protocol_error:
    return "protocol_error";
  case ec::handshake_failed:
    return "handshake_failed";
  case ec::peer_misbehaved:
    return "peer_misbehaved";
  case ec::injected_fault:
    return "injected_fault";
  case ec::disk_full:
    return "disk_full";
  }
  return "unknown_error";
}

caf::error make_error(ec x) {
  return caf::error{static_cast<uint8_t>(x), error_category};
}

namespace {

// Joins the string and integer elements of an error context with ": ". An
// element made from another error's description starts with that error's
// code; where it is `code` (the outer error's), it is said once, by the
// outer error.
std::string render_context(const caf::message& ctx, const std::string& code) {
  const auto repeated = code + ": ";
  std::string out;
  for (size_t i = 0; i < ctx.size(); ++i) {
    if (!out.empty())
      out += ": ";
    if (ctx.match_element<std::string>(i)) {
      const auto& x = ctx.get_as<std::string>(i);
      out += x.compare(0, repeated.size(), repeated) == 0
               ? x.substr(repeated.size())
               : x;
    } else {
      out += ctx.stringify(i);
    }
  }
  return out;
}

} // namespace

std::string describe(const caf::error& err) {
  if (!err)
    return "ok";
  std::string out;
  if (err.category() == error_category)
    out = to_string(static_cast<ec>(err.code()));
  else if (err.category() == caf::atom("system"))
    out = to_string(static_cast<caf::sec>(err.code()));
  else if (err.category() == caf::atom("exit"))
    out =
      "exit_reason: " + to_string(static_cast<caf::exit_reason>(err.code()));
  else
    out = to_string(err.category()) + ":" + std::to_string(err.code());
  auto ctx = render_context(err.context(), out);
  if (!ctx.empty())
    out += ": " + ctx;
  return out;
}

} // namespace cairn
