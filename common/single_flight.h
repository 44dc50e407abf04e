#pragma once
// Collapses concurrent identical work: the first caller for a key runs it, every caller that
// arrives while it runs waits and gets a copy of the same result. Used for manifest and tag
// fetches (the blob path has its own, read-while-write coordinator).
//
// Thread-safe. Waiters park on a timer of their own executor that the leader cancels (posted to
// that executor) when the result is in; the registration happens under the call's mutex after
// checking `done`, so no wake-up is lost.

#include <boost/asio/as_tuple.hpp>
#include <chrono>
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
  // `work` is called at most once per overlapping group of callers. It must not throw.
  Task<T> run(std::string key, std::function<Task<T>()> work) {
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
      T result = co_await work();
      {
        std::lock_guard lock(mu_);
        calls_.erase(key);
      }
      std::vector<std::shared_ptr<asio::steady_timer>> waiters;
      {
        std::lock_guard lock(call->mu);
        call->result.emplace(result);
        waiters.swap(call->waiters);
      }
      for (auto& t : waiters) asio::post(t->get_executor(), [t] { t->cancel(); });
      co_return result;
    }
    auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
    timer->expires_at(asio::steady_timer::time_point::max());
    {
      std::lock_guard lock(call->mu);
      if (call->result) co_return *call->result;
      call->waiters.push_back(timer);
    }
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    std::lock_guard lock(call->mu);
    co_return *call->result;
  }

  [[nodiscard]] std::size_t inflight() const {
    std::lock_guard lock(mu_);
    return calls_.size();
  }

 private:
  struct Call {
    std::mutex mu;
    std::optional<T> result;                                   // guarded by mu
    std::vector<std::shared_ptr<asio::steady_timer>> waiters;  // guarded by mu
  };
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Call>> calls_;  // guarded by mu_
};

}  // namespace pullcache
