#pragma once
// containerd's per-registry mirror configuration (certs.d/<registry>/hosts.toml, see
// containerd docs/hosts.md), written so that containerd asks pullcache first and falls back to
// the registry itself. Pure text functions (tested without a file system) and the file
// operations of `pullcache containerd-config` (install / remove), which are idempotent.
//
// Our entry sits between two marker lines and always comes first (containerd tries hosts in
// file order). A hosts.toml that existed before is kept as hosts.toml.pullcache-backup and its
// entries are merged after ours; removal puts the backup back byte for byte.

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "daemon/config/config.h"

namespace pullcache::cli {

inline constexpr std::string_view kBeginMarker =
    "# BEGIN pullcache (managed by pullcache containerd-config; do not edit)";
inline constexpr std::string_view kEndMarker = "# END pullcache";
inline constexpr std::string_view kBackupSuffix = ".pullcache-backup";

struct HostsEntry {
  std::string dir;     // certs.d sub-directory: a registry host, or "_default"
  std::string server;  // the real registry (fallback); empty for "_default"
};

// Which directories to manage for a config: one per upstream whose match is a literal host
// (server: its url, or https://<host>; Docker Hub: https://registry-1.docker.io), plus
// "_default" when a match is a glob or `all` is set.
std::vector<HostsEntry> hostsEntries(const config::Config& config, bool all);

// The file for `entry`, merged with `existing` (the user's own hosts.toml, or empty): our
// server line unless theirs exists, our block first, then their content minus its server line.
std::string renderHostsToml(const HostsEntry& entry, const std::string& mirror_url,
                            std::string_view existing, std::string_view dial_timeout);

// `text` without our marked block (and without the server line we added, when `ours_only`).
std::string stripOurBlock(std::string_view text);

struct HostsAction {
  std::string path;
  std::string what;  // "written", "unchanged", "merged (backup: ...)", "restored", "removed"
};

Result<std::vector<HostsAction>> installHosts(const std::string& certs_dir,
                                              const std::vector<HostsEntry>& entries,
                                              const std::string& mirror_url,
                                              std::string_view dial_timeout);
Result<std::vector<HostsAction>> removeHosts(const std::string& certs_dir,
                                             const std::vector<HostsEntry>& entries);

struct ContainerdConfigOptions {
  // Where the host's file system is mounted (a container: "/host"); the paths below are host
  // paths, as containerd's config.toml names them.
  std::string host_root;
  std::string certs_dir = "/etc/containerd/certs.d";
  std::string containerd_config = "/etc/containerd/config.toml";
  // containerd's socket, for its version (containerd_check.h); unreachable is fine: the check
  // then judges the config for every version.
  std::string containerd_address = "/run/containerd/containerd.sock";
  std::string mirror_url;  // empty: the config's listen address (wildcards -> loopback)
  std::string dial_timeout = "500ms";
  bool all = false;     // also _default (every registry)
  bool remove = false;  // uninstall: restore backups, remove our files
  bool strict = false;  // exit 1 when containerd's configuration cannot use the mirror
};

// `pullcache containerd-config`: prints one line per file, then the containerd check
// (containerd_check.h): ok lines on stdout, warnings and failures as "pullcache: WARNING: ..."
// on stderr. Exit code: 0 ok, 1 failure, and 1 with `strict` when containerd's configuration
// cannot use the mirror (without `strict` an install never fails on the check).
int containerdConfig(const config::Config& config, const ContainerdConfigOptions& options);

}  // namespace pullcache::cli
