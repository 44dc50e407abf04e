// CurlClient's streaming path against a real socket: the sink runs on the sink executor, a slow
// sink pauses the transfer (the body is not buffered without bound), time paused is not a
// stall while an upstream's silence is, and the completion comes after the sink's last call.
#include "daemon/http/curl_client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "tests/support/run_coro.h"

namespace pullcache::http {
namespace {

using namespace std::chrono_literals;

char patternAt(std::uint64_t i) { return static_cast<char>((i * 131 + (i >> 12)) & 0xff); }

// The largest receive buffer the kernel may grow a TCP socket to (autotuning).
std::uint64_t maxReceiveBuffer() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_rmem");
  std::uint64_t min = 0, def = 0, max = 0;
  in >> min >> def >> max;
  return max > 0 ? max : 6u << 20;
}

// Serves every connection one 200 response of `size` pattern bytes; stalls once for `stall`
// after `stall_at` bytes. Counts the body bytes the kernel accepted (`sent`).
class BodyServer {
 public:
  BodyServer(std::uint64_t size, std::uint64_t stall_at = UINT64_MAX,
             std::chrono::milliseconds stall = 0ms)
      : size_(size), stall_at_(stall_at), stall_(stall) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_fd_, 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~BodyServer() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }
  [[nodiscard]] std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/blob";
  }
  std::atomic<std::uint64_t> sent{0};

 private:
  void serve() {
    while (!stop_) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      int small = 64 * 1024;  // little kernel buffering, so `sent` is close to what was read
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<std::size_t>(n));
      }
      std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size_) +
                         "\r\nConnection: close\r\n\r\n";
      ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
      std::string body(64 * 1024, '\0');
      std::uint64_t pos = 0;
      bool stalled = false;
      while (pos < size_ && !stop_) {
        if (!stalled && pos >= stall_at_) {
          stalled = true;
          for (auto until = std::chrono::steady_clock::now() + stall_;
               !stop_ && std::chrono::steady_clock::now() < until;)
            std::this_thread::sleep_for(10ms);
        }
        const std::uint64_t n = std::min<std::uint64_t>(body.size(), size_ - pos);
        for (std::uint64_t i = 0; i < n; ++i) body[i] = patternAt(pos + i);
        ssize_t w = ::send(fd, body.data(), n, MSG_NOSIGNAL);
        if (w <= 0) break;
        pos += static_cast<std::uint64_t>(w);
        sent = pos;
      }
      ::close(fd);
    }
  }

  const std::uint64_t size_;
  const std::uint64_t stall_at_;
  const std::chrono::milliseconds stall_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Checks the bytes against the pattern; optionally slow (a sleep per `slow_every` bytes), or
// asleep once in its first call, or refusing from byte `refuse_at`.
class CheckingSink final : public BodySink {
 public:
  CheckingSink(asio::thread_pool& pool, const BodyServer* server) : pool_(pool), server_(server) {}
  bool onHeaders(int status, const Headers& /*headers*/) override { return status == 200; }
  bool onData(const char* data, std::size_t size) override {
    in_call_ = true;
    if (gate_) {
      std::unique_lock lock(gate_mu_);
      held_ = true;
      gate_cv_.notify_all();
      gate_cv_.wait(lock, [&] { return !gate_; });
    }
    if (!pool_.get_executor().running_in_this_thread()) off_pool_ = true;
    if (server_ != nullptr) {
      // The server counts a send after it returned: it may lag what arrived here.
      const std::uint64_t sent = server_->sent.load();
      if (sent > received_) max_gap_ = std::max(max_gap_, sent - received_);
    }
    for (std::size_t i = 0; i < size; ++i) {
      if (data[i] != patternAt(received_ + i)) wrong_ = true;
    }
    received_ += size;
    if (first_sleep_.count() > 0) {
      std::this_thread::sleep_for(first_sleep_);
      first_sleep_ = 0ms;
    }
    if (slow_every_ > 0) {
      slow_debt_ += size;
      while (slow_debt_ >= slow_every_) {
        std::this_thread::sleep_for(1ms);
        slow_debt_ -= slow_every_;
      }
    }
    in_call_ = false;
    return received_ < refuse_at_;
  }

  // The first call blocks until release(); waitHeld() returns once it does.
  void hold() { gate_ = true; }
  void waitHeld() {
    std::unique_lock lock(gate_mu_);
    gate_cv_.wait(lock, [&] { return held_; });
  }
  void release() {
    {
      std::lock_guard lock(gate_mu_);
      gate_ = false;
    }
    gate_cv_.notify_all();
  }

  std::atomic<bool> in_call_{false};
  bool off_pool_ = false;
  bool wrong_ = false;
  std::uint64_t received_ = 0;
  std::uint64_t max_gap_ = 0;
  std::uint64_t slow_every_ = 0;
  std::uint64_t slow_debt_ = 0;
  std::uint64_t refuse_at_ = UINT64_MAX;
  std::chrono::milliseconds first_sleep_{0};

 private:
  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  bool gate_ = false;
  bool held_ = false;
  asio::thread_pool& pool_;
  const BodyServer* server_;
};

struct Fixture {
  explicit Fixture(SinkQueue::Limits limits = {}, std::chrono::milliseconds stall = 30s) {
    CurlOptions options;
    options.stall_timeout = stall;
    options.sink_executor = pool.get_executor();
    options.sink_buffer = limits;
    client = std::make_unique<CurlClient>(ioc.get_executor(), options);
  }
  Result<Response> stream(const std::string& url, std::shared_ptr<BodySink> sink) {
    Request request;
    request.url = url;
    return testing::runCoro(ioc, client->stream(request, std::move(sink)));
  }
  asio::io_context ioc;
  asio::thread_pool pool{2};
  std::unique_ptr<CurlClient> client;
};

TEST(CurlClientStream, TheSinkRunsOnTheSinkExecutorAndGetsTheBodyInOrder) {
  BodyServer server(24u << 20);
  Fixture f;
  auto sink = std::make_shared<CheckingSink>(f.pool, nullptr);
  auto r = f.stream(server.url(), sink);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().status, 200);
  EXPECT_EQ(sink->received_, 24u << 20);
  EXPECT_EQ(r.value().body_bytes, 24u << 20);
  EXPECT_FALSE(sink->wrong_);
  EXPECT_FALSE(sink->off_pool_);
}

TEST(CurlClientStream, ASlowSinkPausesTheTransferInsteadOfBufferingTheBody) {
  // Ahead of the sink: the queue's 1 MiB, libcurl's 256 KiB buffer and the two sockets' kernel
  // buffers (the receiver's grows up to tcp_rmem's maximum). Without the pause the server
  // finishes long before the sink, nearly the whole body waiting in memory.
  const std::uint64_t bound = (1u << 20) + (256u << 10) + (1u << 20) + maxReceiveBuffer();
  const std::uint64_t size = 2 * bound + (64u << 20);
  BodyServer server(size);
  Fixture f(SinkQueue::Limits{1u << 20, 256u << 10});
  auto sink = std::make_shared<CheckingSink>(f.pool, &server);
  sink->slow_every_ = 128u << 10;  // about 128 MiB/s: far slower than loopback
  auto r = f.stream(server.url(), sink);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(sink->received_, size);
  EXPECT_FALSE(sink->wrong_);
  EXPECT_LT(sink->max_gap_, bound);
}

TEST(CurlClientStream, TimePausedForTheSinkIsNotAStall) {
  BodyServer server(8u << 20);
  Fixture f(SinkQueue::Limits{256u << 10, 64u << 10}, 1s);
  auto sink = std::make_shared<CheckingSink>(f.pool, nullptr);
  sink->first_sleep_ = 2500ms;  // the disk "hangs" for 2.5 stall periods
  auto r = f.stream(server.url(), sink);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(sink->received_, 8u << 20);
  EXPECT_FALSE(sink->wrong_);
}

TEST(CurlClientStream, AnUpstreamsSilenceIsStillAStall) {
  BodyServer server(8u << 20, 1u << 20, 5s);
  Fixture f(SinkQueue::Limits{}, 1s);
  auto sink = std::make_shared<CheckingSink>(f.pool, nullptr);
  auto r = f.stream(server.url(), sink);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kTimeout) << r.error().message();
  EXPECT_GE(sink->received_, 1u << 20);
  EXPECT_LT(sink->received_, 8u << 20);
}

TEST(CurlClientStream, TheCompletionComesAfterTheSinksLastCall) {
  BodyServer server(1u << 20);
  Fixture f;
  auto sink = std::make_shared<CheckingSink>(f.pool, nullptr);
  sink->slow_every_ = 4u << 10;  // 1 ms per 4 KiB: a quarter of a second in all
  auto r = f.stream(server.url(), sink);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(sink->in_call_.load());
  EXPECT_EQ(sink->received_, 1u << 20);
  EXPECT_EQ(sink.use_count(), 1);  // the client let go of it before completing
}

TEST(CurlClientStream, ARefusalWhilePausedEndsTheTransferAtOnce) {
  BodyServer server(64u << 20);
  Fixture f(SinkQueue::Limits{256u << 10, 64u << 10});
  auto sink = std::make_shared<CheckingSink>(f.pool, nullptr);
  sink->slow_every_ = 64u << 10;  // slow enough for the queue to fill and pause the transfer
  sink->refuse_at_ = 1u << 20;
  auto r = f.stream(server.url(), sink);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kStoreIo) << r.error().message();
  EXPECT_LT(sink->received_, (1u << 20) + (256u << 10) + 1);
}

TEST(CurlClientStream, StoppingTheClientEndsAPausedTransfer) {
  BodyServer server(64u << 20);
  Fixture f(SinkQueue::Limits{256u << 10, 64u << 10});
  auto sink = std::make_shared<CheckingSink>(f.pool, nullptr);
  sink->hold();
  std::thread stopper([&] {
    sink->waitHeld();
    std::this_thread::sleep_for(200ms);  // the queue fills and the transfer pauses
    f.client->stop();
    sink->release();
  });
  auto r = f.stream(server.url(), sink);
  stopper.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUpstreamUnavailable) << r.error().message();
  EXPECT_FALSE(sink->in_call_.load());
}

TEST(CurlClientStream, ASinksRefusalEndsTheTransferAsItsOwnError) {
  BodyServer server(64u << 20);
  Fixture f;
  auto sink = std::make_shared<CheckingSink>(f.pool, nullptr);
  sink->refuse_at_ = 1u << 20;
  auto r = f.stream(server.url(), sink);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kStoreIo) << r.error().message();
  EXPECT_LT(sink->received_, (1u << 20) + (256u << 10) + 1);  // nothing after the refusal
}

}  // namespace
}  // namespace pullcache::http
