#pragma once
// Typed reads of single config keys from yaml-cpp nodes, each failing with the key's full path
// in the message (kConfigInvalid). Only the config parser's files include this (and yaml-cpp).

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "daemon/config/config.h"

namespace pullcache::config::yaml {

Error keyError(const std::string& key, const std::string& what);
// The node is a mapping whose keys are all listed under `section` in the key table (see
// config_keys.h), none twice. `where` names the node in messages ("upstreams[2]"); `section` is
// its path in the table ("upstreams[]").
Result<void> checkKeys(const YAML::Node& node, const std::string& where, std::string_view section);
Result<std::string> scalar(const YAML::Node& node, const std::string& key);
// Numbers, durations and sizes within the bounds that the key's row in config_keys.cc gives
// (`key` is its dotted path there; a key without a row, or without bounds, has none).
// A positive duration ("500ms", "5s", "1h").
Result<std::chrono::milliseconds> durationKey(const YAML::Node& node, const std::string& key);
// A percentage ("90%") as a fraction.
Result<double> percentKey(const YAML::Node& node, const std::string& key);
// A whole number.
Result<std::uint64_t> integerKey(const YAML::Node& node, const std::string& key);
// A byte size ("16KiB", "4MiB", "4194304").
Result<std::uint64_t> bytesKey(const YAML::Node& node, const std::string& key);

// The `peers` section (peers_config.cc). `getenv` expands `${VAR}` in its two addresses.
Result<PeersConfig> parsePeers(const YAML::Node& node,
                               const std::function<const char*(const char*)>& getenv);

}  // namespace pullcache::config::yaml
