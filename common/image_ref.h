#pragma once
// A full image reference as users write it in config and on the command line
// ("docker.io/library/alpine:3.19", "ghcr.io/org/app@sha256:...", "nginx"), normalised the way
// docker and containerd do: no registry host → docker.io; a one-component Docker Hub name →
// library/<name>; no tag and no digest → "latest". The registry host is what containerd sends
// as ?ns=, so cache keys built from an ImageRef match those of pulled images.

#include <optional>
#include <string>
#include <string_view>

#include "common/digest.h"
#include "common/error.h"

namespace pullcache {

struct ImageRef {
  std::string host;        // "docker.io", "ghcr.io", "registry.local:5000"
  std::string repository;  // "library/alpine"
  std::string tag;         // empty when only a digest was given
  std::optional<Digest> digest;

  static Result<ImageRef> parse(std::string_view text);
  // host/repository[:tag][@digest]
  [[nodiscard]] std::string str() const;
};

}  // namespace pullcache
