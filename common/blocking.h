#pragma once
// Runs blocking work (RocksDB writes, fsync, rename, directory scans) on a thread pool and
// resumes the calling coroutine on its own executor (its strand) afterwards.

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <exception>
#include <functional>
#include <optional>
#include <utility>

#include "common/asio.h"

namespace pullcache {

// GCC 12 copies a brace-initialized temporary (a lambda closure with non-trivial captures, an
// aggregate like Route{...}) bitwise when it becomes a coroutine argument, then destroys both
// copies (double free / use-after-free, seen here under ASan and as crashes in release builds).
// So the work is taken as std::function (a class type, copied correctly), and every closure
// that is passed to a coroutine or to use_awaitable's initiation captures only trivially
// copyable things (pointers, references, integers).
//
// An exception from `fn` does not escape on the pool (that would end the process): it is
// carried back and rethrown in the calling coroutine, to reach its own boundary.
template <typename R>
Task<R> runBlocking(asio::thread_pool& pool, std::function<R()> fn) {
  std::optional<R> result;
  std::exception_ptr failure;
  auto* fn_ptr = &fn;
  auto* result_ptr = &result;
  auto* failure_ptr = &failure;
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      // Only trivially copyable captures here: this closure becomes a coroutine argument inside
      // use_awaitable's initiation (see the GCC 12 note above).
      [&pool, fn_ptr, result_ptr, failure_ptr](auto handler) {
        auto ex = asio::get_associated_executor(handler);
        asio::post(pool, [fn_ptr, result_ptr, failure_ptr, ex,
                          handler = std::move(handler)]() mutable {
          try {
            result_ptr->emplace((*fn_ptr)());
          } catch (...) {
            *failure_ptr = std::current_exception();
          }
          asio::post(ex, std::move(handler));
        });
      },
      asio::use_awaitable);
  if (failure) std::rethrow_exception(failure);
  co_return std::move(*result);
}

}  // namespace pullcache
