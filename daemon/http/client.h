#pragma once
// Outgoing HTTP: registries, token realms, redirect targets (S3, CDNs) and the AWS credential
// APIs. The transport layer below upstream/ (registry requests) and auth/ (tokens, credentials),
// so neither needs the other for it. Implementation: CurlClient (libcurl multi on its own
// thread); tests script it (tests/support/fake_upstream_client.h) or wrap it to inject faults.
//
// An HTTP status is never an error at this layer: Result errors are transport failures
// (kUpstreamUnavailable: connect, DNS, reset, TLS; kTimeout: stall or deadline; kTooLarge).

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/asio.h"
#include "common/error.h"
#include "common/http_message.h"

namespace pullcache::http {

struct Request {
  std::string method = "GET";  // GET or HEAD to registries; POST/PUT for the AWS credential APIs
  std::string url;
  Headers headers;
  std::string body;                   // request body (POST/PUT); sent with Content-Length
  std::uint64_t max_body = 4u << 20;  // buffered responses: larger bodies fail with kTooLarge
  bool follow_redirects = true;
  std::chrono::milliseconds timeout{0};  // whole request; 0 = only the stall timeout applies
  std::chrono::milliseconds connect_timeout{0};  // 0: the client's own (upstream_timeouts.connect)
  // false: the connection may only go to a public address (checked on the resolved address at
  // connect time, so DNS cannot smuggle one in). For redirect targets and token realms.
  bool allow_non_public = true;
  bool no_proxy = false;  // never through a proxy from the environment (peers on the node network)
};

struct Response {
  int status = 0;
  Headers headers;   // of the final response, after redirects
  std::string body;  // buffered body; for streamed 2xx responses: empty
  std::string effective_url;
  std::uint64_t body_bytes = 0;  // bytes received for the final response
};

// Receives the body of a 2xx response in streaming mode: one call at a time, in order, off the
// client's network thread (CurlClient: on a strand of its sink executor, so a call may wait for
// the disk; the transfer pauses while the sink is behind). Must not resume coroutines directly.
// The stream's completion comes after the sink's last call.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // The final response's headers are complete (2xx only). Return false to abort the transfer.
  virtual bool onHeaders(int status, const Headers& headers) = 0;
  // Next body bytes. Return false to abort the transfer.
  virtual bool onData(const char* data, std::size_t size) = 0;
  // The transfer is over, whatever its outcome: the last call (on the same thread as the others).
  virtual void onEnd() {}
  // After a false from either: whether the answer was at fault (its digest, its sizes, its
  // ranges: the sender's failure) rather than the receiver itself (its disk, its memory).
  [[nodiscard]] virtual bool answerAtFault() const { return false; }
};

class Client {
 public:
  virtual ~Client() = default;
  // Buffered request/response.
  virtual Task<Result<Response>> send(Request request) = 0;
  // A 2xx body goes to `sink` (kept alive until completion); any other body is buffered into
  // Response::body, capped at 64 KiB.
  virtual Task<Result<Response>> stream(Request request, std::shared_ptr<BodySink> sink) = 0;
};

}  // namespace pullcache::http
