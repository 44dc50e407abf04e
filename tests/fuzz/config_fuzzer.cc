// The config loader: any YAML gives a Config or a kConfigInvalid error naming what is wrong;
// nothing throws past it.
#include <string>

#include "daemon/config/config.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  std::string yaml(reinterpret_cast<const char*>(data), size);
  auto c = pullcache::config::parseConfig(yaml);
  if (!c) {
    FUZZ_CHECK(c.error().code == pullcache::Errc::kConfigInvalid);
    FUZZ_CHECK(!c.error().detail.empty());
    return 0;
  }
  const auto& cfg = c.value();
  FUZZ_CHECK(!cfg.upstreams.empty());
  FUZZ_CHECK(cfg.threads >= 1 && cfg.threads <= 64);
  FUZZ_CHECK(cfg.cache.low_watermark < cfg.cache.high_watermark);
  FUZZ_CHECK(cfg.limits.max_connections >= 1);
  return 0;
}
