#include "daemon/cli/containerd_hosts.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "common/fs.h"
#include "daemon/cli/cache_commands.h"
#include "daemon/cli/containerd_check.h"
#include "daemon/cli/containerd_facts.h"

namespace pullcache::cli {
namespace {

std::vector<std::string> lines(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == '\n') {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::string_view trimLeft(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

bool isServerLine(std::string_view line) {
  auto t = trimLeft(line);
  if (!t.starts_with("server")) return false;
  t = trimLeft(t.substr(6));
  return t.starts_with("=");
}

bool isTableLine(std::string_view line) { return trimLeft(line).starts_with("["); }

Result<std::optional<std::string>> readIfExists(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<std::string>{};
  auto text = readFile(path, 1 << 20);
  if (!text) return text.error();
  return std::optional<std::string>{std::move(text).value()};
}

// Write to a temp file in the same directory, fsync, rename over `path`.
Result<void> writeAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".pullcache-tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return systemError(errno, "create " + tmp);
  if (auto w = writeAll(fd.get(), content.data(), content.size()); !w) return w;
  if (::fsync(fd.get()) != 0) return systemError(errno, "fsync " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return systemError(errno, "rename " + tmp);
  return ok();
}

}  // namespace

std::vector<HostsEntry> hostsEntries(const config::Config& config, bool all) {
  std::vector<HostsEntry> out;
  std::set<std::string> seen;
  bool glob = all;
  for (const auto& u : config.upstreams) {
    if (u.match.find('*') != std::string::npos) {
      glob = true;
      continue;
    }
    if (!seen.insert(u.match).second) continue;
    std::string server = u.url;
    if (server.empty())
      server = u.match == "docker.io" ? "https://registry-1.docker.io" : "https://" + u.match;
    out.push_back({u.match, server});
  }
  if (glob) out.push_back({"_default", ""});
  return out;
}

std::string stripOurBlock(std::string_view text) {
  std::string out;
  bool inside = false;
  for (const auto& line : lines(text)) {
    if (line == kBeginMarker) {
      inside = true;
      continue;
    }
    if (inside) {
      if (line == kEndMarker) inside = false;
      continue;
    }
    out += line;
    out += '\n';
  }
  return out;
}

std::string renderHostsToml(const HostsEntry& entry, const std::string& mirror_url,
                            std::string_view existing, std::string_view dial_timeout) {
  // Their top-level keys (before the first table) must stay before any table, or TOML would
  // read them as keys of our [host] table.
  std::string preamble;
  std::string tables;
  bool their_server = false;
  bool in_tables = false;
  for (const auto& line : lines(stripOurBlock(existing))) {
    if (!in_tables && isTableLine(line)) in_tables = true;
    if (!in_tables && isServerLine(line)) their_server = true;
    (in_tables ? tables : preamble) += line + "\n";
  }
  while (!preamble.empty() && preamble.ends_with("\n\n")) preamble.pop_back();
  std::string out;
  if (preamble.find_first_not_of(" \t\n") != std::string::npos) out += preamble + "\n";
  out += kBeginMarker;
  out += "\n";
  if (!their_server && !entry.server.empty()) out += "server = \"" + entry.server + "\"\n\n";
  out += "[host.\"" + mirror_url + "\"]\n";
  out += "  capabilities = [\"pull\", \"resolve\"]\n";
  out += "  dial_timeout = \"" + std::string(dial_timeout) + "\"\n";
  out += kEndMarker;
  out += "\n";
  if (!tables.empty()) out += "\n" + tables;
  return out;
}

Result<std::vector<HostsAction>> installHosts(const std::string& certs_dir,
                                              const std::vector<HostsEntry>& entries,
                                              const std::string& mirror_url,
                                              std::string_view dial_timeout) {
  std::vector<HostsAction> actions;
  for (const auto& e : entries) {
    const std::string dir = certs_dir + "/" + e.dir;
    const std::string path = dir + "/hosts.toml";
    const std::string backup = path + std::string(kBackupSuffix);
    if (auto m = makeDirs(dir); !m) return m.error();
    auto current = readIfExists(path);
    if (!current) return current.error();
    auto saved = readIfExists(backup);
    if (!saved) return saved.error();
    std::string base;
    std::string what = "written";
    if (saved.value()) {
      base = *saved.value();
      what = "merged with " + backup;
    } else if (current.value() && current.value()->find(kBeginMarker) == std::string::npos) {
      // Someone else's file: keep it, byte for byte, before touching it.
      if (auto w = writeAtomically(backup, *current.value()); !w) return w.error();
      base = *current.value();
      what = "merged; the previous file is kept as " + backup;
    }
    const std::string next = renderHostsToml(e, mirror_url, base, dial_timeout);
    if (current.value() && *current.value() == next) {
      actions.push_back({path, "unchanged"});
      continue;
    }
    if (auto w = writeAtomically(path, next); !w) return w.error();
    actions.push_back({path, what});
  }
  return actions;
}

Result<std::vector<HostsAction>> removeHosts(const std::string& certs_dir,
                                             const std::vector<HostsEntry>& entries) {
  std::vector<HostsAction> actions;
  for (const auto& e : entries) {
    const std::string dir = certs_dir + "/" + e.dir;
    const std::string path = dir + "/hosts.toml";
    const std::string backup = path + std::string(kBackupSuffix);
    std::error_code ec;
    if (std::filesystem::exists(backup, ec)) {
      if (::rename(backup.c_str(), path.c_str()) != 0)
        return systemError(errno, "restore " + backup);
      actions.push_back({path, "restored"});
      continue;
    }
    auto current = readIfExists(path);
    if (!current) return current.error();
    if (!current.value()) continue;
    if (current.value()->find(kBeginMarker) == std::string::npos) {
      actions.push_back({path, "not written by pullcache: left alone"});
      continue;
    }
    if (::unlink(path.c_str()) != 0) return systemError(errno, "remove " + path);
    std::filesystem::remove(dir, ec);  // only if empty
    actions.push_back({path, "removed"});
  }
  return actions;
}

int containerdConfig(const config::Config& config, const ContainerdConfigOptions& options) {
  const auto entries = hostsEntries(config, options.all);
  if (entries.empty()) {
    std::fprintf(stderr, "pullcache: the config names no upstream to mirror\n");
    return 1;
  }
  const std::string mirror =
      options.mirror_url.empty() ? localRegistryUrl(config.listen) : options.mirror_url;
  const std::string certs = options.host_root + options.certs_dir;
  auto actions = options.remove ? removeHosts(certs, entries)
                                : installHosts(certs, entries, mirror, options.dial_timeout);
  if (!actions) {
    std::fprintf(stderr, "pullcache: %s\n", actions.error().message().c_str());
    return 1;
  }
  for (const auto& a : actions.value()) std::printf("%s: %s\n", a.path.c_str(), a.what.c_str());
  if (options.remove) return 0;
  std::fflush(stdout);  // the file lines first, then the check (stderr is unbuffered)
  const auto report =
      checkContainerd(readContainerdFacts({options.host_root, options.containerd_config,
                                           options.containerd_address, options.certs_dir}));
  for (const auto& f : report.findings) {
    if (f.severity == Severity::kOk) {
      std::printf("containerd %s: %s\n", f.what.c_str(), f.detail.c_str());
      std::fflush(stdout);
    } else {
      std::fprintf(stderr, "pullcache: WARNING: containerd %s: %s\n", f.what.c_str(),
                   f.detail.c_str());
    }
  }
  if (report.broken()) {
    std::fprintf(stderr,
                 "pullcache: WARNING: containerd will not use the mirror until that is fixed "
                 "(hosts.toml is written; `pullcache doctor` checks again)%s\n",
                 options.strict ? "" : "; --strict makes this an error");
    if (options.strict) return 1;
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace pullcache::cli
