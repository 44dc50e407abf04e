#include "common/http_range.h"

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

Result<std::optional<ByteRange>> resolveRange(std::string_view header, std::uint64_t size) {
  header = trim(header);
  if (header.empty()) return std::optional<ByteRange>{};
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() < kUnit.size()) return std::optional<ByteRange>{};
  for (std::size_t i = 0; i < kUnit.size(); ++i) {
    char c = header[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kUnit[i]) return std::optional<ByteRange>{};
  }
  std::string_view spec = trim(header.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos)
    return std::optional<ByteRange>{};  // multi-range: ignore
  std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return std::optional<ByteRange>{};
  std::string_view a = trim(spec.substr(0, dash));
  std::string_view b = trim(spec.substr(dash + 1));

  if (a.empty()) {  // suffix range: the last N bytes
    auto n = parseNumber(b);
    if (!n) return std::optional<ByteRange>{};
    if (*n == 0 || size == 0) return fail(Errc::kRangeInvalid, "empty suffix range");
    std::uint64_t len = *n < size ? *n : size;
    return std::optional<ByteRange>{ByteRange{size - len, size - 1}};
  }
  auto first = parseNumber(a);
  if (!first) return std::optional<ByteRange>{};
  std::uint64_t last = size == 0 ? 0 : size - 1;
  if (!b.empty()) {
    auto l = parseNumber(b);
    if (!l || *l < *first) return std::optional<ByteRange>{};
    if (*l < last) last = *l;
  }
  if (*first >= size) return fail(Errc::kRangeInvalid, "range starts past the end of the blob");
  return std::optional<ByteRange>{ByteRange{*first, last}};
}

}  // namespace pullcache
