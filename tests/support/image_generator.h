#pragma once
// Writes OCI image layouts for tests: deterministic layers (a tar holding one file of
// pseudo-random bytes from a seed: the same seed gives the same layer, so two images can share
// a base layer), an image config and a manifest, tagged in index.json.

#include <cstdint>
#include <string>
#include <vector>

namespace pullcache::testing {

struct LayerSpec {
  std::uint64_t size = 0;  // bytes of file content (the tar is slightly larger)
  std::uint64_t seed = 0;
};

struct GeneratedImage {
  std::string layout_dir;
  std::string tag;
  std::string manifest_digest;
  std::vector<std::string> layer_digests;
};

GeneratedImage writeOciLayout(const std::string& dir, const std::string& tag,
                              const std::vector<LayerSpec>& layers);

struct PlatformSpec {
  std::string os = "linux";
  std::string architecture;
  std::string variant;
  std::vector<LayerSpec> layers;
};

// A multi-platform image: an OCI index with one image manifest per platform, tagged `tag`.
// layer_digests lists every platform's layers, in order.
GeneratedImage writeOciIndexLayout(const std::string& dir, const std::string& tag,
                                   const std::vector<PlatformSpec>& platforms);

// Pushes a layout to a registry with skopeo (every platform of an index); returns skopeo's exit
// code (output in `log`).
int pushWithSkopeo(const GeneratedImage& image, const std::string& registry_host,
                   const std::string& repo, std::string* log = nullptr);

// What the registry actually holds for repo:tag (skopeo recompresses layers on push).
struct RemoteImage {
  std::string manifest_digest;
  std::string media_type;
  std::string config_digest;
  std::vector<std::string> layer_digests;
  std::vector<std::uint64_t> layer_sizes;
};
RemoteImage inspectRemote(const std::string& registry_host, const std::string& repo,
                          const std::string& tag);

std::string sha256Hex(const std::string& data);

}  // namespace pullcache::testing
