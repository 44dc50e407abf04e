#pragma once
// A scripted UpstreamClient for unit tests of the registry layer: answers by URL, counts calls,
// and streams bodies to sinks in chunks from its own thread (like the real client does), with
// an optional pause between chunks so tests can observe readers joining a fetch in flight.
// Strict: a request for a URL with no script fails the test (kUpstreamUnavailable + recorded).

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemon/http/client.h"

namespace pullcache::testing {

struct ScriptedResponse {
  int status = 200;
  Headers headers;
  std::string body;
  std::size_t chunk = 64 * 1024;
  std::chrono::milliseconds chunk_delay{0};  // per chunk; once before a buffered response
  // Drop the connection after this many body bytes (first attempt only); 0 = never.
  std::size_t drop_after = 0;
  bool honour_range = true;
  // When set, a request without exactly this Authorization gets 401 + `challenge`.
  std::string require_authorization;
  std::string challenge;
  // A bug, not an answer: the request throws std::logic_error (exception-safety tests).
  bool throw_exception = false;
  // No answer: the connection is refused (kUpstreamUnavailable), as from a stopped server.
  bool refuse = false;
};

class FakeUpstreamClient final : public http::Client {
 public:
  explicit FakeUpstreamClient(asio::any_io_executor ex) : ex_(std::move(ex)) {}
  ~FakeUpstreamClient() override;

  void script(const std::string& url, ScriptedResponse response);
  [[nodiscard]] int calls(const std::string& url) const;
  // Body bytes handed to sinks for `url`, over all its requests.
  [[nodiscard]] std::uint64_t bodyBytes(const std::string& url) const;
  [[nodiscard]] std::vector<std::string> unexpected() const;
  [[nodiscard]] std::vector<http::Request> requests() const;
  // Waits for the delivery threads. Before the io_context goes: a thread that has posted its
  // completion still holds an executor that counts as work on that io_context until it ends.
  void join();

  Task<Result<http::Response>> send(http::Request request) override;
  Task<Result<http::Response>> stream(http::Request request,
                                      std::shared_ptr<http::BodySink> sink) override;

 private:
  Task<Result<http::Response>> run(http::Request request, std::shared_ptr<http::BodySink> sink);

  asio::any_io_executor ex_;
  mutable std::mutex mu_;
  std::map<std::string, ScriptedResponse> scripts_;
  std::map<std::string, int> calls_;
  std::map<std::string, std::uint64_t> body_bytes_;
  std::vector<std::string> unexpected_;
  std::vector<http::Request> requests_;
  std::vector<std::thread> threads_;
};

}  // namespace pullcache::testing
