#pragma once
// Between the client's network thread and a streaming BodySink: the network thread hands over
// the headers and each body chunk without waiting; the sink takes them in order on a strand of
// its own (where its disk writes may block), so a slow disk never stalls other transfers. When
// more than `limits.high` bytes wait, the transfer is paused (offerData says kPause and takes
// nothing) until the sink has worked them down to `limits.low`; then `resume` is called, from
// the sink's strand, and the network thread offers the same bytes again.
//
// The sink's verdict (a false from onHeaders or onData) is final: later chunks are dropped, and
// offerData says kStopped so the transfer aborts. close() runs its callback on the sink's strand
// after the sink's last call, with that verdict; the queue lets go of the sink before that.

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/asio.h"
#include "common/http_message.h"
#include "daemon/http/client.h"

namespace pullcache::http {

class SinkQueue final : public std::enable_shared_from_this<SinkQueue> {
 public:
  struct Limits {
    std::size_t high = 4u << 20;  // waiting bytes at which the transfer pauses (at least 1)...
    std::size_t low = 1u << 20;   // ...and the level at which it resumes (below `high`)
  };
  enum class Offer { kTaken, kPause, kStopped };
  enum class Verdict { kAccepted, kHeadersRejected, kDataRefused };

  // `executor`: where the sink runs (a strand is made on it for this queue).
  SinkQueue(std::shared_ptr<BodySink> sink, const asio::any_io_executor& executor, Limits limits,
            std::function<void()> resume);

  // Network thread. The headers of the final (2xx) response.
  void offerHeaders(int status, const Headers& headers);
  Offer offerData(const char* data, std::size_t size);
  // Network thread: the transfer is over (no more offers). `done` runs on the sink's strand
  // after the sink's last call.
  void close(std::function<void(Verdict)> done);

 private:
  struct Item {
    bool headers = false;
    int status = 0;
    Headers header_fields;
    std::string bytes;
  };
  void scheduleLocked();
  void drain();

  std::shared_ptr<BodySink> sink_;  // used on the strand only; released before `done`
  asio::strand<asio::any_io_executor> strand_;
  const Limits limits_;
  const std::function<void()> resume_;
  std::mutex mu_;
  std::deque<Item> items_;                // guarded by mu_
  std::vector<std::string> spare_;        // guarded by mu_: drained chunks' buffers, for reuse
  std::size_t waiting_ = 0;               // guarded by mu_: body bytes in items_
  bool scheduled_ = false;                // guarded by mu_: a drain is posted or running
  bool paused_ = false;                   // guarded by mu_: the last offer was refused with kPause
  Verdict verdict_ = Verdict::kAccepted;  // guarded by mu_
  std::function<void(Verdict)> done_;     // guarded by mu_
};

}  // namespace pullcache::http
