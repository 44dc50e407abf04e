// SingleFlight leaves nothing behind: a leader that throws releases the key and its waiters, and
// a waiter gives up on a leader slower than max_wait and does the work itself.
#include "common/single_flight.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "tests/support/run_coro.h"

namespace pullcache {
namespace {

using namespace std::chrono_literals;

struct Shared {
  SingleFlight<int>* flight = nullptr;
  int calls = 0;
  bool throw_first = false;
  std::chrono::milliseconds work_time{0};
};

Task<int> work(Shared* s) {
  const int call = ++s->calls;
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(s->work_time);
  co_await t.async_wait(asio::use_awaitable);
  if (s->throw_first && call == 1) throw std::runtime_error("boom");
  co_return 40 + call;
}

// One caller; records its value, or -1 when the call threw.
Task<void> caller(Shared* s, int* out, int* done) {
  try {
    std::function<Task<int>()> job = [s] { return work(s); };
    const int v = co_await s->flight->run("k", std::move(job));
    *out = v;
  } catch (const std::runtime_error&) {
    *out = -1;
  }
  ++*done;
}

void runUntil(asio::io_context& ioc, const int& done, int n) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  ioc.restart();
  while (done < n && std::chrono::steady_clock::now() < deadline) ioc.run_for(10ms);
  ASSERT_EQ(done, n) << "callers did not finish within 10 s";
}

TEST(SingleFlight, ConcurrentCallersShareOneRun) {
  asio::io_context ioc;
  SingleFlight<int> flight;
  Shared s{&flight, 0, false, 20ms};
  std::vector<int> out(5, 0);
  int done = 0;
  for (auto& o : out) asio::co_spawn(ioc, caller(&s, &o, &done), asio::detached);
  runUntil(ioc, done, 5);
  EXPECT_EQ(s.calls, 1);
  for (int o : out) EXPECT_EQ(o, 41);
  EXPECT_EQ(flight.inflight(), 0u);
}

TEST(SingleFlight, ALeaderThatThrowsReleasesTheKeyAndEveryWaiter) {
  asio::io_context ioc;
  SingleFlight<int> flight;
  Shared s{&flight, 0, true, 20ms};
  std::vector<int> out(4, 0);
  int done = 0;
  for (auto& o : out) asio::co_spawn(ioc, caller(&s, &o, &done), asio::detached);
  runUntil(ioc, done, 4);
  EXPECT_EQ(s.calls, 1);
  for (int o : out) EXPECT_EQ(o, -1) << "every caller sees the leader's exception";
  EXPECT_EQ(flight.inflight(), 0u) << "the key is free again";
  // The next caller starts afresh and succeeds.
  int next = 0;
  done = 0;
  asio::co_spawn(ioc, caller(&s, &next, &done), asio::detached);
  runUntil(ioc, done, 1);
  EXPECT_EQ(next, 42);
}

TEST(SingleFlight, AWaiterStopsWaitingForAStuckLeaderAfterMaxWait) {
  asio::io_context ioc;
  SingleFlight<int> flight(50ms);
  Shared s{&flight, 0, false, 0ms};
  // The leader's work takes 2 s; the waiter runs its own after 50 ms.
  int leader = 0, waiter = 0, done = 0;
  s.work_time = 2s;
  asio::co_spawn(ioc, caller(&s, &leader, &done), asio::detached);
  ioc.restart();
  ioc.poll();  // the leader is in its work now
  s.work_time = 0ms;
  asio::co_spawn(ioc, caller(&s, &waiter, &done), asio::detached);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (waiter == 0 && std::chrono::steady_clock::now() < deadline) ioc.run_for(10ms);
  EXPECT_EQ(waiter, 42) << "the waiter ran the work itself";
  EXPECT_EQ(leader, 0) << "while the leader is still at it";
  EXPECT_EQ(flight.bypassed(), 1u);
  runUntil(ioc, done, 2);
  EXPECT_EQ(leader, 41);
}

}  // namespace
}  // namespace pullcache
