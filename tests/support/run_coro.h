#pragma once
// Runs a coroutine to completion on a private io_context (unit tests).
#include <exception>
#include <optional>

#include "common/asio.h"

namespace pullcache::testing {

template <typename T>
Task<void> storeResult(Task<T> task, std::optional<T>* out) {
  out->emplace(co_await std::move(task));
}

template <typename T>
T runCoro(asio::io_context& ioc, Task<T> task) {
  std::optional<T> result;
  std::exception_ptr error;
  asio::co_spawn(ioc, storeResult(std::move(task), &result),
                 [&](std::exception_ptr e) { error = e; });
  ioc.restart();
  ioc.run();
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

}  // namespace pullcache::testing
