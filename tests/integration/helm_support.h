#pragma once
// Helpers of the Helm chart tests: helm itself, `helm template` parsed into objects, and lookups
// in the rendered YAML.

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace pullcache::testing {

extern const std::string kChart;
// --set of every optional object on.
extern const std::string kAllOn;

CommandResult helm(std::vector<std::string> args);
// kind -> documents of that kind, from `helm template` output.
std::multimap<std::string, YAML::Node> render(const std::vector<std::string>& extra = {});
// The daemon's config.yaml from the rendered ConfigMap (empty if none).
std::string daemonConfig(const std::multimap<std::string, YAML::Node>& objects);
YAML::Node findContainer(const YAML::Node& list, const std::string& name);
// The one object of `kind` (a null node, and a test failure, if there is not exactly one).
YAML::Node only(const std::multimap<std::string, YAML::Node>& objects, const std::string& kind);
// The first entry of a list of maps whose `key` is `value` (a null node, not a map, if none).
YAML::Node findWhere(const YAML::Node& list, const std::string& key, const std::string& value);
// config.upstreams as --set-json: one docker.io entry with the JSON members `fields`.
std::string dockerIoWith(const std::string& fields);

}  // namespace pullcache::testing
