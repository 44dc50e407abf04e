#include "common/http_range.h"

#include <algorithm>
#include <charconv>

namespace pullcache {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::uint64_t> parseNumber(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::string ByteRange::contentRange(std::uint64_t size) const {
  return "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(size);
}

namespace {

std::optional<RangeAsk> parseOneRange(std::string_view spec) {
  spec = trim(spec);
  std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::string_view a = trim(spec.substr(0, dash));
  std::string_view b = trim(spec.substr(dash + 1));
  RangeAsk ask;
  if (a.empty()) {  // suffix range: the last N bytes
    auto n = parseNumber(b);
    if (!n) return std::nullopt;
    ask.suffix = *n;
    return ask;
  }
  ask.first = parseNumber(a);
  if (!ask.first) return std::nullopt;
  if (!b.empty()) {
    ask.last = parseNumber(b);
    if (!ask.last || *ask.last < *ask.first) return std::nullopt;
  }
  return ask;
}

}  // namespace

std::optional<std::vector<RangeAsk>> parseRangeAsks(std::string_view header) {
  header = trim(header);
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() < kUnit.size()) return std::nullopt;
  for (std::size_t i = 0; i < kUnit.size(); ++i) {
    char c = header[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kUnit[i]) return std::nullopt;
  }
  std::string_view specs = header.substr(kUnit.size());
  std::vector<RangeAsk> asks;
  constexpr std::size_t kMaxParsed = 1024;  // beyond any real client; more is an attack
  while (true) {
    std::size_t comma = specs.find(',');
    std::string_view spec = specs.substr(0, comma);
    if (!trim(spec).empty()) {  // RFC 9110: empty list elements are allowed and ignored
      auto ask = parseOneRange(spec);
      if (!ask || asks.size() == kMaxParsed) return std::nullopt;
      asks.push_back(*ask);
    }
    if (comma == std::string_view::npos) break;
    specs.remove_prefix(comma + 1);
  }
  if (asks.empty()) return std::nullopt;
  return asks;
}

std::optional<RangeAsk> parseRangeAsk(std::string_view header) {
  auto asks = parseRangeAsks(header);
  if (!asks || asks->size() != 1) return std::nullopt;  // multi-range: ignore here
  return asks->front();
}

Result<std::vector<ByteRange>> resolveRangeAsks(const std::vector<RangeAsk>& asks,
                                                std::uint64_t size, std::size_t max_ranges) {
  std::vector<ByteRange> ranges;
  for (const auto& ask : asks) {
    auto r = resolveRangeAsk(ask, size);
    if (r) ranges.push_back(r.value());
  }
  if (ranges.empty()) return fail(Errc::kRangeInvalid, "no range is satisfiable");
  if (ranges.size() > max_ranges) return std::vector<ByteRange>{};
  std::vector<ByteRange> sorted = ranges;
  std::sort(sorted.begin(), sorted.end(),
            [](const ByteRange& x, const ByteRange& y) { return x.first < y.first; });
  for (std::size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i].first <= sorted[i - 1].last) return std::vector<ByteRange>{};
  return ranges;
}

Result<ByteRange> resolveRangeAsk(const RangeAsk& ask, std::uint64_t size) {
  if (!ask.first) {
    if (ask.suffix == 0 || size == 0) return fail(Errc::kRangeInvalid, "empty suffix range");
    std::uint64_t len = ask.suffix < size ? ask.suffix : size;
    return ByteRange{size - len, size - 1};
  }
  if (*ask.first >= size) return fail(Errc::kRangeInvalid, "range starts past the end of the blob");
  std::uint64_t last = size - 1;
  if (ask.last && *ask.last < last) last = *ask.last;
  return ByteRange{*ask.first, last};
}

Result<std::optional<ByteRange>> resolveRange(std::string_view header, std::uint64_t size) {
  auto ask = parseRangeAsk(header);
  if (!ask) return std::optional<ByteRange>{};
  auto range = resolveRangeAsk(*ask, size);
  if (!range) return range.error();
  return std::optional<ByteRange>{range.value()};
}

}  // namespace pullcache
