#include "actors/deadlines.hpp"

namespace cairn::actors {

uint64_t deadline_book::add(clock::time_point deadline, on_error fn) {
  auto id = next_id_++;
  by_deadline_.emplace(std::make_pair(deadline, id), std::move(fn));
  by_id_.emplace(id, deadline);
  return id;
}

std::optional<deadline_book::on_error> deadline_book::take(uint64_t id) {
  auto i = by_id_.find(id);
  if (i == by_id_.end())
    return std::nullopt;
  auto node = by_deadline_.extract(std::make_pair(i->second, id));
  by_id_.erase(i);
  return std::move(node.mapped());
}

bool deadline_book::settle(uint64_t id) {
  return take(id).has_value();
}

std::vector<deadline_book::on_error>
deadline_book::expire(clock::time_point now) {
  std::vector<on_error> out;
  auto i = by_deadline_.begin();
  for (; i != by_deadline_.end() && i->first.first <= now; ++i) {
    by_id_.erase(i->first.second);
    out.push_back(std::move(i->second));
  }
  by_deadline_.erase(by_deadline_.begin(), i);
  return out;
}

std::optional<deadline_book::clock::time_point>
deadline_book::next_deadline() const {
  if (by_deadline_.empty())
    return std::nullopt;
  return by_deadline_.begin()->first.first;
}

bool deadline_book::arm(clock::time_point deadline) {
  if (armed_ && *armed_ <= deadline)
    return false;
  armed_ = deadline;
  return true;
}

} // namespace cairn::actors
