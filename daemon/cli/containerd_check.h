#pragma once
// Will containerd's CRI plugin consult the hosts.toml pullcache writes? Decided from the node's
// containerd config.toml (text) and containerd's version, as a list of findings, each naming
// the setting to change and where. Three parts, a file each:
//
//   toml_reader.h      a small TOML reader (what the check needs of TOML).
//   containerd_check.h (this file) the decision: checkContainerd(facts) -> report. Pure: no
//                      file system, no socket.
//   containerd_facts.h readContainerdFacts(paths): the only I/O (config file, its permissions,
//                      the version from containerd's gRPC version API over the socket, else
//                      the binary).
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
#include "daemon/cli/toml_reader.h"

namespace pullcache::cli {

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

}  // namespace pullcache::cli
