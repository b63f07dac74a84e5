#include "actors/fd_budget.hpp"

#include <dirent.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace cairn::actors {

size_t raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    auto want = rl;
    want.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0)
      rl = want;
  }
  return static_cast<size_t>(rl.rlim_cur);
}

size_t fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return 0;
  return static_cast<size_t>(rl.rlim_cur);
}

namespace {

size_t list_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr)
    return 0;
  size_t n = 0;
  while (auto* e = ::readdir(dir))
    if (e->d_name[0] != '.')
      ++n;
  ::closedir(dir);
  // The listing's own descriptor is not the node's.
  return n > 0 ? n - 1 : 0;
}

// The last listing: when (steady clock ticks) and what it counted.
std::atomic<int64_t> listed_at{INT64_MIN};
std::atomic<size_t> listed{0};

} // namespace

size_t open_fds(std::chrono::milliseconds max_age) {
  auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  auto age = std::chrono::steady_clock::duration{max_age}.count();
  auto at = listed_at.load(std::memory_order_acquire);
  if (max_age.count() > 0 && at != INT64_MIN && now - at <= age)
    return listed.load(std::memory_order_relaxed);
  auto n = list_fds();
  // Two callers may list at once: either count is a fresh one.
  listed.store(n, std::memory_order_relaxed);
  listed_at.store(now, std::memory_order_release);
  return n;
}

fd_budget make_fd_budget(size_t limit, size_t reserve) {
  fd_budget out;
  if (limit == 0) // unknown: never pause
    return fd_budget{SIZE_MAX, SIZE_MAX};
  out.pause_at = limit - std::min(reserve, limit / 2);
  out.resume_at = out.pause_at - std::clamp<size_t>(out.pause_at / 8, 1, 32);
  return out;
}

} // namespace cairn::actors
