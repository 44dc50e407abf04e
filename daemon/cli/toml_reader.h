#pragma once
// A small TOML reader: what the containerd check needs (tables, dotted and quoted keys, basic
// and literal strings, booleans, integers, arrays of strings, comments); anything else (floats,
// dates, inline tables, arrays of tables, nested arrays) is skipped but must still be well
// formed. Pure: text in, document out.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/error.h"

namespace pullcache::cli {

namespace toml {

// A value the check can use; Other stands for any well-formed value it does not look into.
struct Other {
  bool operator==(const Other&) const = default;
};
using Value = std::variant<std::string, bool, std::int64_t, std::vector<std::string>, Other>;

// Every key of the document by its full path (table path + key parts), e.g.
// {"plugins", "io.containerd.grpc.v1.cri", "registry", "config_path"}.
using Path = std::vector<std::string>;

class Document {
 public:
  [[nodiscard]] const Value* find(const Path& path) const;
  [[nodiscard]] std::optional<std::string> string(const Path& path) const;
  [[nodiscard]] std::optional<bool> boolean(const Path& path) const;
  [[nodiscard]] std::optional<std::int64_t> integer(const Path& path) const;
  // Whether any key or table lies at or below `prefix` (a table that is present but empty
  // counts too).
  [[nodiscard]] bool hasAnyUnder(const Path& prefix) const;
  // Whether any key (not just an empty table) lies at or below `prefix`.
  [[nodiscard]] bool hasValuesUnder(const Path& prefix) const;
  [[nodiscard]] const std::map<Path, Value>& values() const { return values_; }

 private:
  friend Result<Document> parse(std::string_view text);
  std::map<Path, Value> values_;
  std::vector<Path> tables_;  // headers seen, in file order
};

// The whole document, or an error naming the line. Duplicate keys are an error (as in TOML and
// in containerd, which refuses to start on them).
Result<Document> parse(std::string_view text);

}  // namespace toml

}  // namespace pullcache::cli
