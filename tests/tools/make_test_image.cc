// make_test_image DIR TAG SIZE_MIB[:SEED]...: writes an OCI image layout (one layer per
// argument) for demos and benchmarks on machines without internet access.
#include <cstdio>
#include <string>

#include "tests/support/image_generator.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fputs("usage: make_test_image DIR TAG SIZE_MIB[:SEED]...\n", stderr);
    return 2;
  }
  std::vector<pullcache::testing::LayerSpec> layers;
  for (int i = 3; i < argc; ++i) {
    std::string arg = argv[i];
    auto colon = arg.find(':');
    std::uint64_t mib = std::stoull(arg.substr(0, colon));
    std::uint64_t seed = colon == std::string::npos ? static_cast<std::uint64_t>(i)
                                                    : std::stoull(arg.substr(colon + 1));
    layers.push_back({mib << 20, seed});
  }
  auto image = pullcache::testing::writeOciLayout(argv[1], argv[2], layers);
  std::printf("%s\n", image.manifest_digest.c_str());
  return 0;
}
