#pragma once
// Runs blocking work (RocksDB writes, fsync, rename, directory scans) on a thread pool and
// resumes the calling coroutine on its own executor (its strand) afterwards.

#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "common/asio.h"

namespace pullcache {

// `fn` runs on `pool`; the coroutine stays suspended until fn has returned.
// GCC 12: pass a named lambda (std::move(work)), never a lambda expression: a prvalue lambda
// argument to a coroutine is destroyed twice by GCC 12's coroutine lowering (seen here).
template <typename Fn, typename R = std::invoke_result_t<Fn>>
Task<R> runBlocking(asio::thread_pool& pool, Fn fn) {
  auto ex = co_await asio::this_coro::executor;
  std::optional<R> result;
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [&pool, &fn, &result, ex](auto handler) mutable {
        asio::post(pool, [&fn, &result, ex, handler = std::move(handler)]() mutable {
          result.emplace(fn());
          asio::post(ex, std::move(handler));
        });
      },
      asio::use_awaitable);
  co_return std::move(*result);
}

}  // namespace pullcache
