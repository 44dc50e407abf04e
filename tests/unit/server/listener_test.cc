// The listener and its sessions survive a handler that throws: the client gets a 500 (not
// silence), the connection leaves the connection set, and the listener keeps serving and stops
// cleanly.
#include "daemon/server/listener.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

#include "common/spawn.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace pullcache::server {
namespace {

using namespace std::chrono_literals;

// Throws for every target that contains "throw"; answers 200 "fine" otherwise.
class ThrowingHandler final : public RequestHandler {
 public:
  Task<HttpResponse> handle(HttpRequest request, RequestInfo& /*info*/) override {
    if (request.target.find("throw") != std::string::npos)
      throw std::runtime_error("handler bug for " + request.target);
    HttpResponse r;
    r.body = "fine";
    r.content_length = r.body.size();
    co_return r;
  }
};

class ListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config::Endpoint ep;
    ep.host = "127.0.0.1";
    ep.port = 0;
    listener_ = std::make_unique<Listener>(ioc_, ep, std::make_shared<ThrowingHandler>(),
                                           SessionOptions{}, "test");
    listener_->start();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    listener_->stop();
    work_.reset();
    thread_.join();
    listener_.reset();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(listener_->port()) + path;
  }

  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ioc_);
  std::unique_ptr<Listener> listener_;
  std::thread thread_;
};

TEST_F(ListenerTest, AHandlerThatThrowsGetsA500AndFreesItsConnection) {
  const auto escaped_before = escapedExceptionCount();
  for (int i = 0; i < 20; ++i) {
    auto r = testing::httpGet(url("/throw/" + std::to_string(i)));
    ASSERT_EQ(r.status, 500) << "request " << i;
    EXPECT_EQ(testing::ociErrorCode(r.body), "UNKNOWN");
  }
  EXPECT_EQ(escapedExceptionCount() - escaped_before, 20u);
  EXPECT_TRUE(testing::waitFor([&] { return listener_->connectionCount() == 0; }, 5s))
      << listener_->connectionCount() << " connections still listed";
  auto ok = testing::httpGet(url("/fine"));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "fine");
}

}  // namespace
}  // namespace pullcache::server
