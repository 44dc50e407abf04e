#pragma once
#include <atomic>

#include "common/clock.h"

namespace pullcache::testing {

// A clock tests move by hand (tag TTLs, token expiry).
class ManualClock final : public Clock {
 public:
  [[nodiscard]] std::chrono::system_clock::time_point now() const override { return now_.load(); }
  void advance(std::chrono::milliseconds d) { now_ = now_.load() + d; }

 private:
  std::atomic<std::chrono::system_clock::time_point> now_{
      std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000))};
};

}  // namespace pullcache::testing
