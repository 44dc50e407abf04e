#pragma once
// Will containerd's CRI plugin consult the hosts.toml pullcache writes? Decided from the node's
// containerd config.toml (text) and containerd's version, as a list of findings, each naming
// the setting to change and where. Three parts:
//
//   toml      a small TOML reader: what the check needs (tables, dotted and quoted keys, basic
//             and literal strings, booleans, integers, arrays of strings, comments); anything
//             else (floats, dates, inline tables, arrays of tables, nested arrays) is skipped
//             but must still be well formed.
//   decision  checkContainerd(facts) -> report. Pure: no file system, no socket.
//   facts     readContainerdFacts(paths): the only I/O (config file, its permissions, the
//             version from containerd's gRPC version API over the socket, else the binary).
//
// The rules (containerd sources, tags v1.6.20 .. v2.2.x):
//   - CRI reads hosts.toml only from registry.config_path. Its section is
//     plugins."io.containerd.grpc.v1.cri".registry in a version 2 file and
//     plugins."io.containerd.cri.v1.images".registry in a version 3 file (containerd 2.x
//     migrates a version 2 file's CRI settings into the version 3 section).
//   - The local pull path splits config_path on ':'; the transfer service (CRI's default from
//     2.1, use_local_image_pull = false) takes it as ONE directory.
//   - 2.1+ falls back to the local pull path, whatever use_local_image_pull says, when the
//     image config has discard_unpacked_layers = true, disable_snapshot_annotations = false,
//     registry mirrors/configs/auths, max_concurrent_downloads != 3 or
//     image_pull_with_sync_fs = true.
//   - 2.2 defaults an empty config_path to "/etc/containerd/certs.d:/etc/docker/certs.d" (when
//     no registry mirrors are set); older versions read no hosts.toml without it.
//   - registry.mirrors together with config_path is refused: the CRI plugin does not load.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/error.h"

namespace pullcache::cli {

// ---- toml -------------------------------------------------------------------------------------

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

// ---- decision ---------------------------------------------------------------------------------

struct ContainerdVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;
  std::string text;  // as reported, e.g. "v2.1.5" or "1.6.20~ds1"
  [[nodiscard]] bool atLeast(int maj, int min) const {
    return major > maj || (major == maj && minor >= min);
  }
};

// "containerd github.com/containerd/containerd/v2 v2.1.5 fcd43222..." (containerd --version),
// "v2.1.5", "1.6.20~ds1": the first token that starts with a digit (after an optional 'v').
std::optional<ContainerdVersion> parseContainerdVersion(std::string_view text);

struct ContainerdFacts {
  std::string config_file;                 // host path, for messages
  std::optional<std::string> config_text;  // nullopt: no such file
  std::string config_error;                // set when the file exists but could not be read
  bool config_writable = true;             // false: no write bit at all, or a read-only mount
  std::optional<ContainerdVersion> version;
  std::string version_source;  // "socket <path>", "binary"; empty when version is unknown
  std::string version_error;   // why no version (for the report)
  std::string certs_dir;       // host path pullcache writes hosts.toml under
};

enum class Severity { kOk, kWarn, kFail };

struct Finding {
  Severity severity = Severity::kOk;
  std::string what;    // short topic: "version", "config_path", "transfer service", ...
  std::string detail;  // what is wrong and the setting to change, with its table
};

struct ContainerdReport {
  std::vector<Finding> findings;
  // The CRI section name the file's version uses, e.g. plugins."io.containerd.cri.v1.images".
  std::string cri_section;
  [[nodiscard]] bool broken() const;  // any kFail: containerd will not use the mirror
  [[nodiscard]] bool warned() const;  // any kWarn
};

ContainerdReport checkContainerd(const ContainerdFacts& facts);

std::string_view severityName(Severity s) noexcept;  // "ok", "warn", "FAIL"

// ---- facts (I/O) ------------------------------------------------------------------------------

struct ContainerdPaths {
  std::string host_root;  // prefix for every path below ("" on the host itself)
  std::string config = "/etc/containerd/config.toml";
  std::string address = "/run/containerd/containerd.sock";
  std::string certs_dir = "/etc/containerd/certs.d";
};

// Reads what checkContainerd needs. The version comes from the gRPC version API on `address`
// (HTTP/2 over the unix socket, 3 s timeout); when that fails and host_root is empty, from
// `containerd --version`. Never fails: what it cannot learn is left unset with a reason.
ContainerdFacts readContainerdFacts(const ContainerdPaths& paths);

// The containerd version from a gRPC answer body (the length-prefixed VersionResponse message).
std::optional<std::string> versionFromGrpcBody(std::string_view body);

}  // namespace pullcache::cli
