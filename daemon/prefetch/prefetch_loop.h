#pragma once
// cache.prefetch and cache.pin at work: a thread that prefetches every listed image through the
// daemon's registry listener once the daemon serves, then again every interval (a tag may have
// moved), so a new node is warm before its first pod asks.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/image_ref.h"

namespace pullcache::prefetch {

class PrefetchLoop {
 public:
  PrefetchLoop(std::vector<ImageRef> images, std::string registry_url,
               std::chrono::milliseconds interval);
  ~PrefetchLoop();  // stops

  void start();
  void stop();  // cancels the transfer in progress and joins
  // Completed rounds (for tests and logs).
  [[nodiscard]] std::uint64_t rounds() const noexcept { return rounds_.load(); }

 private:
  void loop();

  std::vector<ImageRef> images_;
  std::string registry_url_;
  std::chrono::milliseconds interval_;
  std::atomic<bool> cancel_{false};
  std::atomic<std::uint64_t> rounds_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace pullcache::prefetch
