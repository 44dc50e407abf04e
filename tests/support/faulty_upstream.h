#pragma once
// Fault injection by wrapping a real upstream: a blocking HTTP/1.1 proxy in front of a real
// registry (Debian's docker-registry) that passes requests through unchanged until a test
// scripts a fault for some of them. Independent of the daemon's HTTP code, like MiniHttpServer.
//
// It listens on 127.0.0.1 (the registry's face) and on 127.0.0.2 (an "object store" that
// redirected blob GETs land on), both loopback. Faults never change a forwarded request; they
// change what pullcache gets back, at a chosen point of the response.

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pullcache::testing {

enum class FaultKind {
  kStatus,             // answer `status` (with Retry-After if set) instead of forwarding
  kResetBeforeHeaders,  // read the request, then reset the connection
  kStallBeforeHeaders,  // read the request, then send nothing until released (then close)
  kStallMidBody,        // forward the headers and half the body, then stall until released
  kResetMidBody,        // forward the headers and half the body, then reset
  kLongContentLength,   // announce 1000 more bytes than the body has, send it, close
  kCorruptBody,         // flip one byte in the middle of the body (same length)
  kRedirectLoop,        // 307 to the very same URL, every time
  kRedirectExpired,     // 307 to the object store, whose pre-signed URL has "expired" (403)
  kRedirectToStore,     // 307 to the object store, which serves the blob (no fault there)
};

struct Fault {
  FaultKind kind = FaultKind::kStatus;
  std::string path_contains;  // applies to requests whose path contains this ("" = all)
  std::string method;         // "" = any
  int times = -1;             // how many matching requests it applies to; -1 = all of them
  int status = 503;                // kStatus
  std::string retry_after;         // kStatus: Retry-After header, if not empty
};

class FaultyUpstream {
 public:
  // `registry_host_port`: the real registry ("127.0.0.1:5001").
  explicit FaultyUpstream(std::string registry_host_port);
  ~FaultyUpstream();
  FaultyUpstream(const FaultyUpstream&) = delete;
  FaultyUpstream& operator=(const FaultyUpstream&) = delete;

  [[nodiscard]] std::string hostPort() const { return "127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] std::string url() const { return "http://" + hostPort(); }

  // Faults are tried in the order added; the first that matches (and has uses left) applies.
  void add(Fault fault);
  void clear();
  // Stalled connections are closed now (and new stalls close at once until clear()).
  void releaseStalls();
  // Down: the port refuses connections (the listening socket is closed); up: it listens again
  // on the same port. Open connections are reset when it goes down.
  void setDown(bool down);

  // Requests seen whose path contains `path_contains` (all ports), and how many of those were
  // forwarded to the registry.
  [[nodiscard]] int requests(const std::string& path_contains) const;
  [[nodiscard]] int forwarded(const std::string& path_contains) const;
  // Most connections that were open at one time on the registry face.
  [[nodiscard]] int maxConcurrentConnections() const { return max_open_.load(); }

 private:
  struct Request;
  struct Decision;
  void acceptLoop(int listen_fd, bool store);
  void serve(int fd, bool store);
  bool handle(int fd, const Request& req, bool store);  // false: close the connection
  Decision decide(const Request& req, bool store);
  bool stall(int fd);
  int listenOn(const std::string& ip, int port);

  std::string registry_;
  int port_ = 0;
  int store_port_ = 0;
  int listen_fd_ = -1;
  int store_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<int> open_{0};
  std::atomic<int> max_open_{0};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;                    // guarded by mu_
  std::vector<Fault> faults_;                // guarded by mu_
  std::vector<std::string> seen_;            // request paths; guarded by mu_
  std::vector<std::string> forwarded_;       // guarded by mu_
  std::map<std::string, int> expired_left_;  // kRedirectExpired uses left per path; mu_
  std::vector<int> conns_;                   // open connections; guarded by mu_
  std::vector<std::thread> threads_;         // guarded by mu_
};

}  // namespace pullcache::testing
