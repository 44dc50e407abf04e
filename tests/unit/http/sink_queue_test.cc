// SinkQueue on its own: order, the pause/resume levels, a refusal, and close() after the last
// call. The sink runs on a real thread pool; the test plays the network thread.
#include "daemon/http/sink_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <string>
#include <thread>

namespace pullcache::http {
namespace {

using namespace std::chrono_literals;

// Records what it gets; blocks in onData while `hold` is set; refuses from byte `refuse_at`.
class GateSink final : public BodySink {
 public:
  bool onHeaders(int status, const Headers& /*headers*/) override {
    status_ = status;
    return status == 200;
  }
  bool onData(const char* data, std::size_t size) override {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !hold_; });
    if (after_refusal_) ++calls_after_refusal_;
    body_.append(data, size);
    if (body_.size() >= refuse_at_) {
      after_refusal_ = true;
      return false;
    }
    return true;
  }
  void setHold(bool hold) {
    {
      std::lock_guard lock(mu_);
      hold_ = hold;
    }
    cv_.notify_all();
  }
  std::size_t received() {
    std::lock_guard lock(mu_);
    return body_.size();
  }
  std::string body() {
    std::lock_guard lock(mu_);
    return body_;
  }
  std::size_t refuse_at_ = SIZE_MAX;
  int status_ = 0;
  int calls_after_refusal_ = 0;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  bool after_refusal_ = false;
  std::string body_;
};

std::string chunk(char c, std::size_t n) { return std::string(n, c); }

TEST(SinkQueue, PausesAtTheHighLevelAndResumesAtTheLowOne) {
  asio::thread_pool pool(2);
  auto sink = std::make_shared<GateSink>();
  sink->setHold(true);
  std::atomic<int> resumed{0};
  SinkQueue::Limits limits{4u << 20, 1u << 20};
  auto q = std::make_shared<SinkQueue>(sink, pool.get_executor(), limits, [&] { ++resumed; });
  q->offerHeaders(200, Headers());
  const std::size_t mib = 1u << 20;
  for (char c = 'a'; c < 'e'; ++c)
    ASSERT_EQ(q->offerData(chunk(c, mib).data(), mib), SinkQueue::Offer::kTaken);
  // 4 MiB wait (the first is held inside onData, still counted): the fifth is refused, untaken.
  EXPECT_EQ(q->offerData(chunk('e', mib).data(), mib), SinkQueue::Offer::kPause);
  EXPECT_EQ(resumed.load(), 0);
  sink->setHold(false);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (resumed.load() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  ASSERT_EQ(resumed.load(), 1);
  // Resumed at or below the low level: at least 3 of the 4 MiB were written by then.
  EXPECT_GE(sink->received(), 3 * mib);
  // The network thread offers the refused bytes again.
  EXPECT_EQ(q->offerData(chunk('e', mib).data(), mib), SinkQueue::Offer::kTaken);
  std::promise<SinkQueue::Verdict> verdict;
  q->close([&](SinkQueue::Verdict v) { verdict.set_value(v); });
  auto f = verdict.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(f.get(), SinkQueue::Verdict::kAccepted);
  EXPECT_EQ(sink->status_, 200);
  EXPECT_EQ(sink->body(), chunk('a', mib) + chunk('b', mib) + chunk('c', mib) + chunk('d', mib) +
                              chunk('e', mib));
  EXPECT_EQ(resumed.load(), 1);
}

TEST(SinkQueue, ARefusalStopsTheOffersAndResumesAPausedTransfer) {
  asio::thread_pool pool(1);
  auto sink = std::make_shared<GateSink>();
  sink->refuse_at_ = 1;  // the first chunk is refused
  sink->setHold(true);
  std::atomic<int> resumed{0};
  auto q = std::make_shared<SinkQueue>(sink, pool.get_executor(), SinkQueue::Limits{2, 1},
                                       [&] { ++resumed; });
  q->offerHeaders(200, Headers());
  ASSERT_EQ(q->offerData("ab", 2), SinkQueue::Offer::kTaken);
  ASSERT_EQ(q->offerData("cd", 2), SinkQueue::Offer::kPause);
  sink->setHold(false);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (resumed.load() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  ASSERT_EQ(resumed.load(), 1);  // so the transfer learns of the refusal and ends
  EXPECT_EQ(q->offerData("cd", 2), SinkQueue::Offer::kStopped);
  std::promise<SinkQueue::Verdict> verdict;
  q->close([&](SinkQueue::Verdict v) { verdict.set_value(v); });
  auto f = verdict.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(f.get(), SinkQueue::Verdict::kDataRefused);
  EXPECT_EQ(sink->body(), "ab");
  EXPECT_EQ(sink->calls_after_refusal_, 0);
}

TEST(SinkQueue, RejectedHeadersDropTheBodyAndNameTheVerdict) {
  asio::thread_pool pool(1);
  auto sink = std::make_shared<GateSink>();
  auto q = std::make_shared<SinkQueue>(sink, pool.get_executor(), SinkQueue::Limits{}, [] {});
  q->offerHeaders(206, Headers());  // GateSink wants 200
  (void)q->offerData("body", 4);    // may be taken before the strand judged the headers
  std::promise<SinkQueue::Verdict> verdict;
  q->close([&](SinkQueue::Verdict v) { verdict.set_value(v); });
  auto f = verdict.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(f.get(), SinkQueue::Verdict::kHeadersRejected);
  EXPECT_EQ(sink->received(), 0u);
}

// A sink that throws has refused the transfer; the pool thread goes on.
class ThrowingSink final : public BodySink {
 public:
  bool onHeaders(int, const Headers&) override { return true; }
  bool onData(const char*, std::size_t) override { throw std::runtime_error("bug"); }
};

TEST(SinkQueue, ASinkThatThrowsRefusesTheTransfer) {
  asio::thread_pool pool(1);
  auto q = std::make_shared<SinkQueue>(std::make_shared<ThrowingSink>(), pool.get_executor(),
                                       SinkQueue::Limits{}, [] {});
  q->offerHeaders(200, Headers());
  ASSERT_EQ(q->offerData("x", 1), SinkQueue::Offer::kTaken);
  std::promise<SinkQueue::Verdict> verdict;
  q->close([&](SinkQueue::Verdict v) { verdict.set_value(v); });
  auto f = verdict.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(f.get(), SinkQueue::Verdict::kDataRefused);
  // The pool still runs work.
  std::promise<void> ran;
  asio::post(pool, [&] { ran.set_value(); });
  EXPECT_EQ(ran.get_future().wait_for(10s), std::future_status::ready);
}

}  // namespace
}  // namespace pullcache::http
