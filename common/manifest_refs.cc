#include "common/manifest_refs.h"

#include <sys/utsname.h>

#include <nlohmann/json.hpp>

namespace pullcache {
namespace {

Result<Digest> digestField(const nlohmann::json& node, const char* where) {
  if (!node.is_object() || !node.contains("digest") || !node["digest"].is_string())
    return fail(Errc::kManifestInvalid, std::string(where) + " has no digest");
  auto d = Digest::parse(node["digest"].get<std::string>());
  if (!d) return fail(Errc::kManifestInvalid, std::string(where) + ": " + d.error().detail);
  return d.value();
}

std::uint64_t sizeField(const nlohmann::json& node) {
  if (!node.is_object() || !node.contains("size") || !node["size"].is_number_unsigned()) return 0;
  return node["size"].get<std::uint64_t>();
}

std::string stringField(const nlohmann::json& node, const char* key) {
  if (!node.is_object() || !node.contains(key) || !node[key].is_string()) return {};
  return node[key].get<std::string>();
}

}  // namespace

Result<ManifestRefs> parseManifestRefs(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return fail(Errc::kManifestInvalid, "manifest is not a JSON object");
  ManifestRefs refs;
  if (j.contains("manifests")) {
    if (!j["manifests"].is_array())
      return fail(Errc::kManifestInvalid, "index \"manifests\" is not an array");
    refs.is_index = true;
    for (const auto& m : j["manifests"]) {
      auto d = digestField(m, "an index entry");
      if (!d) return d.error();
      ManifestChild child{d.value(), stringField(m, "mediaType"), {}};
      if (m.contains("platform")) {
        const auto& p = m["platform"];
        child.platform = {stringField(p, "os"), stringField(p, "architecture"),
                          stringField(p, "variant")};
      }
      refs.children.push_back(std::move(child));
    }
    return refs;
  }
  if (j.contains("config")) {
    auto d = digestField(j["config"], "the config descriptor");
    if (!d) return d.error();
    refs.blobs.push_back({d.value(), sizeField(j["config"])});
  }
  if (j.contains("layers")) {
    if (!j["layers"].is_array())
      return fail(Errc::kManifestInvalid, "manifest \"layers\" is not an array");
    for (const auto& l : j["layers"]) {
      auto d = digestField(l, "a layer descriptor");
      if (!d) return d.error();
      refs.blobs.push_back({d.value(), sizeField(l)});
    }
  }
  return refs;
}

Platform hostPlatform() {
  Platform p{"linux", "", ""};
  utsname u{};
  std::string machine = ::uname(&u) == 0 ? u.machine : "";
  if (machine == "x86_64") {
    p.architecture = "amd64";
  } else if (machine == "aarch64" || machine == "arm64") {
    p.architecture = "arm64";
    p.variant = "v8";
  } else if (machine.starts_with("armv7")) {
    p.architecture = "arm";
    p.variant = "v7";
  } else {
    p.architecture = machine;  // ppc64le, s390x, riscv64 are their own OCI names
  }
  return p;
}

bool platformMatches(const Platform& have, const Platform& want) {
  if (have.os != want.os || have.architecture != want.architecture) return false;
  if (want.variant.empty() || have.variant == want.variant) return true;
  return have.architecture == "arm64" && have.variant.empty() && want.variant == "v8";
}

}  // namespace pullcache
