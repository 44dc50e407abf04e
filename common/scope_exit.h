#pragma once
// Runs a function when the scope ends, however it ends (return, co_return, exception). For
// releasing what a coroutine registered: a connection-set entry, an in-flight entry, a gauge.
//
//   ScopeExit release([&] { connections->remove(id); });
//
// The function must not throw.

#include <utility>

namespace pullcache {

template <typename F>
class [[nodiscard]] ScopeExit {
 public:
  explicit ScopeExit(F f) noexcept : f_(std::move(f)) {}
  ~ScopeExit() { f_(); }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;

 private:
  F f_;
};

}  // namespace pullcache
