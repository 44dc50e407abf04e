#include "tests/support/faulty_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <stdexcept>

namespace pullcache::testing {

struct FaultyUpstream::Request {
  std::string method;
  std::string target;
  std::string path;
  std::string head;  // request line and headers as received, without the final CRLF CRLF
};

struct FaultyUpstream::Decision {
  bool faulty = false;
  Fault fault;
};

namespace {

bool sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// The connection's close (by serve()) then sends a reset instead of a FIN.
void resetOnClose(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A response as the registry sent it, body de-chunked.
struct Upstream {
  std::string status_line;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool ok = false;
};

std::string dechunk(const std::string& raw) {
  std::string out;
  std::size_t pos = 0;
  while (pos < raw.size()) {
    auto eol = raw.find("\r\n", pos);
    if (eol == std::string::npos) break;
    std::size_t size = std::stoul(raw.substr(pos, eol - pos), nullptr, 16);
    if (size == 0) break;
    out.append(raw, eol + 2, size);
    pos = eol + 2 + size + 2;
  }
  return out;
}

Upstream forward(const std::string& registry, const std::string& head) {
  Upstream up;
  auto colon = registry.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(registry.substr(colon + 1))));
  ::inet_pton(AF_INET, registry.substr(0, colon).c_str(), &addr.sin_addr);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return up;
  }
  // The request as received, but one request per registry connection.
  std::string out;
  std::size_t pos = 0;
  while (pos < head.size()) {
    auto eol = head.find("\r\n", pos);
    std::string line = head.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    pos = eol == std::string::npos ? head.size() : eol + 2;
    if (lower(line).starts_with("connection:")) continue;
    out += line + "\r\n";
  }
  out += "Connection: close\r\n\r\n";
  sendAll(fd, out);
  std::string raw;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  auto end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return up;
  std::size_t line_end = raw.find("\r\n");
  up.status_line = raw.substr(0, line_end);
  bool chunked = false;
  pos = line_end + 2;
  while (pos < end) {
    auto eol = raw.find("\r\n", pos);
    std::string line = raw.substr(pos, eol - pos);
    pos = eol + 2;
    auto c = line.find(':');
    if (c == std::string::npos) continue;
    std::string name = line.substr(0, c);
    std::string value = line.substr(c + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    if (lower(name) == "transfer-encoding") chunked = lower(value) == "chunked";
    up.headers.emplace_back(std::move(name), std::move(value));
  }
  up.body = raw.substr(end + 4);
  if (chunked) up.body = dechunk(up.body);
  up.ok = true;
  return up;
}

std::string serialize(const Upstream& up, bool is_head, long long extra_length) {
  std::string out = up.status_line + "\r\n";
  std::string length;
  for (const auto& [name, value] : up.headers) {
    std::string l = lower(name);
    if (l == "connection" || l == "transfer-encoding") continue;
    if (l == "content-length") {
      length = value;
      continue;
    }
    out += name + ": " + value + "\r\n";
  }
  long long n = is_head && !length.empty() ? std::stoll(length)
                                          : static_cast<long long>(up.body.size());
  out += "Content-Length: " + std::to_string(n + extra_length) + "\r\n\r\n";
  return out;
}

std::string simpleResponse(int status, const std::string& reason,
                           const std::vector<std::string>& headers, const std::string& body) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  for (const auto& h : headers) out += h + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return out;
}

}  // namespace

FaultyUpstream::FaultyUpstream(std::string registry_host_port)
    : registry_(std::move(registry_host_port)) {
  listen_fd_ = listenOn("127.0.0.1", 0);
  store_fd_ = listenOn("127.0.0.2", 0);
  std::lock_guard lock(mu_);
  threads_.emplace_back([this, fd = listen_fd_] { acceptLoop(fd, false); });
  threads_.emplace_back([this, fd = store_fd_] { acceptLoop(fd, true); });
}

FaultyUpstream::~FaultyUpstream() {
  stopping_ = true;
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    released_ = true;
    for (int fd : {listen_fd_, store_fd_}) {
      if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
    }
    for (int fd : conns_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
  for (int fd : {listen_fd_, store_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

int FaultyUpstream::listenOn(const std::string& ip, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 256) != 0)
    throw std::runtime_error("FaultyUpstream: cannot listen on " + ip);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int bound = ntohs(addr.sin_port);
  if (ip == "127.0.0.1") port_ = bound;
  if (ip == "127.0.0.2") store_port_ = bound;
  return fd;
}

void FaultyUpstream::add(Fault fault) {
  std::lock_guard lock(mu_);
  faults_.push_back(std::move(fault));
}

void FaultyUpstream::clear() {
  std::lock_guard lock(mu_);
  faults_.clear();
  expired_left_.clear();
  released_ = false;
}

void FaultyUpstream::releaseStalls() {
  {
    std::lock_guard lock(mu_);
    released_ = true;
  }
  cv_.notify_all();
}

void FaultyUpstream::setDown(bool down) {
  std::lock_guard lock(mu_);
  if (down && listen_fd_ >= 0) {
    ::shutdown(listen_fd_, SHUT_RDWR);  // the accept loop ends and closes it
    listen_fd_ = -1;
    for (int fd : conns_) ::shutdown(fd, SHUT_RDWR);
  } else if (!down && listen_fd_ < 0) {
    listen_fd_ = listenOn("127.0.0.1", port_);
    threads_.emplace_back([this, fd = listen_fd_] { acceptLoop(fd, false); });
  }
}

int FaultyUpstream::requests(const std::string& path_contains) const {
  std::lock_guard lock(mu_);
  return static_cast<int>(std::count_if(seen_.begin(), seen_.end(), [&](const std::string& p) {
    return p.find(path_contains) != std::string::npos;
  }));
}

int FaultyUpstream::forwarded(const std::string& path_contains) const {
  std::lock_guard lock(mu_);
  return static_cast<int>(
      std::count_if(forwarded_.begin(), forwarded_.end(), [&](const std::string& p) {
        return p.find(path_contains) != std::string::npos;
      }));
}

void FaultyUpstream::acceptLoop(int listen_fd, bool store) {
  for (;;) {
    int fd = ::accept(listen_fd, nullptr, nullptr);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      break;
    }
    std::lock_guard lock(mu_);
    if (stopping_) {
      ::close(fd);
      break;
    }
    conns_.push_back(fd);
    threads_.emplace_back([this, fd, store] { serve(fd, store); });
  }
  bool mine = false;
  {
    std::lock_guard lock(mu_);
    mine = !stopping_ && listen_fd != listen_fd_ && listen_fd != store_fd_;
  }
  if (mine) ::close(listen_fd);  // taken down by setDown(true)
}

void FaultyUpstream::serve(int fd, bool store) {
  if (!store) {
    int now = ++open_;
    int prev = max_open_.load();
    while (now > prev && !max_open_.compare_exchange_weak(prev, now)) {
    }
  }
  std::string buffer;
  char chunk[16384];
  bool keep = true;
  while (keep && !stopping_) {
    auto end = buffer.find("\r\n\r\n");
    if (end == std::string::npos) {
      ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      buffer.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    Request req;
    req.head = buffer.substr(0, end);
    buffer.erase(0, end + 4);
    auto sp1 = req.head.find(' ');
    auto sp2 = req.head.find(' ', sp1 + 1);
    req.method = req.head.substr(0, sp1);
    req.target = req.head.substr(sp1 + 1, sp2 - sp1 - 1);
    req.path = req.target.substr(0, req.target.find('?'));
    keep = handle(fd, req, store);
  }
  {
    std::lock_guard lock(mu_);
    conns_.erase(std::remove(conns_.begin(), conns_.end(), fd), conns_.end());
  }
  if (!store) --open_;
  ::close(fd);
}

FaultyUpstream::Decision FaultyUpstream::decide(const Request& req, bool store) {
  std::lock_guard lock(mu_);
  seen_.push_back(req.path);
  Decision d;
  if (store) return d;
  for (auto& f : faults_) {
    if (f.times == 0) continue;
    if (!f.method.empty() && f.method != req.method) continue;
    if (req.path.find(f.path_contains) == std::string::npos) continue;
    if (f.times > 0) --f.times;
    d.faulty = true;
    d.fault = f;
    break;
  }
  return d;
}

bool FaultyUpstream::stall(int fd) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::seconds(120), [this] { return released_ || stopping_.load(); });
  lock.unlock();
  ::shutdown(fd, SHUT_RDWR);
  return false;
}

bool FaultyUpstream::handle(int fd, const Request& req, bool store) {
  const bool is_head = req.method == "HEAD";
  Decision d = decide(req, store);
  std::string head = req.head;
  if (store) {
    // "/store<original path>?expired=0|1": a pre-signed URL that is still good, or not.
    if (req.target.find("expired=1") != std::string::npos) {
      return sendAll(fd, simpleResponse(403, "Forbidden", {"Content-Type: application/xml"},
                                        "<Error><Code>AccessDenied</Code><Message>Request has "
                                        "expired</Message></Error>"));
    }
    std::string original = req.path.substr(std::string_view("/store").size());
    auto line_end = head.find("\r\n");
    head = req.method + " " + original + " HTTP/1.1" + head.substr(line_end);
  }
  if (d.faulty) {
    const Fault& f = d.fault;
    switch (f.kind) {
      case FaultKind::kStatus: {
        std::vector<std::string> h = {"Content-Type: application/json"};
        if (!f.retry_after.empty()) h.push_back("Retry-After: " + f.retry_after);
        std::string body = is_head ? "" : R"({"errors":[{"code":"UNAVAILABLE","message":"fault"}]})";
        return sendAll(fd, simpleResponse(f.status, "Fault", h, body));
      }
      case FaultKind::kResetBeforeHeaders:
        resetOnClose(fd);
        return false;
      case FaultKind::kStallBeforeHeaders:
        return stall(fd);
      case FaultKind::kRedirectLoop:
        return sendAll(fd, simpleResponse(307, "Temporary Redirect",
                                          {"Location: http://" + hostPort() + req.target}, ""));
      case FaultKind::kRedirectExpired:
      case FaultKind::kRedirectToStore: {
        std::string flag = f.kind == FaultKind::kRedirectExpired ? "1" : "0";
        std::string location = "http://127.0.0.2:" + std::to_string(store_port_) + "/store" +
                               req.path + "?X-Amz-Signature=f00d&expired=" + flag;
        return sendAll(fd, simpleResponse(307, "Temporary Redirect", {"Location: " + location},
                                          ""));
      }
      default:
        break;  // faults on a forwarded response
    }
  }
  {
    std::lock_guard lock(mu_);
    forwarded_.push_back(req.path);
  }
  Upstream up = forward(registry_, head);
  if (!up.ok) return sendAll(fd, simpleResponse(502, "Bad Gateway", {}, "registry unreachable"));
  // Body faults hit resumed (206) transfers too.
  const bool body_fault = d.faulty && !is_head && !up.body.empty() &&
                          (up.status_line.find(" 200") != std::string::npos ||
                           up.status_line.find(" 206") != std::string::npos);
  if (!body_fault) return sendAll(fd, serialize(up, is_head, 0) + (is_head ? "" : up.body));
  const std::size_t half = up.body.size() / 2;
  switch (d.fault.kind) {
    case FaultKind::kStallMidBody:
      sendAll(fd, serialize(up, false, 0) + up.body.substr(0, half));
      return stall(fd);
    case FaultKind::kResetMidBody:
      sendAll(fd, serialize(up, false, 0) + up.body.substr(0, half));
      resetOnClose(fd);
      return false;
    case FaultKind::kLongContentLength:
      sendAll(fd, serialize(up, false, 1000) + up.body);
      ::shutdown(fd, SHUT_RDWR);
      return false;
    case FaultKind::kCorruptBody: {
      std::string body = up.body;
      body[half] = static_cast<char>(body[half] ^ 0x5a);
      return sendAll(fd, serialize(up, false, 0) + body);
    }
    default:
      return sendAll(fd, serialize(up, false, 0) + up.body);
  }
}

}  // namespace pullcache::testing
