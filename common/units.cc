#include "common/units.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace pullcache {
namespace {

struct NumberAndSuffix {
  double number = 0;
  std::string_view suffix;
};

Result<NumberAndSuffix> split(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  if (i == 0)
    return fail(Errc::kConfigInvalid, "'" + std::string(text) + "' does not start with a number");
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, v);
  if (ec != std::errc() || ptr != text.data() + i || !std::isfinite(v)) {
    return fail(Errc::kConfigInvalid, "'" + std::string(text) + "' is not a number");
  }
  std::string_view suffix = text.substr(i);
  while (!suffix.empty() && suffix.front() == ' ') suffix.remove_prefix(1);
  return NumberAndSuffix{v, suffix};
}

}  // namespace

Result<std::uint64_t> parseBytes(std::string_view text) {
  auto parts = split(text);
  if (!parts) return parts.error();
  struct Unit {
    std::string_view name;
    double factor;
  };
  static constexpr Unit kUnits[] = {
      {"", 1},
      {"B", 1},
      {"KiB", 1024.0},
      {"MiB", 1048576.0},
      {"GiB", 1073741824.0},
      {"TiB", 1099511627776.0},
      {"KB", 1e3},
      {"MB", 1e6},
      {"GB", 1e9},
      {"TB", 1e12},
      {"K", 1024.0},
      {"M", 1048576.0},
      {"G", 1073741824.0},
      {"T", 1099511627776.0},
  };
  for (const auto& u : kUnits) {
    if (parts.value().suffix == u.name) {
      double bytes = parts.value().number * u.factor;
      if (bytes >= static_cast<double>(std::numeric_limits<std::uint64_t>::max())) {
        return fail(Errc::kConfigInvalid, "'" + std::string(text) + "' is too large");
      }
      return static_cast<std::uint64_t>(bytes);
    }
  }
  return fail(Errc::kConfigInvalid,
              "'" + std::string(text) +
                  "' has an unknown size unit (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)");
}

Result<SizeSpec> parseSizeSpec(std::string_view text) {
  if (!text.empty() && text.back() == '%') {
    auto parts = split(text.substr(0, text.size() - 1));
    if (!parts) return parts.error();
    double v = parts.value().number;
    if (!parts.value().suffix.empty() || v <= 0 || v > 100) {
      return fail(Errc::kConfigInvalid,
                  "'" + std::string(text) + "' must be a percentage in (0, 100]");
    }
    return SizeSpec{Percent{v}};
  }
  auto b = parseBytes(text);
  if (!b) return b.error();
  return SizeSpec{b.value()};
}

Result<std::chrono::milliseconds> parseDuration(std::string_view text) {
  auto parts = split(text);
  if (!parts) return parts.error();
  double ms_per_unit;
  std::string_view s = parts.value().suffix;
  if (s == "ms")
    ms_per_unit = 1;
  else if (s == "s" || s.empty())
    ms_per_unit = 1000;
  else if (s == "m")
    ms_per_unit = 60e3;
  else if (s == "h")
    ms_per_unit = 3600e3;
  else if (s == "d")
    ms_per_unit = 86400e3;
  else
    return fail(Errc::kConfigInvalid,
                "'" + std::string(text) + "' has an unknown duration unit (use ms, s, m, h, d)");
  double ms = parts.value().number * ms_per_unit;
  if (ms > 1e15) return fail(Errc::kConfigInvalid, "'" + std::string(text) + "' is too long");
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

std::string formatBytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[unit]);
  return buf;
}

std::string formatAge(std::int64_t seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 120) return std::to_string(seconds) + "s";
  if (seconds < 2 * 3600) return std::to_string(seconds / 60) + "m";
  if (seconds < 2 * 86400) return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}

}  // namespace pullcache
