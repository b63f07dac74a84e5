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

size_t open_fds() {
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

size_t recent_open_fds(std::chrono::milliseconds max_age, size_t exact_from) {
  using clock = std::chrono::steady_clock;
  // The last count and when it was taken (ticks of `clock`); two callers
  // racing may both count, which costs only time.
  static std::atomic<size_t> last_count{0};
  static std::atomic<clock::rep> last_at{0};
  auto now = clock::now().time_since_epoch().count();
  auto at = last_at.load(std::memory_order_acquire);
  auto count = last_count.load(std::memory_order_relaxed);
  if (at != 0 && now - at <= clock::duration{max_age}.count() &&
      count < exact_from)
    return count;
  count = open_fds();
  last_count.store(count, std::memory_order_relaxed);
  last_at.store(now, std::memory_order_release);
  return count;
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
