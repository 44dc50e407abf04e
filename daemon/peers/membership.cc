#include "daemon/peers/membership.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <optional>

#include "common/log.h"

namespace pullcache::peers {
namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto log = componentLogger("peers");
  return log;
}

std::string memberText(const std::string& ip, std::uint16_t port) {
  return config::Endpoint{ip, port}.str();
}

}  // namespace

Result<std::vector<std::string>> systemResolve(const std::string& name) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(name.c_str(), nullptr, &hints, &res);
  if (rc != 0)
    return fail(Errc::kUpstreamUnavailable, "resolving " + name + ": " + gai_strerror(rc));
  std::vector<std::string> out;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    const void* addr =
        a->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
    if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) &&
        ::inet_ntop(a->ai_family, addr, buf, sizeof buf) != nullptr)
      out.emplace_back(buf);
  }
  ::freeaddrinfo(res);
  return out;
}

Membership::Membership(const config::PeersConfig& config, Resolver resolver,
                       metrics::Gauge* members)
    : self_(config.self().str()),
      dns_name_(config.dns_name),
      dns_port_(config.dns_port),
      interval_(config.refresh),
      resolver_(std::move(resolver)),
      members_gauge_(members) {
  std::vector<std::string> initial;
  for (const auto& e : config.static_members) initial.push_back(e.str());
  publish(std::move(initial), dns_name_.empty());
}

Membership::~Membership() { stop(); }

void Membership::publish(std::vector<std::string> members, bool listed) {
  members.push_back(self_);
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  auto v = std::make_shared<View>(View{std::move(members), self_, listed});
  if (members_gauge_ != nullptr) members_gauge_->set(static_cast<double>(v->members.size()));
  std::lock_guard lock(mu_);
  view_ = std::move(v);
}

std::shared_ptr<const View> Membership::view() const {
  std::lock_guard lock(mu_);
  return view_;
}

Result<void> Membership::refresh() {
  if (dns_name_.empty()) return ok();
  auto addrs = resolver_(dns_name_);
  std::optional<Error> failure;
  if (!addrs) {
    failure = addrs.error();
  } else if (addrs.value().empty()) {
    failure = Error{Errc::kUpstreamUnavailable, dns_name_ + " has no addresses"};
  }
  if (failure) {
    bool first = false;
    {
      std::lock_guard lock(mu_);
      first = !last_failed_;
      last_failed_ = true;
    }
    if (first)
      logger()->warn("peer discovery failed, keeping the last view of {} member(s): {}",
                     view()->members.size(), failure->message());
    return *failure;
  }
  std::vector<std::string> members;
  for (const auto& ip : addrs.value()) members.push_back(memberText(ip, dns_port_));
  const bool listed = std::find(members.begin(), members.end(), self_) != members.end();
  const std::size_t before = view()->members.size();
  publish(std::move(members), listed);
  const std::size_t after = view()->members.size();
  bool recovered = false;
  {
    std::lock_guard lock(mu_);
    recovered = last_failed_;
    last_failed_ = false;
  }
  if (before != after || recovered)
    logger()->info("cluster view: {} member(s) from {}", after, dns_name_);
  return ok();
}

void Membership::start() {
  if (dns_name_.empty() || thread_.joinable()) return;
  (void)refresh();
  thread_ = std::thread([this] { loop(); });
}

void Membership::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Membership::loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    (void)refresh();
    lock.lock();
  }
}

}  // namespace pullcache::peers
