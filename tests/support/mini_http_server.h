#pragma once
// A small blocking HTTP/1.1 server for the tests' fakes of services that cannot run here (the
// AWS endpoints). Deliberately independent of the daemon's server code: a fake that shared the
// daemon's HTTP parsing would share its bugs. Loopback only, port chosen by the kernel, a thread
// per connection, keep-alive, Content-Length bodies (no chunked requests).

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace pullcache::testing {

struct MiniRequest {
  std::string method;
  std::string target;  // as sent: path and query
  std::string path;
  std::string query;                           // without '?'
  std::map<std::string, std::string> headers;  // lowercase names; repeated ones joined by ","
  std::string body;
  [[nodiscard]] std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
  [[nodiscard]] bool has(const std::string& lower_name) const {
    return headers.contains(lower_name);
  }
};

struct MiniResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // For HEAD: the Content-Length to announce (the body is never sent); -1: body.size().
  long long head_length = -1;
};

class MiniHttpServer {
 public:
  using Handler = std::function<MiniResponse(const MiniRequest&)>;
  // Listens on `bind_ip` (an IPv4 literal; loopback unless a test added another address).
  explicit MiniHttpServer(Handler handler, const std::string& bind_ip = "127.0.0.1");
  ~MiniHttpServer();
  MiniHttpServer(const MiniHttpServer&) = delete;
  MiniHttpServer& operator=(const MiniHttpServer&) = delete;

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string hostPort() const { return bind_ip_ + ":" + std::to_string(port_); }
  [[nodiscard]] std::string url() const { return "http://" + hostPort(); }
  // Requests served so far (all paths).
  [[nodiscard]] int requests() const { return requests_.load(); }

 private:
  void acceptLoop();
  void serve(int fd);

  Handler handler_;
  std::string bind_ip_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> fds_;               // open connections; guarded by mu_
  std::vector<std::thread> workers_;   // guarded by mu_
};

// Decodes an application/x-www-form-urlencoded body or a query string into a map.
std::map<std::string, std::string> parseForm(const std::string& text);

}  // namespace pullcache::testing
