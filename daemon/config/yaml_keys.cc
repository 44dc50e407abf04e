#include "daemon/config/yaml_keys.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <vector>

#include "common/units.h"
#include "daemon/config/config_keys.h"

namespace pullcache::config::yaml {
namespace {

std::optional<std::uint64_t> parseWhole(std::string_view text) {
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

// `value` against the bounds of `key`'s row, each read with `parse` (the row's text is also what
// the message quotes). A bound that does not parse is a bug in the table: config_keys_test.
template <typename Parse>
Result<void> withinBounds(const std::string& key, std::uint64_t value, Parse parse) {
  const ConfigKey* row = findKey(key);
  if (row == nullptr) return ok();
  const auto lo = row->min.empty() ? std::nullopt : parse(row->min);
  const auto hi = row->max.empty() ? std::nullopt : parse(row->max);
  if ((lo && value < *lo) || (hi && value > *hi)) {
    if (lo && hi)
      return keyError(key,
                      "must be between " + std::string(row->min) + " and " + std::string(row->max));
    if (lo) return keyError(key, "must be at least " + std::string(row->min));
    return keyError(key, "must be at most " + std::string(row->max));
  }
  return ok();
}

}  // namespace

Error keyError(const std::string& key, const std::string& what) {
  return Error{Errc::kConfigInvalid, key + ": " + what};
}

// `where` names the node in messages ("upstreams[2]"); `section` is its path in the key table
// ("upstreams[]"), which says what may appear in it.
Result<void> checkKeys(const YAML::Node& node, const std::string& where, std::string_view section) {
  const std::vector<std::string_view> allowed = childKeys(section);
  if (!node.IsMap()) return keyError(where.empty() ? "(top level)" : where, "must be a mapping");
  std::vector<std::string> seen;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar())
      return keyError(where.empty() ? "(top level)" : where, "keys must be plain names");
    std::string key = kv.first.as<std::string>();
    // yaml-cpp keeps the first of two equal keys without a word: a silently ignored setting.
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      return keyError(where.empty() ? key : where + "." + key, "appears twice");
    seen.push_back(key);
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string full = where.empty() ? key : where + "." + key;
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return keyError(full, "unknown key (allowed here: " + list + ")");
    }
  }
  return ok();
}

Result<std::string> scalar(const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) return keyError(key, "must be a scalar value");
  return node.as<std::string>();
}

Result<std::chrono::milliseconds> durationKey(const YAML::Node& node, const std::string& key) {
  auto v = scalar(node, key);
  if (!v) return v.error();
  auto d = parseDuration(v.value());
  if (!d) return keyError(key, d.error().detail);
  if (d.value().count() <= 0) return keyError(key, "must be positive");
  auto in =
      withinBounds(key, static_cast<std::uint64_t>(d.value().count()), [](std::string_view t) {
        auto b = parseDuration(t);
        return b ? std::optional<std::uint64_t>(b.value().count()) : std::nullopt;
      });
  if (!in) return in.error();
  return d.value();
}

Result<double> percentKey(const YAML::Node& node, const std::string& key) {
  auto v = scalar(node, key);
  if (!v) return v.error();
  auto s = parseSizeSpec(v.value());
  if (!s || !std::holds_alternative<Percent>(s.value()))
    return keyError(key, "must be a percentage such as \"90%\"");
  return std::get<Percent>(s.value()).value / 100.0;
}

Result<std::uint64_t> integerKey(const YAML::Node& node, const std::string& key) {
  auto v = scalar(node, key);
  if (!v) return v.error();
  const std::string& text = v.value();
  auto n = parseWhole(text);
  if (!n) return keyError(key, "'" + text + "' is not a whole number");
  auto in = withinBounds(key, *n, parseWhole);
  if (!in) return in.error();
  return *n;
}

Result<std::uint64_t> bytesKey(const YAML::Node& node, const std::string& key) {
  auto v = scalar(node, key);
  if (!v) return v.error();
  auto b = parseBytes(v.value());
  if (!b) return keyError(key, b.error().detail);
  auto in = withinBounds(key, b.value(), [](std::string_view t) {
    auto n = parseBytes(std::string(t));
    return n ? std::optional<std::uint64_t>(n.value()) : std::nullopt;
  });
  if (!in) return in.error();
  return b.value();
}

}  // namespace pullcache::config::yaml
