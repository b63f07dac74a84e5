#pragma once

// Reads of a node's open store from threads other than its owner's.

#include <mutex>
#include <optional>
#include <shared_mutex>
#include <type_traits>
#include <utility>

namespace cairn::storage {

class lmdb_store;

/// Lets other threads read a store that one owner opens, writes and closes:
/// LMDB read transactions are not bound to a thread (`MDB_NOTLS`), so a
/// reader need not ask the owner's thread and wait for it to wake. The owner
/// publishes the store once it is open and withdraws it before closing it;
/// withdrawing waits for the reads in progress, and later reads find no
/// store (their callers fall back to asking the owner).
class store_readers {
public:
  /// Called by the owner once `st` is open.
  void publish(lmdb_store* st) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    store_ = st;
  }

  /// Called by the owner before the store closes.
  void withdraw() {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    store_ = nullptr;
  }

  /// `f(store)` while the store cannot close, or nothing if none is open.
  /// Keep `f` short (one read transaction): the owner's close waits for it.
  template <class F>
  auto read(F&& f) -> std::optional<std::invoke_result_t<F, lmdb_store&>> {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    if (store_ == nullptr)
      return std::nullopt;
    return std::forward<F>(f)(*store_);
  }

private:
  std::shared_mutex mtx_;
  lmdb_store* store_ = nullptr;
};

} // namespace cairn::storage
