#include "daemon/server/listener.h"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <stdexcept>
#include <string>

#include "common/log.h"
#include "common/spawn.h"

namespace pullcache::server {
namespace {

// Over limits.max_connections: answer without a session (no coroutine, no buffers), so an
// overload costs one send(2). 503 makes containerd go to the next host (the registry itself).
void refuseConnection(int fd) {
  static constexpr std::string_view kBody =
      R"({"errors":[{"code":"UNAVAILABLE","message":"too many connections"}]})";
  static const std::string kResponse =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: "
      "1\r\nConnection: close\r\nContent-Length: " +
      std::to_string(kBody.size()) + "\r\n\r\n" + std::string(kBody);
  (void)::send(fd, kResponse.data(), kResponse.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd, SHUT_WR);
  // Unread request bytes would turn close() into a reset that can destroy the answer in flight.
  char sink[4096];
  while (::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
  }
}

}  // namespace

ConnectionSet::Registration ConnectionSet::add(asio::any_io_executor executor,
                                               std::function<void()> closer) {
  std::uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    id = next_++;
    entries_.emplace(id, Entry{std::move(executor), std::move(closer)});
  }
  return Registration(shared_from_this(), id);
}

void ConnectionSet::remove(std::uint64_t id) {
  std::lock_guard lock(mu_);
  entries_.erase(id);
}

std::size_t ConnectionSet::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void ConnectionSet::closeAll() {
  std::vector<std::pair<std::uint64_t, asio::any_io_executor>> targets;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : entries_) targets.emplace_back(id, e.executor);
  }
  for (auto& [id, ex] : targets) {
    // Runs on the connection's strand; the session removes itself on that same strand, so the
    // entry (and the socket the closer refers to) is alive whenever it is still listed.
    asio::post(ex, [self = shared_from_this(), id = id] {
      std::lock_guard lock(self->mu_);
      auto it = self->entries_.find(id);
      if (it != self->entries_.end()) it->second.closer();
    });
  }
}

Listener::Listener(asio::io_context& ioc, const config::Endpoint& endpoint,
                   std::shared_ptr<RequestHandler> handler, SessionOptions options,
                   std::string name)
    : ioc_(ioc),
      acceptor_(ioc),
      handler_(std::move(handler)),
      options_(options),
      name_(std::move(name)) {
  // Start-up: a failure is an exception that names the listener and its address, so the
  // operator reads "registry listener 127.0.0.1:5000: Address already in use", not Asio's
  // source location.
  const asio::ip::tcp::endpoint ep(asio::ip::make_address(endpoint.host), endpoint.port);
  boost::system::error_code ec;
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error(name_ + " listener " + endpoint.host + ":" +
                             std::to_string(endpoint.port) + ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
}

Listener::~Listener() = default;

void Listener::start() {
  asio::co_spawn(acceptor_.get_executor(), acceptLoop(), LogEscaped("accept loop"));
}

void Listener::stop() {
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
  });
  connections_->closeAll();
}

Task<void> Listener::acceptLoop() {
  auto log = componentLogger("app");
  asio::steady_timer backoff(acceptor_.get_executor());
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(ioc_),
                                                        asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      // EMFILE/ENFILE/ENOBUFS: wait for connections to close rather than spin.
      log->warn("{}: accept failed: {}; backing off", name_, ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (connections_->size() >= options_.max_connections) {
      refuseConnection(socket.native_handle());
      boost::system::error_code ignored;
      socket.close(ignored);
      if (options_.metrics != nullptr) options_.metrics->http_connections_rejected.inc();
      continue;
    }
    boost::system::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    auto ex = socket.get_executor();
    asio::co_spawn(ex, runSession(std::move(socket), handler_, options_, connections_, name_),
                   LogEscaped("http session"));
  }
}

}  // namespace pullcache::server
