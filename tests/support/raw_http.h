#pragma once
// Raw-socket HTTP for tests that must send what no HTTP library would (oversized or malformed
// requests, bytes that are not UTF-8, clients that stall) and see exactly what comes back.
#include <chrono>
#include <string>

namespace pullcache::testing {

// A connected socket to 127.0.0.1:port, or -1.
int connectTo(int port);
bool sendRaw(int fd, const std::string& data);

// Everything the server sends until it closes the connection or `deadline` passes.
struct Received {
  std::string data;
  bool closed = false;
};
Received readUntilClosed(int fd, std::chrono::milliseconds deadline);

// One raw request on a new connection; what came back before the server closed it (10 s).
Received exchange(int port, const std::string& request);

}  // namespace pullcache::testing
