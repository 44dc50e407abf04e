#include "tests/support/image_generator.h"

#include <openssl/evp.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace pullcache::testing {
namespace {

std::string octal(std::uint64_t v, std::size_t width) {
  std::string s(width - 1, '0');
  for (std::size_t i = width - 1; i-- > 0 && v > 0;) {
    s[i] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
  return s;
}

// A ustar archive with one regular file, fixed metadata (so it is byte-for-byte reproducible).
std::string tarWithFile(const std::string& name, const std::string& content) {
  std::string header(512, '\0');
  auto put = [&](std::size_t off, const std::string& s) {
    std::memcpy(&header[off], s.data(), s.size());
  };
  put(0, name);
  put(100, octal(0644, 8));
  put(108, octal(0, 8));
  put(116, octal(0, 8));
  put(124, octal(content.size(), 12));
  put(136, octal(1700000000, 12));
  put(148, std::string(8, ' '));
  header[156] = '0';
  put(257, std::string("ustar\0", 6));
  put(263, "00");
  unsigned sum = 0;
  for (unsigned char c : header) sum += c;
  put(148, octal(sum, 7));
  header[155] = ' ';
  std::string out = header + content;
  out.append((512 - content.size() % 512) % 512, '\0');
  out.append(1024, '\0');
  return out;
}

std::string pseudoRandom(std::uint64_t size, std::uint64_t seed) {
  std::string out(size, '\0');
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (std::uint64_t i = 0; i < size; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::size_t n = std::min<std::uint64_t>(8, size - i);
    std::memcpy(&out[i], &x, n);
  }
  return out;
}

std::string writeBlob(const std::string& dir, const std::string& data) {
  std::string hex = sha256Hex(data);
  writeTextFile(dir + "/blobs/sha256/" + hex, data);
  return "sha256:" + hex;
}

}  // namespace

std::string sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

namespace {

struct WrittenManifest {
  std::string digest;
  std::size_t size = 0;
  std::vector<std::string> layer_digests;
};

WrittenManifest writeImageManifest(const std::string& dir, const std::vector<LayerSpec>& layers,
                                   const std::string& os, const std::string& architecture,
                                   const std::string& variant) {
  WrittenManifest out;
  nlohmann::json manifest_layers = nlohmann::json::array();
  nlohmann::json diff_ids = nlohmann::json::array();
  for (const auto& spec : layers) {
    std::string tar = tarWithFile("data-" + std::to_string(spec.seed) + ".bin",
                                  pseudoRandom(spec.size, spec.seed));
    std::string digest = writeBlob(dir, tar);
    out.layer_digests.push_back(digest);
    diff_ids.push_back(digest);
    manifest_layers.push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                               {"digest", digest},
                               {"size", tar.size()}});
  }
  nlohmann::json config = {{"architecture", architecture},
                           {"os", os},
                           {"config", {{"Cmd", {"/bin/true"}}}},
                           {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
  if (!variant.empty()) config["variant"] = variant;
  std::string config_text = config.dump();
  std::string config_digest = writeBlob(dir, config_text);
  nlohmann::json manifest = {{"schemaVersion", 2},
                             {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                             {"config",
                              {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                               {"digest", config_digest},
                               {"size", config_text.size()}}},
                             {"layers", manifest_layers}};
  std::string manifest_text = manifest.dump();
  out.digest = writeBlob(dir, manifest_text);
  out.size = manifest_text.size();
  return out;
}

void startLayout(const std::string& dir) {
  std::filesystem::create_directories(dir + "/blobs/sha256");
  writeTextFile(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
}

}  // namespace

GeneratedImage writeOciLayout(const std::string& dir, const std::string& tag,
                              const std::vector<LayerSpec>& layers) {
  startLayout(dir);
  auto m = writeImageManifest(dir, layers, "linux", "amd64", "");
  GeneratedImage image{dir, tag, m.digest, m.layer_digests};
  nlohmann::json index = {{"schemaVersion", 2},
                          {"manifests",
                           {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                             {"digest", m.digest},
                             {"size", m.size},
                             {"annotations", {{"org.opencontainers.image.ref.name", tag}}}}}}};
  writeTextFile(dir + "/index.json", index.dump());
  return image;
}

GeneratedImage writeOciIndexLayout(const std::string& dir, const std::string& tag,
                                   const std::vector<PlatformSpec>& platforms) {
  startLayout(dir);
  GeneratedImage image;
  image.layout_dir = dir;
  image.tag = tag;
  nlohmann::json manifests = nlohmann::json::array();
  for (const auto& p : platforms) {
    auto m = writeImageManifest(dir, p.layers, p.os, p.architecture, p.variant);
    image.layer_digests.insert(image.layer_digests.end(), m.layer_digests.begin(),
                               m.layer_digests.end());
    nlohmann::json platform = {{"os", p.os}, {"architecture", p.architecture}};
    if (!p.variant.empty()) platform["variant"] = p.variant;
    manifests.push_back({{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                         {"digest", m.digest},
                         {"size", m.size},
                         {"platform", platform}});
  }
  nlohmann::json image_index = {{"schemaVersion", 2},
                                {"mediaType", "application/vnd.oci.image.index.v1+json"},
                                {"manifests", manifests}};
  std::string index_text = image_index.dump();
  image.manifest_digest = writeBlob(dir, index_text);
  nlohmann::json layout_index = {
      {"schemaVersion", 2},
      {"manifests",
       {{{"mediaType", "application/vnd.oci.image.index.v1+json"},
         {"digest", image.manifest_digest},
         {"size", index_text.size()},
         {"annotations", {{"org.opencontainers.image.ref.name", tag}}}}}}};
  writeTextFile(dir + "/index.json", layout_index.dump());
  return image;
}

int pushWithSkopeo(const GeneratedImage& image, const std::string& registry_host,
                   const std::string& repo, std::string* log) {
  auto r = runCommand({"skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false",
                       "--multi-arch", "all", "oci:" + image.layout_dir + ":" + image.tag,
                       "docker://" + registry_host + "/" + repo + ":" + image.tag});
  if (log != nullptr) *log = r.output;
  return r.code;
}

RemoteImage inspectRemote(const std::string& registry_host, const std::string& repo,
                          const std::string& tag) {
  RemoteImage out;
  auto r = httpGet("http://" + registry_host + "/v2/" + repo + "/manifests/" + tag,
                   {"Accept: application/vnd.oci.image.manifest.v1+json, "
                    "application/vnd.docker.distribution.manifest.v2+json"});
  if (r.status != 200)
    throw std::runtime_error("cannot inspect " + repo + ":" + tag + ": HTTP " +
                             std::to_string(r.status));
  out.manifest_digest = "sha256:" + sha256Hex(r.body);
  out.media_type = r.header("content-type");
  auto j = nlohmann::json::parse(r.body);
  out.config_digest = j["config"]["digest"];
  for (const auto& l : j["layers"]) {
    out.layer_digests.push_back(l["digest"]);
    out.layer_sizes.push_back(l["size"]);
  }
  return out;
}

}  // namespace pullcache::testing
