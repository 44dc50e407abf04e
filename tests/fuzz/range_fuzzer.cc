// The Range header of blob GETs, single and multi-range, against blob sizes chosen by the input.
#include <cstring>
#include <string_view>

#include "common/http_range.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  if (size < 8) return 0;
  std::uint64_t blob_size = 0;
  std::memcpy(&blob_size, data, 8);
  std::string_view header(reinterpret_cast<const char*>(data + 8), size - 8);
  // Several ranges (multipart/byteranges): each inside the blob, no two overlapping, no more
  // than the limit.
  if (auto asks = pullcache::parseRangeAsks(header)) {
    auto ranges = pullcache::resolveRangeAsks(*asks, blob_size, 16);
    if (ranges) {
      FUZZ_CHECK(ranges.value().size() <= 16);
      for (const auto& x : ranges.value()) {
        FUZZ_CHECK(x.first <= x.last);
        FUZZ_CHECK(x.last < blob_size);
        for (const auto& y : ranges.value())
          FUZZ_CHECK(&x == &y || x.last < y.first || y.last < x.first);
      }
    }
  }
  auto r = pullcache::resolveRange(header, blob_size);
  if (!r || !r.value()) return 0;
  const auto& range = *r.value();
  // A range to serve lies inside the blob: sendfile never reads past its end.
  FUZZ_CHECK(range.first <= range.last);
  FUZZ_CHECK(range.last < blob_size);
  FUZZ_CHECK(range.length() <= blob_size);
  return 0;
}
