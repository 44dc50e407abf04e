// The registry port's limits against hostile or broken clients, over raw sockets: oversized
// request lines and headers, slowloris clients, idle connections, too many connections. Each
// limit answers with its status, and honest clients keep being served meanwhile.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/integration/fixtures.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"
#include "tests/support/raw_http.h"

namespace pullcache::testing {
namespace {

using Clock = std::chrono::steady_clock;

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_unique<RegistryServer>(dir_.sub("registry"));
    registry_->start();
  }
  std::unique_ptr<PullcacheServer> start(const std::string& limits_yaml) {
    PullcacheOptions o;
    o.extra_yaml = "limits:\n" + limits_yaml;
    auto pc = std::make_unique<PullcacheServer>(dir_.sub("pc"), registry_->host(), o);
    pc->start();
    return pc;
  }
  double metric(const PullcacheServer& pc, const std::string& series) {
    auto m = scrapeMetrics(pc);
    auto it = m.find(series);
    return it == m.end() ? 0 : it->second;
  }

  TempDir dir_;
  std::unique_ptr<RegistryServer> registry_;
};

TEST_F(LimitsTest, OversizedRequestLineAndHeadersAreRefusedWithTheirStatus) {
  auto pc = start("  max_header_bytes: 4KiB\n");
  auto r414 = exchange(pc->port(), "GET /v2/" + std::string(8000, 'a') +
                                       "/manifests/v1 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(r414.data.starts_with("HTTP/1.1 414 ")) << r414.data;
  EXPECT_TRUE(r414.closed);
  auto r431 = exchange(pc->port(), "GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                       std::string(8000, 'b') + "\r\n\r\n");
  EXPECT_TRUE(r431.data.starts_with("HTTP/1.1 431 ")) << r431.data;
  EXPECT_TRUE(r431.closed);
  auto r400 = exchange(pc->port(), "GET /v2/ HTTP/1.1\r\nHost: x\r\nBroken header line\r\n\r\n");
  EXPECT_TRUE(r400.data.starts_with("HTTP/1.1 400 ")) << r400.data;
  // Just under the limit is a normal request.
  auto ok = httpRequest("GET", pc->url("/v2/"), {"X-Pad: " + std::string(3000, 'c')});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(metric(*pc, "pullcache_http_client_errors_total{reason=\"uri_too_long\"}"), 1);
  EXPECT_EQ(metric(*pc, "pullcache_http_client_errors_total{reason=\"header_too_large\"}"), 1);
  EXPECT_EQ(metric(*pc, "pullcache_http_client_errors_total{reason=\"malformed\"}"), 1);
}

TEST_F(LimitsTest, SlowlorisClientsAreDroppedWithoutStarvingOthers) {
  auto pc = start("  header_timeout: 1s\n");
  // 50 clients that each start a request and then send one header byte every 200 ms.
  constexpr int kSlow = 50;
  std::vector<int> slow;
  for (int i = 0; i < kSlow; ++i) {
    int fd = connectTo(pc->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(sendRaw(fd, "GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: "));
    slow.push_back(fd);
  }
  std::atomic<bool> stop{false};
  std::thread dripper([&] {
    while (!stop) {
      for (int fd : slow) sendRaw(fd, "a");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  // Honest clients are served while the slow ones hold their connections.
  for (int i = 0; i < 5; ++i) {
    auto r = httpRequest("GET", pc->url("/v2/"), {}, 5'000);
    EXPECT_EQ(r.status, 200) << "request " << i;
  }
  // Every slow client is answered 408 and closed, though it never stopped sending.
  int timed_out = 0;
  for (int fd : slow) {
    auto r = readUntilClosed(fd, std::chrono::seconds(10));
    if (r.closed && r.data.starts_with("HTTP/1.1 408 ")) ++timed_out;
  }
  stop = true;
  dripper.join();
  for (int fd : slow) ::close(fd);
  EXPECT_EQ(timed_out, kSlow);
  EXPECT_EQ(metric(*pc, "pullcache_http_client_errors_total{reason=\"header_timeout\"}"), kSlow);
}

TEST_F(LimitsTest, AConnectionThatSendsNothingIsClosedQuietly) {
  auto pc = start("  header_timeout: 1s\n  idle_timeout: 2s\n");
  int silent = connectTo(pc->port());
  ASSERT_GE(silent, 0);
  auto r = readUntilClosed(silent, std::chrono::seconds(10));
  ::close(silent);
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.data, "") << "nothing was asked, so nothing is answered";
  // A keep-alive connection is kept through one request and dropped after idle_timeout.
  int fd = connectTo(pc->port());
  ASSERT_GE(fd, 0);
  sendRaw(fd, "GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n");
  auto t0 = Clock::now();
  auto k = readUntilClosed(fd, std::chrono::seconds(10));
  ::close(fd);
  EXPECT_TRUE(k.data.starts_with("HTTP/1.1 200 ")) << k.data;
  EXPECT_TRUE(k.closed);
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(1500)) << "the idle timeout, not the header one";
}

TEST_F(LimitsTest, ConnectionsBeyondTheLimitGet503AndTheRestKeepWorking) {
  auto pc = start("  max_connections: 4\n  idle_timeout: 60s\n  header_timeout: 60s\n");
  // Four keep-alive connections, each with one request answered, held open.
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) {
    int fd = connectTo(pc->port());
    ASSERT_GE(fd, 0);
    sendRaw(fd, "GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n");
    char buf[2048];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    ASSERT_TRUE(std::string(buf, static_cast<std::size_t>(n)).starts_with("HTTP/1.1 200"));
    held.push_back(fd);
  }
  auto over = httpRequest("GET", pc->url("/v2/"), {}, 5'000);
  EXPECT_EQ(over.status, 503);
  EXPECT_EQ(ociErrorCode(over.body), "UNAVAILABLE");
  EXPECT_EQ(over.header("retry-after"), "1");
  // A held connection still works.
  sendRaw(held[0], "GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n");
  char buf[2048];
  ssize_t n = ::recv(held[0], buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  EXPECT_TRUE(std::string(buf, static_cast<std::size_t>(n)).starts_with("HTTP/1.1 200"));
  // Once one closes, a new client gets in.
  ::close(held.back());
  held.pop_back();
  int status = 0;
  for (int i = 0; i < 50 && status != 200; ++i) {
    status = httpRequest("GET", pc->url("/v2/"), {}, 5'000).status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status, 200);
  for (int fd : held) ::close(fd);
  EXPECT_GE(metric(*pc, "pullcache_http_connections_rejected_total"), 1);
}

TEST_F(LimitsTest, AClientThatStopsReadingIsDroppedAfterTheWriteTimeout) {
  auto image = writeOciLayout(dir_.sub("layout"), "v1", {{24 << 20, 77}});
  std::string log;
  ASSERT_EQ(pushWithSkopeo(image, registry_->host(), "test/big", &log), 0) << log;
  auto remote = inspectRemote(registry_->host(), "test/big", "v1");
  auto pc = start("  write_timeout: 1s\n");
  const std::string path = "/v2/test/big/blobs/" + remote.layer_digests[0] + "?ns=" +
                           registry_->host();
  ASSERT_EQ(httpGet(pc->url(path)).status, 200);  // cached now: served by sendfile
  int fd = connectTo(pc->port());
  ASSERT_GE(fd, 0);
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sendRaw(fd, "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
  // The client reads nothing; the server's writes stop making progress.
  const std::string open = "pullcache_http_connections";
  EXPECT_TRUE(waitFor([&] { return metric(*pc, open) == 1; }, std::chrono::seconds(5)));
  EXPECT_TRUE(waitFor([&] { return metric(*pc, open) == 0; }, std::chrono::seconds(10)))
      << "the stuck connection was not dropped";
  ::close(fd);
  EXPECT_EQ(httpGet(pc->url("/v2/")).status, 200);
}

TEST_F(LimitsTest, AnUnknownRegistryIsA404SoContainerdGoesToTheRegistryItself) {
  auto pc = start("  max_connections: 100\n");
  auto r = httpGet(pc->url("/v2/library/alpine/manifests/3?ns=evil.example.com"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ociErrorCode(r.body), "NAME_UNKNOWN");
  auto blob = httpGet(pc->url("/v2/library/alpine/blobs/sha256:" + std::string(64, 'a') +
                              "?ns=169.254.169.254"));
  EXPECT_EQ(blob.status, 404);
}

}  // namespace
}  // namespace pullcache::testing
