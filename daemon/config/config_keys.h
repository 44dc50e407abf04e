#pragma once
// Every configuration key in one table: its path, its default as written in YAML, and what it
// means. The parser accepts exactly these keys (config.cc asks childKeys() at every level, so a
// key cannot exist in the parser without a row), and the README's configuration table is this
// table (tests/unit/config/config_keys_test.cc checks both, and that each documented default is
// the value the parser really uses).

#include <span>
#include <string_view>
#include <vector>

namespace pullcache::config {

struct ConfigKey {
  // Dotted path from the top of the file: "threads", "cache.max_bytes"; "[]" marks the items of
  // a list: "upstreams[].match".
  std::string_view path;
  // The default as it would be written in YAML ("20%", "60s", "[]"). Empty: there is none, and
  // `meaning` says what leaving the key out does.
  std::string_view default_value;
  // One line for the README's table (Markdown; no '|').
  std::string_view meaning;
  bool required = false;
  // Bounds of a number, duration or size, written as its value is ("1", "100ms", "1KiB"); empty:
  // none that side. The parser enforces them (yaml_keys.h) and the README shows them.
  std::string_view min;
  std::string_view max;
};

// In the order the README lists them: a section's keys together, sections in file order.
std::span<const ConfigKey> configKeys();

// The row of a dotted path ("source_breaker.backoff"), or null.
const ConfigKey* findKey(std::string_view path);

// The names allowed directly under `section`, in table order: "" is the top level, "cache" a
// mapping, "upstreams[]" the items of a list. Empty for a name that is not a section.
std::vector<std::string_view> childKeys(std::string_view section);

}  // namespace pullcache::config
