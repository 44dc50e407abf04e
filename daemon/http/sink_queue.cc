#include "daemon/http/sink_queue.h"

#include <algorithm>

namespace pullcache::http {
namespace {
constexpr int kBatch = 16;                // items per turn on the strand: other sinks get theirs
constexpr std::size_t kSpareBuffers = 4;  // chunk buffers kept for reuse
}  // namespace

SinkQueue::SinkQueue(std::shared_ptr<BodySink> sink, const asio::any_io_executor& executor,
                     Limits limits, std::function<void()> resume)
    : sink_(std::move(sink)),
      strand_(asio::make_strand(executor)),
      limits_{std::max<std::size_t>(limits.high, 1),
              std::min(limits.low, std::max<std::size_t>(limits.high, 1) - 1)},
      resume_(std::move(resume)) {}

void SinkQueue::scheduleLocked() {
  if (scheduled_) return;
  scheduled_ = true;
  asio::post(strand_, [self = shared_from_this()] { self->drain(); });
}

void SinkQueue::offerHeaders(int status, const Headers& headers) {
  Item item;
  item.headers = true;
  item.status = status;
  item.header_fields = headers;
  std::lock_guard lock(mu_);
  items_.push_back(std::move(item));
  scheduleLocked();
}

SinkQueue::Offer SinkQueue::offerData(const char* data, std::size_t size) {
  Item item;
  {
    std::lock_guard lock(mu_);
    if (verdict_ != Verdict::kAccepted) return Offer::kStopped;
    if (waiting_ >= limits_.high) {
      paused_ = true;
      return Offer::kPause;
    }
    if (!spare_.empty()) {
      item.bytes = std::move(spare_.back());
      spare_.pop_back();
    }
  }
  item.bytes.assign(data, size);  // outside the lock: the sink's strand may take items meanwhile
  std::lock_guard lock(mu_);
  waiting_ += size;  // only this thread adds, so the check above still holds
  items_.push_back(std::move(item));
  scheduleLocked();
  return Offer::kTaken;
}

void SinkQueue::close(std::function<void(Verdict)> done) {
  std::lock_guard lock(mu_);
  done_ = std::move(done);
  scheduleLocked();
}

void SinkQueue::drain() {
  for (int turn = 0;; ++turn) {
    Item item;
    bool stopped = false;
    {
      std::unique_lock lock(mu_);
      if (!items_.empty() && turn == kBatch) {
        asio::post(strand_, [self = shared_from_this()] { self->drain(); });  // stays scheduled
        return;
      }
      if (items_.empty()) {
        scheduled_ = false;
        if (!done_) return;
        auto done = std::move(done_);
        done_ = nullptr;
        const Verdict verdict = verdict_;
        lock.unlock();
        try {
          sink_->onEnd();
        } catch (...) {  // as below: a sink must not throw
        }
        sink_.reset();  // whoever awaits the transfer holds the last reference now
        done(verdict);
        return;
      }
      item = std::move(items_.front());
      items_.pop_front();
      stopped = verdict_ != Verdict::kAccepted;
    }
    bool ok = true;
    if (!stopped) {
      try {
        ok = item.headers ? sink_->onHeaders(item.status, item.header_fields)
                          : sink_->onData(item.bytes.data(), item.bytes.size());
      } catch (...) {  // a sink must not throw; if one does, it has refused the transfer
        ok = false;
      }
    }
    bool resume = false;
    {
      std::lock_guard lock(mu_);
      if (!item.headers) {
        waiting_ -= item.bytes.size();
        if (spare_.size() < kSpareBuffers) {
          item.bytes.clear();
          spare_.push_back(std::move(item.bytes));
        }
      }
      if (!ok && verdict_ == Verdict::kAccepted)
        verdict_ = item.headers ? Verdict::kHeadersRejected : Verdict::kDataRefused;
      // A refusal resumes too: the next offer says kStopped and the transfer ends.
      if (paused_ && (waiting_ <= limits_.low || verdict_ != Verdict::kAccepted)) {
        paused_ = false;
        resume = true;
      }
    }
    if (resume) resume_();
  }
}

}  // namespace pullcache::http
