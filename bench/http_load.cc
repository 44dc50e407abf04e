// A small closed-loop HTTP/1.1 load generator for what wrk cannot do: HEAD (wrk waits for a
// HEAD response's Content-Length worth of body). Keep-alive connections, one thread each; each
// sends a request, reads the whole response (headers; for GET also Content-Length bytes), and
// sends the next. Prints "<requests/s> <p99 ms> <errors>".
//
//   http_load [--method GET|HEAD] [--connections N] [--seconds S] [--header "K: V"]... URL
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Target {
  std::string host = "127.0.0.1";
  int port = 80;
  std::string path = "/";
};

bool parseUrl(const std::string& url, Target& t) {
  const std::string prefix = "http://";
  if (url.rfind(prefix, 0) != 0) return false;
  std::string rest = url.substr(prefix.size());
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  t.path = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = hostport.rfind(':');
  t.host = hostport.substr(0, colon);
  t.port = colon == std::string::npos ? 80 : std::stoi(hostport.substr(colon + 1));
  return true;
}

int connectTo(const Target& t) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(t.port));
  ::inet_pton(AF_INET, t.host.c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Reads one response; false on a connection error or a non-2xx status.
bool readResponse(int fd, bool head, std::string& buf) {
  char chunk[16384];
  std::size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<std::size_t>(n));
  }
  const bool ok = buf.size() > 9 && buf[9] == '2';
  std::size_t length = 0;
  if (!head) {
    std::string lower = buf.substr(0, end);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    auto p = lower.find("\r\ncontent-length:");
    if (p != std::string::npos) length = std::stoul(lower.substr(p + 17));
  }
  std::size_t need = end + 4 + length;
  while (buf.size() < need) {
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<std::size_t>(n));
  }
  buf.erase(0, need);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::string method = "GET";
  int connections = 32;
  double seconds = 10;
  std::vector<std::string> headers;
  std::string url;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--method" && i + 1 < argc) {
      method = argv[++i];
    } else if (a == "--connections" && i + 1 < argc) {
      connections = std::stoi(argv[++i]);
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::stod(argv[++i]);
    } else if (a == "--header" && i + 1 < argc) {
      headers.emplace_back(argv[++i]);
    } else {
      url = a;
    }
  }
  Target t;
  if (url.empty() || !parseUrl(url, t)) {
    std::fprintf(stderr,
                 "usage: http_load [--method GET|HEAD] [--connections N] [--seconds S] "
                 "[--header \"K: V\"]... http://IP:PORT/PATH\n");
    return 2;
  }
  std::string request = method + " " + t.path + " HTTP/1.1\r\nHost: " + t.host + ":" +
                        std::to_string(t.port) + "\r\n";
  for (const auto& h : headers) request += h + "\r\n";
  request += "\r\n";
  const bool head = method == "HEAD";
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(seconds));
  std::mutex mu;
  std::vector<double> latencies_ms;
  std::atomic<long> errors{0};
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&] {
      std::vector<double> mine;
      mine.reserve(1 << 16);
      int fd = connectTo(t);
      if (fd < 0) ++errors;
      std::string buf;
      while (fd >= 0 && Clock::now() < deadline) {
        auto t0 = Clock::now();
        if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
                static_cast<ssize_t>(request.size()) ||
            !readResponse(fd, head, buf)) {
          ++errors;
          ::close(fd);
          buf.clear();
          fd = connectTo(t);
          continue;
        }
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
      if (fd >= 0) ::close(fd);
      std::lock_guard lock(mu);
      latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
    });
  }
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies_ms.begin(), latencies_ms.end());
  double p99 = latencies_ms.empty()
                   ? 0
                   : latencies_ms[std::min(latencies_ms.size() - 1,
                                           static_cast<std::size_t>(latencies_ms.size() * 0.99))];
  std::printf("%.2f %.3f %ld\n", static_cast<double>(latencies_ms.size()) / elapsed, p99,
              errors.load());
  return 0;
}
