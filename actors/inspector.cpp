#include "actors/inspector.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "messages/error.hpp"

namespace cairn::actors {

namespace {

using self_ptr = inspector_actor::stateful_pointer<inspector_state>;

// Names remembered at most (beyond, those without a live actor are dropped).
constexpr size_t max_history = 1024;

// How long a status request may take before the last known status is used.
constexpr auto status_timeout = std::chrono::milliseconds{500};

actor_status describe_entry(self_ptr self, const inspected_actor& e,
                            actor_status s) {
  s.name = e.name;
  s.kind = e.kind;
  s.parent = e.parent;
  s.id = e.handle.id();
  auto h = self->state.history.find(e.name);
  if (h != self->state.history.end()) {
    s.restarts = h->second.restarts;
    s.last_error = h->second.last_error;
  }
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

inspector_actor::behavior_type
inspector(inspector_actor::stateful_pointer<inspector_state> self) {
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    auto i = st.live.find(dm.source);
    if (i == st.live.end())
      return;
    auto& h = st.history[i->second.name];
    bool normal = !dm.reason || dm.reason == caf::exit_reason::normal ||
                  dm.reason == caf::exit_reason::user_shutdown;
    if (!normal) {
      h.died = true;
      h.last_error = describe(dm.reason);
    }
    auto name = i->second.name;
    st.live.erase(i);
    // Sessions and downloads have names of their own: forget the history
    // of names no live actor has once it grows large.
    if (st.history.size() > max_history)
      for (auto h = st.history.begin(); h != st.history.end();) {
        bool live = false;
        for (auto& [addr, e] : st.live)
          live = live || e.name == h->first;
        h = !live && h->first != name ? st.history.erase(h) : std::next(h);
      }
    // Names of finished sessions and downloads need no history.
    if (normal && h.restarts == 0 && h.last_error.empty())
      st.history.erase(name);
  });
  return instrumented<inspector_actor::behavior_type>(
    self, self->state.stats,
    [self](put_atom, const caf::actor& handle, const std::string& name,
           const std::string& kind, const std::string& parent) {
      auto& st = self->state;
      if (!handle)
        return;
      auto [it, fresh] = st.live.try_emplace(handle.address());
      it->second.handle = handle;
      it->second.name = name;
      it->second.kind = kind;
      it->second.parent = parent;
      if (fresh) {
        self->monitor(handle);
        auto& h = st.history[name];
        if (h.died) {
          ++h.restarts;
          h.died = false;
        }
      }
    },
    [self](list_atom) -> caf::result<std::vector<actor_status>> {
      auto& st = self->state;
      auto c = std::make_shared<list_collector>();
      c->rp = self->make_response_promise<std::vector<actor_status>>();
      auto me = caf::actor_cast<caf::actor>(self);
      bool self_listed = false;
      for (auto& [addr, e] : st.live)
        self_listed = self_listed || e.handle == me;
      c->pending = st.live.size() + (self_listed ? 0 : 1);
      auto own = st.stats->snapshot();
      own.name = "inspector";
      own.kind = "event_based";
      own.parent = "node_supervisor";
      own.id = self->id();
      own.mailbox = queued_messages(self);
      st.gauges(own.gauges);
      for (auto& [addr, e] : st.live) {
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
              auto i = self->state.live.find(key);
              if (i == self->state.live.end()) {
                c->add(std::move(s));
                return;
              }
              i->second.last = s;
              c->add(describe_entry(self, i->second, std::move(s)));
            },
            [self, c, key](caf::error&) {
              auto i = self->state.live.find(key);
              if (i == self->state.live.end()) {
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
      for (auto& [addr, e] : self->state.live)
        if (e.name == name)
          return e.handle;
      return make_error(ec::not_found, "no actor named " + name);
    });
}

} // namespace cairn::actors
