#pragma once
// A credential or token. Its formatter prints "***", so it can never reach a log line by
// accident; code that really needs the value (an Authorization header) calls reveal().

#include <fmt/format.h>

#include <string>
#include <utility>

namespace pullcache {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  [[nodiscard]] const std::string& reveal() const noexcept { return value_; }
  [[nodiscard]] bool empty() const noexcept { return value_.empty(); }
  friend bool operator==(const Secret&, const Secret&) = default;

 private:
  std::string value_;
};

}  // namespace pullcache

template <>
struct fmt::formatter<pullcache::Secret> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const pullcache::Secret&, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format("***", ctx);
  }
};
