#include "actors/inspector.hpp"

#include "actors/node_log.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "messages/error.hpp"

namespace cairn::actors {

namespace {

using inspector_ptr = inspector_actor::stateful_pointer<inspector_state>;

// How long a status request may take before the last known status is used.
constexpr auto status_timeout = std::chrono::milliseconds{500};

actor_status describe_entry(inspector_ptr self, const inspected_actor& e,
                            actor_status s) {
  s.name = e.name;
  s.kind = e.kind;
  s.parent = e.parent;
  s.id = e.handle.id();
  auto h = self->state.history->get(e.name);
  s.restarts = h.restarts;
  s.last_error = std::move(h.last_error);
  return s;
}

// Answers a list request once every status is in.
struct list_collector {
  caf::typed_response_promise<std::vector<actor_status>> rp;
  std::vector<actor_status> out;
  size_t pending = 0;

  void add(actor_status s) {
    if (!s.name.empty()) // empty: the actor died meanwhile
      out.push_back(std::move(s));
    if (--pending == 0) {
      std::sort(out.begin(), out.end(),
                [](const auto& a, const auto& b) { return a.name < b.name; });
      rp.deliver(std::move(out));
    }
  }
};

} // namespace

void actor_history::restart_requested(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  names_[name].requested = true;
}

void actor_history::exited(
  const std::string& name, caf::actor_id id, const caf::error& reason,
  const std::function<bool(const std::string&)>& is_live) {
  std::lock_guard<std::mutex> guard{mtx_};
  bool normal = !reason || reason == caf::exit_reason::normal ||
                reason == caf::exit_reason::user_shutdown;
  auto& h = names_[name];
  if (id != 0 && h.last_death == id)
    return;
  h.last_death = id;
  if (!normal) {
    h.died = true;
    if (!h.requested)
      h.last_error = describe(reason);
  }
  // Names of finished sessions and downloads need no history.
  if (normal && !h.died && h.restarts == 0 && h.last_error.empty()) {
    names_.erase(name);
    return;
  }
  if (names_.size() <= max_names || !is_live)
    return;
  for (auto j = names_.begin(); j != names_.end();)
    j = j->first != name && !is_live(j->first) ? names_.erase(j) : std::next(j);
}

void actor_history::registered(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = names_.find(name);
  if (i == names_.end() || !i->second.died)
    return;
  ++i->second.restarts;
  i->second.died = false;
  i->second.requested = false;
}

name_history actor_history::get(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = names_.find(name);
  return i == names_.end() ? name_history{} : i->second;
}

inspector_actor::behavior_type
inspector(inspector_actor::stateful_pointer<inspector_state> self,
          std::shared_ptr<actor_history> history,
          std::shared_ptr<actor_registry> registry) {
  auto& st = self->state;
  st.history = std::move(history);
  st.registry = std::move(registry);
  // What the previous inspector was told of: watch it again (an actor that
  // died meanwhile is reported at once). The previous inspector itself is
  // gone, and its successor is announced by the supervisor.
  for (auto i = st.registry->live.begin(); i != st.registry->live.end();) {
    if (i->second.name == inspector_state::name) {
      i = st.registry->live.erase(i);
      continue;
    }
    self->monitor(i->second.handle);
    ++i;
  }
  // A node that stops needs no registry: drop its handles with the actors.
  self->attach_functor([registry = st.registry](const caf::error& reason) {
    if (registry->log)
      for (auto& [addr, e] : registry->live)
        registry->log->sink->untrack(e.handle.id());
    if (reason == caf::exit_reason::user_shutdown)
      registry->live.clear();
  });
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& live = self->state.registry->live;
    auto i = live.find(dm.source);
    if (i == live.end())
      return;
    auto name = std::move(i->second.name);
    auto id = i->second.handle.id();
    live.erase(i);
    if (self->state.registry->log)
      self->state.registry->log->sink->untrack(id);
    self->state.history->exited(name, id, dm.reason,
                                [&live](const std::string& n) {
                                  for (auto& [addr, e] : live)
                                    if (e.name == n)
                                      return true;
                                  return false;
                                });
  });
  return instrumented<inspector_actor::behavior_type>(
    self, self->state.stats,
    [self](put_atom, const caf::actor& handle, const std::string& name,
           const std::string& kind, const std::string& parent) {
      auto& st = self->state;
      if (!handle)
        return;
      auto [it, fresh] = st.registry->live.try_emplace(handle.address());
      it->second.handle = handle;
      it->second.name = name;
      it->second.kind = kind;
      it->second.parent = parent;
      if (fresh) {
        self->monitor(handle);
        st.history->registered(name);
        if (st.registry->log)
          st.registry->log->sink->track(handle.id(), st.registry->log->node);
      }
    },
    [self](list_atom) -> caf::result<std::vector<actor_status>> {
      auto& st = self->state;
      auto& live = st.registry->live;
      auto c = std::make_shared<list_collector>();
      c->rp = self->make_response_promise<std::vector<actor_status>>();
      auto me = caf::actor_cast<caf::actor>(self);
      bool self_listed = false;
      for (auto& [addr, e] : live)
        self_listed = self_listed || e.handle == me;
      c->pending = live.size() + (self_listed ? 0 : 1);
      auto own = st.stats->snapshot();
      own.name = "inspector";
      own.kind = "event_based";
      own.parent = "node_supervisor";
      own.id = self->id();
      own.mailbox = queued_messages(self);
      st.gauges(own.gauges);
      for (auto& [addr, e] : live) {
        if (e.handle == me) {
          c->add(describe_entry(self, e, own));
          continue;
        }
        auto target = caf::actor_cast<inspectable_actor>(e.handle);
        auto key = addr;
        self
          ->request<caf::message_priority::high>(target, status_timeout,
                                                 status_atom::value)
          .then(
            [self, c, key](actor_status& s) {
              auto& now_live = self->state.registry->live;
              auto i = now_live.find(key);
              if (i == now_live.end()) {
                c->add(std::move(s));
                return;
              }
              i->second.last = s;
              c->add(describe_entry(self, i->second, std::move(s)));
            },
            [self, c, key](caf::error&) {
              auto& now_live = self->state.registry->live;
              auto i = now_live.find(key);
              if (i == now_live.end()) {
                c->add(actor_status{});
                return;
              }
              auto s = describe_entry(self, i->second, i->second.last);
              s.responsive = false;
              c->add(std::move(s));
            });
      }
      if (!self_listed)
        c->add(own);
      return c->rp;
    },
    [self](get_atom, const std::string& name) -> caf::result<caf::actor> {
      for (auto& [addr, e] : self->state.registry->live)
        if (e.name == name)
          return e.handle;
      return make_error(ec::not_found, "no actor named " + name);
    });
}

} // namespace cairn::actors
