#include "daemon/cli/containerd_check.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace pullcache::cli {

// ---- decision ---------------------------------------------------------------------------------

std::optional<ContainerdVersion> parseContainerdVersion(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n')) ++i;
    std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\n') ++i;
    std::string_view token = text.substr(start, i - start);
    std::string_view digits = token;
    if (digits.starts_with('v')) digits.remove_prefix(1);
    if (digits.empty() || digits[0] < '0' || digits[0] > '9') continue;
    int parts[3] = {0, 0, 0};
    std::size_t k = 0;
    int n = 0;
    for (std::size_t j = 0; j <= digits.size() && n < 3; ++j) {
      if (j < digits.size() && digits[j] >= '0' && digits[j] <= '9') {
        parts[n] = parts[n] * 10 + (digits[j] - '0');
        if (parts[n] > 100000) return std::nullopt;
        ++k;
        continue;
      }
      if (k == 0) break;
      ++n;
      k = 0;
      if (j >= digits.size() || digits[j] != '.') break;
    }
    if (n < 2) continue;  // needs at least major.minor
    return ContainerdVersion{parts[0], parts[1], parts[2], std::string(token)};
  }
  return std::nullopt;
}

std::string_view severityName(Severity s) noexcept {
  switch (s) {
    case Severity::kOk:
      return "ok";
    case Severity::kWarn:
      return "warn";
    case Severity::kFail:
      return "FAIL";
  }
  return "?";
}

bool ContainerdReport::broken() const {
  return std::any_of(findings.begin(), findings.end(),
                     [](const Finding& f) { return f.severity == Severity::kFail; });
}

bool ContainerdReport::warned() const {
  return std::any_of(findings.begin(), findings.end(),
                     [](const Finding& f) { return f.severity == Severity::kWarn; });
}

namespace {

constexpr std::string_view kV3Images = "io.containerd.cri.v1.images";
constexpr std::string_view kV2Cri = "io.containerd.grpc.v1.cri";
constexpr std::string_view kDefaultConfigPath22 = "/etc/containerd/certs.d:/etc/docker/certs.d";

std::string tableName(const toml::Path& p) {
  std::string out;
  for (const auto& part : p) {
    const bool bare = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-';
    });
    out += (out.empty() ? "" : ".") + (bare ? part : "\"" + part + "\"");
  }
  return "[" + out + "]";
}

toml::Path child(toml::Path p, std::initializer_list<std::string_view> more) {
  for (auto m : more) p.emplace_back(m);
  return p;
}

std::vector<std::string> splitList(std::string_view value) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto colon = value.find(':', start);
    auto part = value.substr(start, colon == std::string_view::npos ? value.npos : colon - start);
    if (!part.empty()) out.emplace_back(part);
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  return out;
}

bool sameDir(const std::string& a, const std::string& b) {
  auto norm = [](const std::string& p) {
    auto s = std::filesystem::path(p).lexically_normal().string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
  };
  return norm(a) == norm(b);
}

// The CRI image settings, each with the table it comes from (or should be written to).
struct CriSettings {
  toml::Path images;    // where use_local_image_pull and the image settings live
  toml::Path registry;  // where config_path lives
  toml::Path layers;    // where discard_unpacked_layers / disable_snapshot_annotations live
  std::optional<std::string> config_path;
  std::optional<bool> use_local_image_pull;
  std::optional<bool> discard_unpacked_layers;
  std::optional<bool> disable_snapshot_annotations;
  std::optional<std::int64_t> max_concurrent_downloads;
  std::optional<bool> image_pull_with_sync_fs;
  bool mirrors = false;
  bool configs = false;
  bool auths = false;
};

// Which tables containerd reads for CRI, given the file's version and containerd's.
CriSettings criSettings(const toml::Document& doc, std::int64_t file_version,
                        const std::optional<ContainerdVersion>& v) {
  const toml::Path v3{"plugins", std::string(kV3Images)};
  const toml::Path v2{"plugins", file_version <= 1 ? std::string("cri") : std::string(kV2Cri)};
  CriSettings s;
  auto readFrom = [&](const toml::Path& images, const toml::Path& registry,
                      const toml::Path& layers) {
    if (!s.config_path) s.config_path = doc.string(child(registry, {"config_path"}));
    s.mirrors = s.mirrors || doc.hasValuesUnder(child(registry, {"mirrors"}));
    s.configs = s.configs || doc.hasValuesUnder(child(registry, {"configs"}));
    s.auths = s.auths || doc.hasValuesUnder(child(registry, {"auths"}));
    if (!s.discard_unpacked_layers)
      s.discard_unpacked_layers = doc.boolean(child(layers, {"discard_unpacked_layers"}));
    if (!s.disable_snapshot_annotations)
      s.disable_snapshot_annotations = doc.boolean(child(layers, {"disable_snapshot_annotations"}));
    if (!s.max_concurrent_downloads)
      s.max_concurrent_downloads = doc.integer(child(images, {"max_concurrent_downloads"}));
    if (!s.image_pull_with_sync_fs)
      s.image_pull_with_sync_fs = doc.boolean(child(images, {"image_pull_with_sync_fs"}));
  };
  if (file_version >= 3) {
    s.images = v3;
    s.registry = child(v3, {"registry"});
    s.layers = v3;
    readFrom(v3, s.registry, v3);
  } else {
    s.registry = child(v2, {"registry"});
    s.layers = child(v2, {"containerd"});
    // containerd 2.x copies the version 2 CRI settings into the version 3 images section;
    // what the version 2 section does not set comes from there (a whole registry table
    // replaces the images section's).
    const bool two = !v || v->major >= 2;
    s.images = two ? v3 : v2;
    readFrom(v2, s.registry, s.layers);
    if (two) {
      if (!doc.hasAnyUnder(s.registry)) {
        s.registry = child(v3, {"registry"});
        readFrom(v3, s.registry, v3);
      } else {
        readFrom(v3, child(v2, {"registry"}), v3);
      }
    }
  }
  if (!v || v->major >= 2)
    s.use_local_image_pull = doc.boolean(child(v3, {"use_local_image_pull"}));
  return s;
}

// Why containerd 2.1+ keeps CRI on the local pull path whatever use_local_image_pull says;
// empty when nothing does.
std::string localPullFallback(const CriSettings& s) {
  if (s.discard_unpacked_layers.value_or(false))
    return "discard_unpacked_layers = true (" + tableName(s.layers) + ")";
  if (!s.disable_snapshot_annotations.value_or(true))
    return "disable_snapshot_annotations = false (" + tableName(s.layers) + ")";
  if (s.mirrors) return "registry.mirrors (" + tableName(s.registry) + ")";
  if (s.configs) return "registry.configs (" + tableName(s.registry) + ")";
  if (s.auths) return "registry.auths (" + tableName(s.registry) + ")";
  if (s.max_concurrent_downloads && *s.max_concurrent_downloads != 3)
    return "max_concurrent_downloads = " + std::to_string(*s.max_concurrent_downloads) + " (" +
           tableName(s.images) + ")";
  if (s.image_pull_with_sync_fs.value_or(false))
    return "image_pull_with_sync_fs = true (" + tableName(s.images) + ")";
  return "";
}

bool listContains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

}  // namespace

namespace {

// Everything but the read-only note; returns at the first finding that settles the verdict.
void decide(const ContainerdFacts& facts, ContainerdReport& report) {
  auto add = [&](Severity sev, std::string what, std::string detail) {
    report.findings.push_back({sev, std::move(what), std::move(detail)});
  };
  const std::string& file = facts.config_file;
  const std::string& certs = facts.certs_dir;
  const auto& v = facts.version;
  const std::string restart =
      ", then restart containerd (pullcache never edits " + file + " or restarts containerd)";

  if (v) {
    add(Severity::kOk, "version",
        "containerd " + v->text +
            (facts.version_source.empty() ? "" : " (" + facts.version_source + ")"));
  } else {
    add(Severity::kOk, "version",
        "unknown" + (facts.version_error.empty() ? "" : " (" + facts.version_error + ")") +
            ": the config is judged for every containerd version");
  }

  if (!facts.config_error.empty()) {
    add(Severity::kFail, "config", file + ": " + facts.config_error);
    return;
  }
  auto parsed = toml::parse(facts.config_text.value_or(""));
  if (!parsed) {
    add(Severity::kFail, "config",
        file + " is not valid TOML (" + parsed.error().detail +
            "): containerd refuses to start with it");
    return;
  }
  const toml::Document& doc = parsed.value();
  if (!facts.config_text) {
    add(Severity::kWarn, "config",
        "no " + file +
            ": containerd runs on its built-in defaults (pass the right path with "
            "--containerd-config if the node keeps it elsewhere)");
  }
  const std::int64_t file_version = doc.integer({"version"}).value_or(1);
  if (file_version >= 3 && v && v->major < 2) {
    add(Severity::kFail, "config",
        file + " is a version 3 file, which containerd " + v->text +
            " cannot read (version 3 needs containerd 2.0): write it as version = 2");
    return;
  }
  const CriSettings s = criSettings(doc, file_version, v);
  report.cri_section = tableName(s.images);
  const std::string reg = tableName(s.registry);

  // The CRI plugin itself must be on.
  if (const auto* dp = doc.find({"disabled_plugins"})) {
    if (const auto* list = std::get_if<std::vector<std::string>>(dp)) {
      for (const auto& name : {std::string("cri"), std::string(kV2Cri), std::string(kV3Images)}) {
        if (listContains(*list, name)) {
          add(Severity::kFail, "cri plugin",
              "disabled_plugins in " + file + " lists \"" + name +
                  "\": kubelet's image pulls do not go through this containerd's CRI at all. "
                  "Remove it from disabled_plugins" +
                  restart);
          return;
        }
      }
    }
  }

  std::string config_path = s.config_path.value_or("");
  bool defaulted = false;
  if (config_path.empty() && s.mirrors) {
    add(Severity::kFail, "config_path",
        "no config_path in " + reg +
            " but registry.mirrors is set: containerd uses those mirrors "
            "and reads no hosts.toml. Replace registry.mirrors with config_path = \"" +
            certs + "\"" + restart);
    return;
  }
  if (!config_path.empty() && s.mirrors) {
    add(Severity::kFail, "config_path",
        reg +
            " sets both config_path and registry.mirrors: containerd's CRI plugin refuses to "
            "load (\"mirrors cannot be set when config_path is provided\"). Remove "
            "registry.mirrors" +
            restart);
    return;
  }
  if (config_path.empty()) {
    if (v && v->atLeast(2, 2)) {
      config_path = std::string(kDefaultConfigPath22);
      defaulted = true;
    } else {
      add(Severity::kFail, "config_path",
          "no config_path in " + reg + " of " + file + ": containerd " +
              (v ? v->text : std::string("before 2.2")) +
              " reads no hosts.toml, so it never asks pullcache. Set config_path = \"" + certs +
              "\" in " + reg + restart);
      return;
    }
  }
  const std::vector<std::string> dirs = splitList(config_path);
  const bool includes = std::any_of(dirs.begin(), dirs.end(),
                                    [&](const std::string& d) { return sameDir(d, certs); });
  const std::string shown =
      "config_path = \"" + config_path + "\"" +
      (defaulted ? " (containerd 2.2's default: no config_path in " + reg + ")" : " in " + reg);
  if (!includes) {
    add(Severity::kFail, "config_path",
        shown + " does not include " + certs +
            ", where pullcache writes hosts.toml: containerd never asks pullcache. Set "
            "config_path = \"" +
            certs + "\" in " + reg + " (or give pullcache --certs-dir one of those directories)" +
            restart);
    return;
  }

  // containerd 2.1+: the transfer service, which takes config_path as one directory.
  const bool may_transfer = !v || v->atLeast(2, 1);
  const bool list = dirs.size() > 1;
  const std::string images = tableName(s.images);
  std::string path_kind = "the local pull path";
  if (may_transfer) {
    const std::string fallback = localPullFallback(s);
    const bool forced_local = s.use_local_image_pull.value_or(false);
    const std::string fix = "Set use_local_image_pull = true in " + images +
                            ", or config_path = \"" + certs + "\" (one directory) in " + reg +
                            restart;
    if (forced_local) {
      add(Severity::kOk, "transfer service", "not used: use_local_image_pull = true in " + images);
    } else if (!fallback.empty()) {
      if (list) {
        add(Severity::kWarn, "transfer service",
            std::string(v ? "containerd " + v->text : "containerd 2.1 and later") +
                " would pull through the transfer service, which reads config_path \"" +
                config_path + "\" as ONE directory (no hosts.toml found); only " + fallback +
                " keeps CRI on the local pull path. If that setting goes (Spegel, for one, needs "
                "discard_unpacked_layers = false), containerd stops using the mirror. " +
                fix);
      } else {
        add(Severity::kOk, "transfer service",
            "not used (" + fallback +
                " keeps CRI on the local pull path); config_path is one "
                "directory, so either path reads it");
      }
    } else if (list) {
      const std::string what =
          "pulls through the transfer service (use_local_image_pull is not true in " + images +
          "), which reads config_path \"" + config_path +
          "\" as ONE directory: no such directory, so no hosts.toml is read and containerd never "
          "asks pullcache. " +
          fix;
      if (v) {
        add(Severity::kFail, "transfer service", "containerd " + v->text + " " + what);
        return;
      }
      add(Severity::kWarn, "transfer service", "on containerd 2.1 and later, CRI " + what);
    } else {
      path_kind = v ? "the transfer service" : "the transfer service (2.1+) or the local pull path";
      add(Severity::kOk, "transfer service",
          std::string(v ? "in use" : "in use from containerd 2.1") +
              "; config_path is one directory, which it reads");
    }
    if (forced_local || !fallback.empty()) path_kind = "the local pull path";
  }

  add(Severity::kOk, "config_path",
      shown + " includes " + certs + ": CRI pulls read " + certs + "/<registry>/hosts.toml via " +
          path_kind);
}

}  // namespace

ContainerdReport checkContainerd(const ContainerdFacts& facts) {
  ContainerdReport report;
  decide(facts, report);
  // Whatever needs changing in the file: can it be changed there?
  if (!facts.config_writable && facts.config_text) {
    const bool needs_edit = report.broken() || report.warned();
    report.findings.push_back(
        {needs_edit ? Severity::kWarn : Severity::kOk, "read-only",
         facts.config_file +
             " is read-only (no write permission for anyone, or a read-only mount)" +
             (needs_edit ? std::string(": the settings above cannot be changed in the file. On "
                                       "Bottlerocket the file is generated from its settings API "
                                       "(settings.container-registry, settings.kubernetes), which "
                                       "does not expose use_local_image_pull "
                                       "(bottlerocket-os/bottlerocket#4710)")
                         : std::string("; nothing needs changing"))});
  }

  return report;
}

}  // namespace pullcache::cli
