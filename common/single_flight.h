#pragma once
// Collapses concurrent identical work: the first caller for a key runs it, every caller that
// arrives while it runs waits and gets a copy of the same result. Used for manifest and tag
// fetches and credential refreshes (the blob path has its own, read-while-write coordinator).
//
// Thread-safe. Waiters park on a timer of their own executor that the leader cancels (posted to
// that executor) when the result is in; the registration happens under the call's mutex after
// checking `done`, so no wake-up is lost.
//
// Nothing stays behind, whatever the work does:
//   - the work throws: the key is released, the exception reaches the leader and every waiter
//     (each rethrows it to its own boundary), and the next caller starts afresh;
//   - the work takes longer than `max_wait`: its waiters stop waiting and one of them runs the
//     work again as a new leader, the others waiting on that one, as nginx's
//     proxy_cache_lock_timeout bypasses a stuck lock holder. Correct because the work is
//     idempotent (a GET); the cost of a bypass is one more upstream request.

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/asio.h"

namespace pullcache {

template <typename T>
class SingleFlight {
 public:
  explicit SingleFlight(std::chrono::milliseconds max_wait = std::chrono::seconds(60))
      : max_wait_(max_wait) {}

  // `work` is called once per overlapping group of callers (plus once more per leader that
  // took longer than max_wait). Call from a strand: waiters are woken through their executor.
  Task<T> run(std::string key, std::function<Task<T>()> work) {
    std::shared_ptr<asio::steady_timer> timer;
    for (;;) {
      std::shared_ptr<Call> call;
      bool leader = false;
      {
        std::lock_guard lock(mu_);
        auto& slot = calls_[key];
        if (!slot) {
          slot = std::make_shared<Call>();
          leader = true;
        }
        call = slot;
      }
      if (leader) {
        std::optional<T> result;
        std::exception_ptr failure;
        try {
          T r = co_await work();
          result.emplace(std::move(r));
        } catch (...) {
          failure = std::current_exception();
        }
        {
          std::lock_guard lock(mu_);
          if (auto it = calls_.find(key); it != calls_.end() && it->second == call)
            calls_.erase(it);
        }
        std::vector<std::shared_ptr<asio::steady_timer>> waiters;
        {
          std::lock_guard lock(call->mu);
          call->done = true;
          call->failure = failure;
          if (result) call->result.emplace(*result);
          waiters.swap(call->waiters);
        }
        for (auto& t : waiters) asio::post(t->get_executor(), [t] { t->cancel(); });
        if (failure) std::rethrow_exception(failure);
        co_return std::move(*result);
      }
      if (!timer) timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
      timer->expires_after(max_wait_);
      {
        std::lock_guard lock(call->mu);
        if (call->done) co_return call->get();
        call->waiters.push_back(timer);
      }
      co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
      {
        std::lock_guard lock(call->mu);
        if (call->done) co_return call->get();
        std::erase(call->waiters, timer);
      }
      // The leader is slower than max_wait: retire its call, so that the first waiter back at
      // the top becomes the new leader and the others join that one (one more request, not
      // one per waiter). The stuck leader's result still reaches its own caller.
      {
        std::lock_guard lock(mu_);
        if (auto it = calls_.find(key); it != calls_.end() && it->second == call) calls_.erase(it);
      }
      bypassed_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  [[nodiscard]] std::size_t inflight() const {
    std::lock_guard lock(mu_);
    return calls_.size();
  }
  // Waiters that gave up on a leader slower than max_wait.
  [[nodiscard]] std::uint64_t bypassed() const noexcept {
    return bypassed_.load(std::memory_order_relaxed);
  }

 private:
  struct Call {
    std::mutex mu;
    bool done = false;                                         // guarded by mu
    std::optional<T> result;                                   // guarded by mu
    std::exception_ptr failure;                                // guarded by mu
    std::vector<std::shared_ptr<asio::steady_timer>> waiters;  // guarded by mu
    // With mu held and done set: the result, or the leader's exception again.
    T get() const {
      if (failure) std::rethrow_exception(failure);
      return *result;
    }
  };
  const std::chrono::milliseconds max_wait_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Call>> calls_;  // guarded by mu_
  std::atomic<std::uint64_t> bypassed_{0};
};

}  // namespace pullcache
