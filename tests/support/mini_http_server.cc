#include "tests/support/mini_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include "common/url.h"

namespace pullcache::testing {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool writeAll(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

}  // namespace

std::map<std::string, std::string> parseForm(const std::string& text) {
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto amp = text.find('&', pos);
    std::string pair = text.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      std::string k = pair.substr(0, eq);
      std::string v = eq == std::string::npos ? std::string() : pair.substr(eq + 1);
      out[urlDecode(k, true).value_or(k)] = urlDecode(v, true).value_or(v);
    }
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return out;
}

MiniHttpServer::MiniHttpServer(Handler handler, const std::string& bind_ip)
    : handler_(std::move(handler)), bind_ip_(bind_ip) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket failed");
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (::inet_pton(AF_INET, bind_ip_.c_str(), &addr.sin_addr) != 1)
    throw std::runtime_error("bad bind address " + bind_ip_);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0)
    throw std::runtime_error("bind/listen failed");
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { acceptLoop(); });
}

MiniHttpServer::~MiniHttpServer() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
}

void MiniHttpServer::acceptLoop() {
  while (!stopping_) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;
    }
    std::lock_guard lock(mu_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    fds_.push_back(fd);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

void MiniHttpServer::serve(int fd) {
  std::string buf;
  char chunk[16384];
  for (;;) {
    std::size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (buf.size() > 64 * 1024) goto done;
      ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) goto done;
      buf.append(chunk, static_cast<std::size_t>(n));
    }
    {
      MiniRequest req;
      std::string head = buf.substr(0, end);
      buf.erase(0, end + 4);
      std::size_t line_end = head.find("\r\n");
      std::string request_line = head.substr(0, line_end);
      auto sp1 = request_line.find(' ');
      auto sp2 = request_line.rfind(' ');
      if (sp1 == std::string::npos || sp2 == sp1) goto done;
      req.method = request_line.substr(0, sp1);
      req.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
      auto q = req.target.find('?');
      req.path = req.target.substr(0, q);
      if (q != std::string::npos) req.query = req.target.substr(q + 1);
      std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        auto e = head.find("\r\n", pos);
        std::string line = head.substr(pos, e == std::string::npos ? std::string::npos : e - pos);
        pos = e == std::string::npos ? head.size() : e + 2;
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = lower(trim(line.substr(0, colon)));
        std::string value = trim(line.substr(colon + 1));
        auto [it, inserted] = req.headers.emplace(name, value);
        if (!inserted) it->second += "," + value;
      }
      std::size_t length = 0;
      if (req.has("content-length")) length = std::stoul(req.header("content-length"));
      while (buf.size() < length) {
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) goto done;
        buf.append(chunk, static_cast<std::size_t>(n));
      }
      req.body = buf.substr(0, length);
      buf.erase(0, length);
      ++requests_;
      MiniResponse resp = handler_(req);
      const bool head_only = req.method == "HEAD";
      std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " " + reason(resp.status) + "\r\n";
      bool has_length = false;
      for (const auto& [k, v] : resp.headers) {
        if (lower(k) == "content-length") has_length = true;
        out += k + ": " + v + "\r\n";
      }
      if (!has_length) {
        long long n = head_only && resp.head_length >= 0 ? resp.head_length
                                                          : static_cast<long long>(resp.body.size());
        out += "Content-Length: " + std::to_string(n) + "\r\n";
      }
      out += "\r\n";
      if (!head_only) out += resp.body;
      if (!writeAll(fd, out)) goto done;
      if (lower(req.header("connection")) == "close") goto done;
    }
  }
done:
  std::lock_guard lock(mu_);
  fds_.erase(std::remove(fds_.begin(), fds_.end(), fd), fds_.end());
  ::close(fd);
}

}  // namespace pullcache::testing
