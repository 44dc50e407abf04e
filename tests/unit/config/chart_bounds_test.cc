// The chart's values.schema.json bounds the integer values that the ConfigMap template turns
// into config keys; those bounds must be the config table's, or `helm install` accepts a value
// the daemon then refuses at start-up (or refuses one the daemon would take).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "daemon/config/config_keys.h"

namespace pullcache::config {
namespace {

const std::filesystem::path kSource = PULLCACHE_SOURCE_DIR;

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct IntegerValue {
  std::string config_path;  // "cache.disk_threads"
  std::string values_path;  // "config.cache.diskThreads"
};

// The lines of the ConfigMap's config.yaml whose whole value is `{{ int .Values.<path> }}`, with
// the dotted config path their indentation puts them at.
std::vector<IntegerValue> integerValues(const std::string& configmap) {
  static const std::regex kLine(R"(^( *)([a-z_]+): \{\{ int \.Values\.([A-Za-z.]+) \}\}\s*$)");
  static const std::regex kSection(R"(^( *)([a-z_]+):\s*$)");
  std::vector<IntegerValue> out;
  std::vector<std::pair<std::size_t, std::string>> stack;  // (indent, key) of open sections
  std::istringstream in(configmap);
  bool inside = false;
  std::size_t base = 0;
  for (std::string line; std::getline(in, line);) {
    if (!inside) {
      if (line.find("config.yaml: |") != std::string::npos) {
        inside = true;
        base = line.find_first_not_of(' ') + 2;
      }
      continue;
    }
    if (line.find_first_not_of(' ') == std::string::npos) continue;
    const std::size_t indent = line.find_first_not_of(' ');
    if (line.compare(indent, 2, "{{") == 0) continue;  // template control lines
    if (indent < base) break;                          // the block ended
    std::smatch m;
    const bool section = std::regex_match(line, m, kSection);
    const bool value = !section && std::regex_match(line, m, kLine);
    if (!section && !value) continue;
    const std::size_t at = m[1].length();
    while (!stack.empty() && stack.back().first >= at) stack.pop_back();
    if (section) {
      stack.emplace_back(at, m[2]);
      continue;
    }
    std::string path;
    for (const auto& [ind, key] : stack) path += key + ".";
    out.push_back(IntegerValue{path + std::string(m[2]), m[3]});
  }
  return out;
}

const nlohmann::json* schemaNode(const nlohmann::json& schema, const std::string& values_path) {
  const nlohmann::json* node = &schema;
  std::istringstream parts(values_path);
  for (std::string part; std::getline(parts, part, '.');) {
    if (!node->contains("properties") || !(*node)["properties"].contains(part)) return nullptr;
    node = &(*node)["properties"][part];
  }
  return node;
}

std::string bound(const nlohmann::json& node, const char* name) {
  if (!node.contains(name)) return "";
  return std::to_string(node[name].get<long long>());
}

TEST(ChartBounds, SchemaBoundsOfConfigIntegersAreTheConfigTablesBounds) {
  const auto values = integerValues(readFile(kSource / "helm/pullcache/templates/configmap.yaml"));
  // The template has these; the test must see them, or it checks nothing.
  ASSERT_GE(values.size(), 6u);
  bool saw_disk_threads = false;
  const auto schema =
      nlohmann::json::parse(readFile(kSource / "helm/pullcache/values.schema.json"));
  for (const auto& v : values) {
    SCOPED_TRACE(v.config_path + " <- .Values." + v.values_path);
    saw_disk_threads |= v.config_path == "cache.disk_threads";
    const ConfigKey* key = findKey(v.config_path);
    ASSERT_NE(key, nullptr) << "the template writes a key the config table does not have";
    const nlohmann::json* node = schemaNode(schema, v.values_path);
    ASSERT_NE(node, nullptr) << "the schema does not describe the value";
    EXPECT_EQ(bound(*node, "minimum"), std::string(key->min));
    EXPECT_EQ(bound(*node, "maximum"), std::string(key->max));
  }
  EXPECT_TRUE(saw_disk_threads);
}

}  // namespace
}  // namespace pullcache::config
