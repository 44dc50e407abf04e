#pragma once
// Accepts connections on one endpoint and runs an HTTP session per connection, each on its own
// strand. Keeps a list of live connections so stop() closes every socket. Backs off when the
// process runs out of file descriptors instead of spinning.

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/asio.h"
#include "daemon/config/config.h"
#include "daemon/metrics/metrics.h"
#include "daemon/server/access_log.h"
#include "daemon/server/request_handler.h"

namespace pullcache::server {

struct SessionOptions {
  // The defaults and meanings are config::Limits'.
  std::chrono::milliseconds header_timeout{10'000};  // first byte to end of headers; and the
                                                     // wait for a new connection's first byte
  std::chrono::milliseconds idle_timeout{75'000};    // between keep-alive requests
  std::chrono::milliseconds write_timeout{60'000};   // no write progress for this long: drop
  std::uint64_t max_header_bytes = 16 * 1024;        // request line + headers
  std::size_t max_connections = 4096;                // beyond: a canned 503, then close
  metrics::Metrics* metrics = nullptr;               // counts this listener's requests when set
  metrics::Counter* body_bytes = nullptr;            // counts the body bytes it sends when set
  AccessLogFormat access_log_format = AccessLogFormat::kText;
};

// Live connections: each registers a closer that runs on the connection's own executor.
// Owned by shared_ptr (the listener and every session hold it).
class ConnectionSet : public std::enable_shared_from_this<ConnectionSet> {
 public:
  // A connection's entry, removed when this is destroyed: a session that ends any way at all,
  // an exception included, leaves the set. Declare it after whatever the closer refers to (the
  // stream), so that it goes first.
  class [[nodiscard]] Registration {
   public:
    Registration(std::shared_ptr<ConnectionSet> set, std::uint64_t id) noexcept
        : set_(std::move(set)), id_(id) {}
    ~Registration() {
      if (set_) set_->remove(id_);
    }
    Registration(Registration&& other) noexcept : set_(std::move(other.set_)), id_(other.id_) {}
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
    Registration& operator=(Registration&&) = delete;

   private:
    std::shared_ptr<ConnectionSet> set_;
    std::uint64_t id_;
  };

  // Call on the connection's executor; `closer` runs there too (from closeAll), never after the
  // Registration is gone.
  Registration add(asio::any_io_executor executor, std::function<void()> closer);
  void closeAll();
  [[nodiscard]] std::size_t size() const;

 private:
  void remove(std::uint64_t id);
  struct Entry {
    asio::any_io_executor executor;
    std::function<void()> closer;
  };
  mutable std::mutex mu_;
  std::uint64_t next_ = 1;
  std::unordered_map<std::uint64_t, Entry> entries_;  // guarded by mu_
};

class Listener {
 public:
  // Binds and listens; throws std::system_error if it cannot (start-up only).
  Listener(asio::io_context& ioc, const config::Endpoint& endpoint,
           std::shared_ptr<RequestHandler> handler, SessionOptions options, std::string name);
  ~Listener();

  void start();
  void stop();
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] std::size_t connectionCount() const { return connections_->size(); }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

 private:
  Task<void> acceptLoop();

  asio::io_context& ioc_;
  asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<RequestHandler> handler_;
  SessionOptions options_;
  std::string name_;
  std::uint16_t port_ = 0;
  std::shared_ptr<ConnectionSet> connections_ = std::make_shared<ConnectionSet>();
};

// Runs one HTTP/1.1 connection until it closes (daemon/server/http_session.cc).
Task<void> runSession(asio::ip::tcp::socket socket, std::shared_ptr<RequestHandler> handler,
                      SessionOptions options, std::shared_ptr<ConnectionSet> connections,
                      std::string listener_name);

}  // namespace pullcache::server
