#pragma once
// Client on the libcurl multi interface, driven by one dedicated thread.
// Requests are queued from any thread; completions are posted to the awaiting coroutine's
// executor. Blob bodies are handed to a BodySink chunk by chunk through a SinkQueue: the sink
// runs on its own strand (CurlOptions::sink_executor), so the network thread never waits for a
// disk, and a transfer pauses while its sink is behind (memory stays bounded per transfer);
// connections are reused per host by libcurl.

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "daemon/http/client.h"
#include "daemon/http/sink_queue.h"

namespace pullcache::http {

struct CurlOptions {
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds stall_timeout{30'000};
  std::string user_agent = "pullcache";
  long max_redirects = 5;
  long max_host_connections = 32;  // per host:port; transfers beyond it wait for a free one
  // Where streaming sinks run (their disk writes): a pool, a strand per transfer. Unset: the
  // default executor.
  asio::any_io_executor sink_executor;
  SinkQueue::Limits sink_buffer;  // a transfer pauses while its sink is this far behind
};

class CurlClient final : public Client {
 public:
  CurlClient(asio::any_io_executor default_executor, CurlOptions options);
  ~CurlClient()
      override;  // stops the thread; transfers in flight complete with kUpstreamUnavailable

  Task<Result<Response>> send(Request request) override;
  Task<Result<Response>> stream(Request request, std::shared_ptr<BodySink> sink) override;

  void stop();

  struct Transfer;  // internal, public for the C callbacks
  struct Resumes;

 private:
  Task<Result<Response>> start(Request request, std::shared_ptr<BodySink> sink);
  void enqueue(std::unique_ptr<Transfer> transfer);
  void run();
  void finish(Transfer* transfer, int curl_code);

  asio::any_io_executor default_executor_;
  CurlOptions options_;
  void* multi_ = nullptr;  // CURLM*
  std::mutex mu_;
  std::deque<std::unique_ptr<Transfer>> pending_;  // guarded by mu_
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> next_id_{1};
  std::shared_ptr<Resumes> resumes_;
  std::thread thread_;
};

}  // namespace pullcache::http
