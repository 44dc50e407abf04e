#pragma once
// Runs a function when the scope ends, however it ends (return, co_return, exception). For
// releasing what a coroutine registered: a connection-set entry, an in-flight entry, a gauge.
//
//   ScopeExit release([&] { connections->remove(id); });
//
// The function must not throw. dismiss() cancels it (the work was handed on).

#include <utility>

namespace pullcache {

template <typename F>
class [[nodiscard]] ScopeExit {
 public:
  explicit ScopeExit(F f) noexcept : f_(std::move(f)) {}
  ~ScopeExit() {
    if (armed_) f_();
  }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;
  void dismiss() noexcept { armed_ = false; }

 private:
  F f_;
  bool armed_ = true;
};

}  // namespace pullcache
