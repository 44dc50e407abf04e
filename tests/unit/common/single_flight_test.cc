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
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  ioc.restart();
  while (done < n && std::chrono::steady_clock::now() < deadline) ioc.run_for(10ms);
  ASSERT_EQ(done, n) << "callers did not finish within 20 s";
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

TEST(SingleFlight, WaitersOfAStuckLeaderMakeOneNewLeaderAfterMaxWait) {
  asio::io_context ioc;
  SingleFlight<int> flight(50ms);
  Shared s{&flight, 0, false, 0ms};
  // The leader's work takes 3 s; its waiters give up after 50 ms and one of them leads anew.
  int leader = 0, done = 0;
  s.work_time = 3s;
  asio::co_spawn(ioc, caller(&s, &leader, &done), asio::detached);
  ioc.restart();
  ioc.poll();  // the leader is in its work now
  s.work_time = 20ms;
  std::vector<int> waiters(5, 0);
  for (auto& w : waiters) asio::co_spawn(ioc, caller(&s, &w, &done), asio::detached);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (done < 5 && std::chrono::steady_clock::now() < deadline) ioc.run_for(10ms);
  ASSERT_EQ(done, 5) << "the waiters did not give up on the stuck leader";
  for (int w : waiters) EXPECT_EQ(w, 42) << "served by the one new leader";
  EXPECT_EQ(s.calls, 2) << "one more run, not one per waiter";
  EXPECT_EQ(leader, 0) << "while the stuck leader is still at it";
  EXPECT_EQ(flight.bypassed(), 5u);
  runUntil(ioc, done, 6);
  EXPECT_EQ(leader, 41);
}

}  // namespace
}  // namespace pullcache
