// The key table (daemon/config/config_keys.cc) against what depends on it: the README's
// configuration table, the parser's real defaults, and the configs the project ships.
#include "daemon/config/config_keys.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/units.h"
#include "daemon/config/config.h"

namespace pullcache::config {
namespace {

const std::filesystem::path kSource = PULLCACHE_SOURCE_DIR;
const std::string kMinimal = "upstreams:\n  - match: docker.io\n";

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  EXPECT_TRUE(in) << "cannot read " << p;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// --- the README's table -------------------------------------------------------------------

constexpr std::string_view kBegin = "<!-- BEGIN config-keys";
constexpr std::string_view kEnd = "<!-- END config-keys -->";

std::string defaultCell(const ConfigKey& k) {
  if (k.required) return "required";
  if (k.default_value.empty()) return "—";
  return "`" + std::string(k.default_value) + "`";
}

// The meaning, then the bounds, as the README shows them.
std::string meaningCell(const ConfigKey& k) {
  std::string out(k.meaning);
  const std::string lo = "`" + std::string(k.min) + "`";
  const std::string hi = "`" + std::string(k.max) + "`";
  if (!k.min.empty() && !k.max.empty()) out += "; " + lo + " to " + hi;
  if (!k.min.empty() && k.max.empty()) out += "; at least " + lo;
  if (k.min.empty() && !k.max.empty()) out += "; at most " + hi;
  return out;
}

std::vector<std::string> expectedTable() {
  std::vector<std::string> out = {"| key | default | meaning |", "|---|---|---|"};
  for (const ConfigKey& k : configKeys())
    out.push_back("| `" + std::string(k.path) + "` | " + defaultCell(k) + " | " + meaningCell(k) +
                  " |");
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& l : v) s += l + "\n";
  return s;
}

// The key cell of a table row ("`cache.max_bytes`"), for messages.
std::string keyCell(const std::string& row) {
  auto a = row.find('|');
  auto b = a == std::string::npos ? a : row.find('|', a + 1);
  return b == std::string::npos ? row : row.substr(a + 1, b - a - 1);
}

TEST(ConfigKeys, TableIsWellFormed) {
  std::set<std::string_view> paths;
  std::vector<std::string_view> sections_seen;
  for (const ConfigKey& k : configKeys()) {
    EXPECT_TRUE(paths.insert(k.path).second) << k.path << " is listed twice";
    EXPECT_FALSE(k.meaning.empty()) << k.path;
    for (std::string_view cell : {k.path, k.default_value, k.meaning})
      EXPECT_EQ(cell.find('|'), std::string_view::npos) << k.path << ": '|' breaks the table";
    EXPECT_FALSE(k.required && !k.default_value.empty()) << k.path << ": required with a default";
    // A section's keys stay together, so the README reads section by section.
    std::string_view section = k.path.substr(0, k.path.find_first_of(".["));
    if (sections_seen.empty() || sections_seen.back() != section) {
      EXPECT_EQ(std::find(sections_seen.begin(), sections_seen.end(), section), sections_seen.end())
          << k.path << ": the keys of " << section << " are split";
      sections_seen.push_back(section);
    }
  }
  EXPECT_EQ(childKeys("cache").front(), "dir");
  EXPECT_EQ(childKeys("upstreams[]").front(), "match");
  EXPECT_TRUE(childKeys("threads").empty());
}

TEST(ConfigKeys, ReadmeTableIsTheTableInCode) {
  const auto readme = lines(readFile(kSource / "README.md"));
  auto begin = std::find_if(readme.begin(), readme.end(),
                            [](const std::string& l) { return l.starts_with(kBegin); });
  ASSERT_NE(begin, readme.end()) << "README.md has no line starting with " << kBegin;
  auto end = std::find(begin, readme.end(), std::string(kEnd));
  ASSERT_NE(end, readme.end()) << "README.md has no " << kEnd;
  const std::vector<std::string> got(begin + 1, end);
  const std::vector<std::string> want = expectedTable();
  const std::string paste =
      "\nThe table from daemon/config/config_keys.cc, to paste into README.md between the "
      "config-keys markers:\n\n" +
      joined(want);
  for (std::size_t i = 0; i < std::max(got.size(), want.size()); ++i) {
    if (i >= got.size()) {
      ADD_FAILURE() << "README.md lacks" << keyCell(want[i]) << "and what follows" << paste;
      return;
    }
    if (i >= want.size()) {
      ADD_FAILURE() << "README.md has" << keyCell(got[i]) << ", which is not in the key table"
                    << paste;
      return;
    }
    if (got[i] != want[i]) {
      ADD_FAILURE() << "README.md row " << i - 1 << " differs:\n  README: " << got[i]
                    << "\n  code:   " << want[i] << paste;
      return;
    }
  }
}

// --- the table against the parser ---------------------------------------------------------

// Cluster mode needs this node's address and a member source; its keys are set beside these.
const std::map<std::string, std::string> kPeersBase = {{"advertise", "10.9.9.9:5001"},
                                                       {"dns", "peers.example:5001"}};

std::string peersWith(const std::string& name, const std::string& value) {
  std::string out = kMinimal + std::string("peers:\n");
  for (const auto& [k, v] : kPeersBase)
    if (k != name) out += "  " + k + ": " + v + "\n";
  return out + (name.empty() ? "" : "  " + name + ": " + value + "\n");
}

// A config with `path` set to `value` (written as YAML), beside the one upstream docker.io.
std::string configWith(std::string_view path, std::string_view value) {
  const std::string v(value);
  if (path.starts_with("peers.")) return peersWith(std::string(path.substr(6)), v);
  if (path.starts_with("upstreams[].sources[].")) {
    const std::string name(path.substr(std::string_view("upstreams[].sources[].").size()));
    const std::string head = "upstreams:\n  - match: docker.io\n    sources:\n      - registry: ";
    if (name == "registry") return head + v + "\n";
    return head + "docker.io\n        " + name + ": " + v + "\n";
  }
  if (path.starts_with("upstreams[].")) {
    const std::string name(path.substr(std::string_view("upstreams[].").size()));
    if (name == "match") return "upstreams:\n  - match: " + v + "\n";
    return kMinimal + "    " + name + ": " + v + "\n";
  }
  if (path == "upstreams") return "upstreams: " + v + "\n";
  const auto dot = path.find('.');
  EXPECT_EQ(path.find('.', dot == std::string_view::npos ? dot : dot + 1), std::string_view::npos)
      << path << ": configWith knows two levels only";
  if (dot == std::string_view::npos) return kMinimal + std::string(path) + ": " + v + "\n";
  return kMinimal + std::string(path.substr(0, dot)) + ":\n  " + std::string(path.substr(dot + 1)) +
         ": " + v + "\n";
}

TEST(ConfigKeys, DocumentedDefaultsAreTheParsersDefaults) {
  auto plain = parseConfig(kMinimal);
  ASSERT_TRUE(plain) << plain.error().detail;
  auto with_peers = parseConfig(peersWith("", ""));
  ASSERT_TRUE(with_peers) << with_peers.error().detail;
  int checked = 0;
  for (const ConfigKey& k : configKeys()) {
    if (k.default_value.empty()) continue;
    const auto& base = k.path.starts_with("peers.") ? with_peers : plain;
    if (k.path == "peers.static") continue;  // `static: []` beside `dns` is `dns` alone: below
    const std::string yaml = configWith(k.path, k.default_value);
    auto c = parseConfig(yaml);
    ASSERT_TRUE(c) << k.path << ": its documented default is refused: " << c.error().detail << "\n"
                   << yaml;
    Config got = std::move(c).value();
    if (k.path == "upstreams[].auth") {
      // auth_explicit records only that the key was written (so ECR hosts keep their default).
      EXPECT_TRUE(got.upstreams[0].auth_explicit);
      got.upstreams[0].auth_explicit = base.value().upstreams[0].auth_explicit;
    }
    EXPECT_TRUE(got == base.value())
        << k.path << ": setting it to its documented default `" << k.default_value
        << "` changes the config, so the default in the table (config_keys.cc) and the one in "
           "config.h differ";
    ++checked;
  }
  EXPECT_GT(checked, 25);
  auto empty_static = parseConfig(peersWith("static", "[]"));
  ASSERT_TRUE(empty_static) << empty_static.error().detail;
  EXPECT_TRUE(empty_static.value() == with_peers.value());
}

// A value one step outside a bound: "0" below "1", "99ms" below "100ms", "1048577" above "1MiB".
std::string justOutside(std::string_view bound, bool below) {
  auto whole = [](std::string_view t) {
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
    return ec == std::errc() && p == t.data() + t.size() ? std::optional<std::uint64_t>(n)
                                                         : std::nullopt;
  };
  if (auto n = whole(bound)) return std::to_string(below ? *n - 1 : *n + 1);
  if (auto d = parseDuration(bound))
    return std::to_string(below ? d.value().count() - 1 : d.value().count() + 1) + "ms";
  auto b = parseBytes(bound);
  EXPECT_TRUE(b) << "bound '" << bound << "' is no number, duration or size";
  return std::to_string(b ? (below ? b.value() - 1 : b.value() + 1) : 0);
}

// The bounds in the table are the parser's: each is accepted, one step past it is refused with
// the key and the bound named.
TEST(ConfigKeys, BoundsInTheTableAreTheParsersBounds) {
  int checked = 0;
  for (const ConfigKey& k : configKeys()) {
    for (const auto& [bound, below] : {std::pair{k.min, true}, std::pair{k.max, false}}) {
      if (bound.empty()) continue;
      // max_backoff may not be below backoff: probe it above the smallest backoff.
      std::string path(k.path);
      auto config = [&](const std::string& v) {
        return path == "source_breaker.max_backoff"
                   ? kMinimal + "source_breaker: {backoff: 100ms, max_backoff: " + v + "}\n"
                   : configWith(path, v);
      };
      auto at = parseConfig(config(std::string(bound)));
      EXPECT_TRUE(at) << path << " = " << bound << ": " << (at ? "" : at.error().detail);
      const std::string out = justOutside(bound, below);
      auto past = parseConfig(config(out));
      ASSERT_FALSE(past) << path << " = " << out << " is accepted";
      EXPECT_NE(past.error().detail.find(path), std::string::npos) << past.error().detail;
      EXPECT_NE(past.error().detail.find(std::string(bound)), std::string::npos)
          << past.error().detail;
      ++checked;
    }
  }
  EXPECT_GE(checked, 15);
}

// Every row is read by the parser: a mapping where its value belongs is refused, naming it.
TEST(ConfigKeys, TheParserReadsEveryKey) {
  for (const ConfigKey& k : configKeys()) {
    std::string named(k.path);
    for (auto p = named.find("[]"); p != std::string::npos; p = named.find("[]"))
      named.replace(p, 2, "[0]");
    auto c = parseConfig(configWith(k.path, "{not: a value}"));
    ASSERT_FALSE(c) << k.path << " is in the table but the parser ignores it";
    EXPECT_TRUE(c.error().detail.starts_with(named + ":"))
        << k.path << ": '" << c.error().detail << "' should name " << named;
    EXPECT_EQ(c.error().detail.find("unknown key"), std::string::npos) << c.error().detail;
  }
}

TEST(ConfigKeys, UnknownKeysAreRefusedListingTheTablesKeys) {
  auto c = parseConfig(configWith("cache.colour", "red"));
  ASSERT_FALSE(c);
  std::string list;
  for (auto name : childKeys("cache")) list += (list.empty() ? "" : ", ") + std::string(name);
  EXPECT_EQ(c.error().detail, "cache.colour: unknown key (allowed here: " + list + ")");
}

// --- the configs the project ships --------------------------------------------------------

// The key paths of a block-style YAML document, by indentation ("cache.dir", "upstreams[].url").
// Template lines ({{ ... }}) and comments are skipped; flow mappings are not looked into.
std::vector<std::string> keyPaths(const std::vector<std::string>& doc) {
  struct Level {
    std::size_t indent;
    std::string path;
  };
  std::vector<Level> stack;
  std::vector<std::string> out;
  for (const std::string& line : doc) {
    std::size_t indent = line.find_first_not_of(' ');
    if (indent == std::string::npos) continue;
    std::string_view rest = std::string_view(line).substr(indent);
    if (rest.starts_with("#") || rest.starts_with("{{")) continue;
    if (rest.starts_with("- ")) {
      while (!stack.empty() && stack.back().indent >= indent) stack.pop_back();
      stack.push_back({indent, (stack.empty() ? "" : stack.back().path) + "[]"});
      indent += 2;
      rest.remove_prefix(2);
    }
    const auto colon = rest.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    const std::string_view name = rest.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(),
                     [](char ch) { return std::islower(ch) || ch == '_'; }))
      continue;
    while (!stack.empty() && stack.back().indent >= indent) stack.pop_back();
    std::string path =
        stack.empty() ? std::string(name) : stack.back().path + "." + std::string(name);
    out.push_back(path);
    stack.push_back({indent, path});
  }
  return out;
}

// The lines of the `config.yaml: |` block of a Kubernetes manifest, dedented.
std::vector<std::string> configYamlBlock(const std::filesystem::path& file) {
  const auto all = lines(readFile(file));
  auto head = std::find_if(all.begin(), all.end(), [](const std::string& l) {
    return l.find("config.yaml: |") != std::string::npos;
  });
  EXPECT_NE(head, all.end()) << file << " has no config.yaml block";
  if (head == all.end()) return {};
  const std::size_t outer = head->find_first_not_of(' ');
  std::vector<std::string> block;
  std::size_t inner = std::string::npos;
  for (auto it = head + 1; it != all.end(); ++it) {
    const std::size_t indent = it->find_first_not_of(' ');
    if (indent == std::string::npos) continue;
    if (indent <= outer) break;
    if (inner == std::string::npos) inner = indent;
    block.push_back(it->substr(std::min(indent, inner)));
  }
  return block;
}

void expectKnown(const std::vector<std::string>& paths, const std::string& where) {
  EXPECT_FALSE(paths.empty()) << where << ": no keys found";
  for (const std::string& p : paths) {
    bool known = std::any_of(configKeys().begin(), configKeys().end(), [&](const ConfigKey& k) {
      return k.path == p || k.path.starts_with(p + ".") || k.path.starts_with(p + "[]");
    });
    EXPECT_TRUE(known) << where << " uses " << p
                       << ", which is not in daemon/config/config_keys.cc";
  }
}

TEST(ConfigKeys, KeyPathsWalksBlockYaml) {
  EXPECT_EQ(keyPaths(lines("a: 1\nb:\n  c: 2\n  # x\nd:\n  - e: f\n    g: h\n  - e: i\nj: k\n")),
            (std::vector<std::string>{"a", "b", "b.c", "d", "d[].e", "d[].g", "d[].e", "j"}));
}

TEST(ConfigKeys, ShippedConfigsUseOnlyKeysInTheTable) {
  int examples = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kSource / "examples")) {
    if (entry.path().extension() != ".yaml") continue;
    ++examples;
    auto c = loadConfig(entry.path().string());
    EXPECT_TRUE(c) << c.error().detail;  // the parser accepts only the table's keys
    expectKnown(keyPaths(lines(readFile(entry.path()))), entry.path().string());
  }
  EXPECT_GT(examples, 0);

  // The chart's template, every key it can render, and the manifests rendered from it.
  const auto tmpl = kSource / "helm/pullcache/templates/configmap.yaml";
  expectKnown(keyPaths(configYamlBlock(tmpl)), tmpl.string());
  const auto rendered = kSource / "deploy/kustomize/pullcache.yaml";
  const auto block = configYamlBlock(rendered);
  auto c = parseConfig(joined(block));
  EXPECT_TRUE(c) << rendered << ": " << c.error().detail;
  expectKnown(keyPaths(block), rendered.string());

  // The chart's schema says which keys an upstreams entry in the values may have; they are
  // rendered as they are (toYaml), so each must be an upstreams[] key.
  auto schema = nlohmann::json::parse(readFile(kSource / "helm/pullcache/values.schema.json"));
  const auto& items = schema["properties"]["config"]["properties"]["upstreams"]["items"];
  ASSERT_TRUE(items.contains("properties"));
  std::vector<std::string> upstream_keys;
  for (const auto& [name, _] : items["properties"].items())
    upstream_keys.push_back("upstreams[]." + name);
  expectKnown(upstream_keys, "values.schema.json (config.upstreams[])");
}

}  // namespace
}  // namespace pullcache::config
