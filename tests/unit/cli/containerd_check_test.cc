// The containerd configuration check: its TOML reader, and the verdict with its message on real
// (and real-style) config files in tests/testdata/containerd/.
#include "daemon/cli/containerd_check.h"
#include "daemon/cli/containerd_facts.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace pullcache::cli {
namespace {

const std::string kCerts = "/etc/containerd/certs.d";

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(PULLCACHE_SOURCE_DIR) + "/tests/testdata/containerd/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ContainerdVersion version(const std::string& text) {
  auto v = parseContainerdVersion(text);
  EXPECT_TRUE(v.has_value()) << text;
  return v.value_or(ContainerdVersion{});
}

ContainerdFacts facts(std::optional<std::string> text, std::optional<std::string> v) {
  ContainerdFacts f;
  f.config_file = "/etc/containerd/config.toml";
  f.config_text = std::move(text);
  if (v) f.version = version(*v);
  f.certs_dir = kCerts;
  return f;
}

// Every finding, one per line, for failure messages.
std::string dump(const ContainerdReport& r) {
  std::string out;
  for (const auto& f : r.findings)
    out += std::string(severityName(f.severity)) + " " + f.what + ": " + f.detail + "\n";
  return out;
}

// The detail of the first finding with this severity (empty if none).
std::string first(const ContainerdReport& r, Severity s) {
  for (const auto& f : r.findings)
    if (f.severity == s) return f.detail;
  return "";
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// ---- the TOML reader --------------------------------------------------------------------------

TEST(Toml, TablesQuotedAndDottedKeys) {
  auto doc = toml::parse(
      "version = 2 # trailing comment\n"
      "# a comment line\n"
      "[plugins.\"io.containerd.grpc.v1.cri\".registry]\n"
      "  config_path = \"/a:/b\"\n"
      "[plugins . 'io.containerd.cri.v1.images']\n"
      "  registry.config_path = '/c'\n"
      "  \"quoted.key\" = true\n"
      "  discard_unpacked_layers = false\n");
  ASSERT_TRUE(doc) << doc.error().detail;
  EXPECT_EQ(doc.value().integer({"version"}), 2);
  EXPECT_EQ(doc.value().string({"plugins", "io.containerd.grpc.v1.cri", "registry", "config_path"}),
            "/a:/b");
  EXPECT_EQ(
      doc.value().string({"plugins", "io.containerd.cri.v1.images", "registry", "config_path"}),
      "/c");
  EXPECT_EQ(doc.value().boolean({"plugins", "io.containerd.cri.v1.images", "quoted.key"}), true);
  EXPECT_EQ(
      doc.value().boolean({"plugins", "io.containerd.cri.v1.images", "discard_unpacked_layers"}),
      false);
  // A value of another type is not returned as the one asked for.
  EXPECT_EQ(doc.value().string({"version"}), std::nullopt);
  EXPECT_TRUE(doc.value().hasAnyUnder({"plugins", "io.containerd.grpc.v1.cri"}));
  EXPECT_FALSE(
      doc.value().hasAnyUnder({"plugins", "io.containerd.grpc.v1.cri", "registry", "mirrors"}));
}

TEST(Toml, StringsEscapesAndMultiLine) {
  auto doc = toml::parse(
      "a = \"tab\\there \\\"q\\\" \\u00e9 \\\\\"\n"
      "b = 'C:\\no\\escapes'\n"
      "c = \"\"\"\nline1\n  line2\"\"\"\n"
      "d = '''\nraw \\n'''\n"
      "e = \"\"\"trim \\\n      me\"\"\"\n"
      "f = \"\"\"two quotes at the end\"\"\"\"\"\n");
  ASSERT_TRUE(doc) << doc.error().detail;
  EXPECT_EQ(doc.value().string({"a"}), "tab\there \"q\" \xc3\xa9 \\");
  EXPECT_EQ(doc.value().string({"b"}), "C:\\no\\escapes");
  EXPECT_EQ(doc.value().string({"c"}), "line1\n  line2");
  EXPECT_EQ(doc.value().string({"d"}), "raw \\n");
  EXPECT_EQ(doc.value().string({"e"}), "trim me");
  EXPECT_EQ(doc.value().string({"f"}), "two quotes at the end\"\"");
}

TEST(Toml, IntegersArraysAndSkippedValues) {
  auto doc = toml::parse(
      "n = 1_000\nh = 0x10\nneg = -3\n"
      "list = [\n  \"a\", # comment inside\n  'b',\n]\n"
      "empty = []\n"
      "mixed = [1, \"x\"]\n"
      "nested = [[\"a\"], [\"b\"]]\n"
      "inline = { platform = 'linux/amd64', snapshotter = 'overlayfs', n = { x = 1 } }\n"
      "f = 0.02\nexp = 1e6\ninf_v = -inf\n"
      "when = 1979-05-27T07:32:00Z\nlocal = 1979-05-27 07:32:00\n"
      "[[arr]]\n  k = 'first'\n[[arr]]\n  k = 'second'\n"
      "[after]\n  ok = true\n");
  ASSERT_TRUE(doc) << doc.error().detail;
  const auto& d = doc.value();
  EXPECT_EQ(d.integer({"n"}), 1000);
  EXPECT_EQ(d.integer({"h"}), 16);
  EXPECT_EQ(d.integer({"neg"}), -3);
  ASSERT_NE(d.find({"list"}), nullptr);
  EXPECT_EQ(std::get<std::vector<std::string>>(*d.find({"list"})),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(std::get<std::vector<std::string>>(*d.find({"empty"})).empty());
  EXPECT_TRUE(std::holds_alternative<toml::Other>(*d.find({"mixed"})));
  EXPECT_TRUE(std::holds_alternative<toml::Other>(*d.find({"nested"})));
  EXPECT_TRUE(std::holds_alternative<toml::Other>(*d.find({"inline"})));
  EXPECT_TRUE(std::holds_alternative<toml::Other>(*d.find({"f"})));
  EXPECT_TRUE(std::holds_alternative<toml::Other>(*d.find({"local"})));
  EXPECT_EQ(d.string({"arr", "#0", "k"}), "first");
  EXPECT_EQ(d.string({"arr", "#1", "k"}), "second");
  EXPECT_EQ(d.boolean({"after", "ok"}), true);
}

TEST(Toml, MalformedInputIsAnErrorWithItsLine) {
  struct Case {
    std::string text;
    std::string message;
  };
  for (const auto& c : std::vector<Case>{
           {"a = 1\nb = \"open\n", "line 2: unterminated string"},
           {"a = 1\na = 2\n", "line 2: duplicate key a"},
           {"[t]\nx = 1\n[t]\nx = 2\n", "line 4: duplicate key t.x"},
           {"a = 1 2\n", "line 1: unexpected text after a value"},
           {"a\n", "line 1: expected '=' after a key"},
           {"[unclosed\n", "line 1: expected ']'"},
           {"a = [\"x\" \"y\"]\n", "line 1: expected ',' or ']'"},
           {"a = nope\n", "line 1: invalid value 'nope'"},
           {"a = \"\\q\"\n", "line 1: unknown escape \\q"},
           {"a = { b = 1\n", "expected ',' or '}'"},
           {"a = [\n", "unterminated array"},
           {"= 1\n", "line 1: expected a key"},
           {"a = 01\n", "invalid value '01'"},
       }) {
    auto doc = toml::parse(c.text);
    ASSERT_FALSE(doc) << c.text;
    EXPECT_TRUE(has(doc.error().detail, c.message)) << c.text << " -> " << doc.error().detail;
  }
}

TEST(Toml, EveryFixtureParses) {
  for (const auto& name : {"containerd-1.6-default.toml", "containerd-2.2-default.toml",
                           "eks-al2.toml", "eks-al2023.toml", "eks-al2023-discard-false.toml",
                           "no-config-path.toml", "version3-single-dir.toml"}) {
    auto doc = toml::parse(fixture(name));
    EXPECT_TRUE(doc) << name << ": " << (doc ? "" : doc.error().detail);
  }
}

// ---- versions ---------------------------------------------------------------------------------

TEST(ContainerdVersionText, FromTheBinaryTheSocketAndDistributions) {
  auto deb = parseContainerdVersion(
      "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n");
  ASSERT_TRUE(deb);
  EXPECT_EQ(deb->major, 1);
  EXPECT_EQ(deb->minor, 6);
  EXPECT_EQ(deb->patch, 20);
  EXPECT_EQ(deb->text, "1.6.20~ds1");
  auto upstream = parseContainerdVersion(
      "containerd github.com/containerd/containerd/v2 v2.1.5 "
      "fcd43222d6b07379a4be9786bda52438f0dd16a1");
  ASSERT_TRUE(upstream);
  EXPECT_EQ(upstream->text, "v2.1.5");
  EXPECT_TRUE(upstream->atLeast(2, 1));
  EXPECT_FALSE(upstream->atLeast(2, 2));
  EXPECT_TRUE(parseContainerdVersion("v2.2.0-rc.1")->atLeast(2, 2));
  EXPECT_FALSE(parseContainerdVersion("containerd dev"));
  EXPECT_FALSE(parseContainerdVersion(""));
}

TEST(ContainerdVersionText, FromAGrpcVersionResponse) {
  // VersionResponse{version: "v2.1.5", revision: "abc"}, length-prefixed.
  std::string msg = std::string(
      "\x0a\x06v2.1.5\x12\x03"
      "abc",
      13);
  std::string body = std::string("\0\0\0\0", 4) + static_cast<char>(msg.size()) + msg;
  EXPECT_EQ(versionFromGrpcBody(body), "v2.1.5");
  // Revision first, then version: field order does not matter.
  std::string swapped = std::string(
      "\x12\x03"
      "abc\x0a\x06v2.1.5",
      13);
  EXPECT_EQ(versionFromGrpcBody(std::string("\0\0\0\0", 4) + static_cast<char>(13) + swapped),
            "v2.1.5");
  EXPECT_EQ(versionFromGrpcBody(""), std::nullopt);
  EXPECT_EQ(versionFromGrpcBody(std::string("\0\0\0\0\x20", 5) + msg), std::nullopt);  // short
  EXPECT_EQ(versionFromGrpcBody(std::string("\1\0\0\0\x0d", 5) + msg), std::nullopt);  // compressed
}

// ---- verdicts on the fixtures -----------------------------------------------------------------

TEST(ContainerdCheck, Containerd16DefaultHasNoConfigPath) {
  auto r = checkContainerd(facts(fixture("containerd-1.6-default.toml"), "1.6.20~ds1"));
  EXPECT_TRUE(r.broken()) << dump(r);
  const auto msg = first(r, Severity::kFail);
  EXPECT_TRUE(has(msg, "no config_path in [plugins.\"io.containerd.grpc.v1.cri\".registry]"))
      << msg;
  EXPECT_TRUE(has(msg, "containerd 1.6.20~ds1 reads no hosts.toml")) << msg;
  EXPECT_TRUE(has(msg, "Set config_path = \"/etc/containerd/certs.d\"")) << msg;
  EXPECT_TRUE(has(msg, "restart containerd")) << msg;
  EXPECT_EQ(r.findings.front().detail, "containerd 1.6.20~ds1");
}

TEST(ContainerdCheck, EksAl2ListConfigPathWorksOnContainerd17) {
  auto r = checkContainerd(facts(fixture("eks-al2.toml"), "1.7.27"));
  EXPECT_FALSE(r.broken()) << dump(r);
  EXPECT_FALSE(r.warned()) << dump(r);
  EXPECT_TRUE(has(r.findings.back().detail,
                  "config_path = \"/etc/containerd/certs.d:/etc/docker/certs.d\" in "
                  "[plugins.\"io.containerd.grpc.v1.cri\".registry] includes "
                  "/etc/containerd/certs.d"))
      << dump(r);
  EXPECT_TRUE(has(r.findings.back().detail, "via the local pull path")) << dump(r);
}

TEST(ContainerdCheck, EksAl2023WorksOnlyBecauseDiscardUnpackedLayersIsTrue) {
  auto r = checkContainerd(facts(fixture("eks-al2023.toml"), "v2.1.5"));
  EXPECT_FALSE(r.broken()) << dump(r);
  ASSERT_TRUE(r.warned()) << dump(r);
  const auto msg = first(r, Severity::kWarn);
  EXPECT_TRUE(has(msg,
                  "only discard_unpacked_layers = true "
                  "([plugins.\"io.containerd.grpc.v1.cri\".containerd]) keeps CRI on the "
                  "local pull path"))
      << msg;
  EXPECT_TRUE(
      has(msg, "Set use_local_image_pull = true in [plugins.\"io.containerd.cri.v1.images\"]"))
      << msg;
  EXPECT_EQ(r.cri_section, "[plugins.\"io.containerd.cri.v1.images\"]");
}

TEST(ContainerdCheck, EksAl2023WithDiscardFalseOn21GoesThroughTheTransferService) {
  auto r = checkContainerd(facts(fixture("eks-al2023-discard-false.toml"), "v2.1.5"));
  ASSERT_TRUE(r.broken()) << dump(r);
  const auto msg = first(r, Severity::kFail);
  EXPECT_TRUE(has(msg, "containerd v2.1.5 pulls through the transfer service")) << msg;
  EXPECT_TRUE(has(msg,
                  "reads config_path \"/etc/containerd/certs.d:/etc/docker/certs.d\" as ONE "
                  "directory"))
      << msg;
  EXPECT_TRUE(
      has(msg, "Set use_local_image_pull = true in [plugins.\"io.containerd.cri.v1.images\"]"))
      << msg;
  EXPECT_TRUE(has(msg,
                  "or config_path = \"/etc/containerd/certs.d\" (one directory) in "
                  "[plugins.\"io.containerd.grpc.v1.cri\".registry]"))
      << msg;

  // The same file is fine on containerd 2.0 (no transfer service for CRI) ...
  auto on20 = checkContainerd(facts(fixture("eks-al2023-discard-false.toml"), "v2.0.7"));
  EXPECT_FALSE(on20.broken()) << dump(on20);
  EXPECT_FALSE(on20.warned()) << dump(on20);
  // ... and a warning when the version is unknown.
  auto unknown = checkContainerd(facts(fixture("eks-al2023-discard-false.toml"), std::nullopt));
  EXPECT_FALSE(unknown.broken()) << dump(unknown);
  EXPECT_TRUE(has(first(unknown, Severity::kWarn), "on containerd 2.1 and later")) << dump(unknown);
  EXPECT_TRUE(has(unknown.findings.front().detail, "unknown")) << dump(unknown);
}

TEST(ContainerdCheck, Containerd22DefaultListBreaksTheTransferService) {
  const auto text = fixture("containerd-2.2-default.toml");
  auto r = checkContainerd(facts(text, "v2.2.0"));
  ASSERT_TRUE(r.broken()) << dump(r);
  const auto msg = first(r, Severity::kFail);
  EXPECT_TRUE(has(msg,
                  "containerd v2.2.0 pulls through the transfer service "
                  "(use_local_image_pull is not true in "
                  "[plugins.\"io.containerd.cri.v1.images\"])"))
      << msg;
  EXPECT_TRUE(has(msg, "(one directory) in [plugins.\"io.containerd.cri.v1.images\".registry]"))
      << msg;

  // With use_local_image_pull = true it works.
  std::string local = text;
  local.replace(local.find("use_local_image_pull = false"), 28, "use_local_image_pull = true");
  auto fixed = checkContainerd(facts(local, "v2.2.0"));
  EXPECT_FALSE(fixed.broken()) << dump(fixed);
  EXPECT_FALSE(fixed.warned()) << dump(fixed);
  EXPECT_TRUE(has(dump(fixed), "not used: use_local_image_pull = true")) << dump(fixed);
}

TEST(ContainerdCheck, NoConfigPath) {
  const auto text = fixture("no-config-path.toml");
  auto r = checkContainerd(facts(text, "1.7.27"));
  ASSERT_TRUE(r.broken()) << dump(r);
  EXPECT_TRUE(has(first(r, Severity::kFail),
                  "no config_path in [plugins.\"io.containerd.grpc.v1.cri\".registry] of "
                  "/etc/containerd/config.toml: containerd 1.7.27 reads no hosts.toml"))
      << dump(r);
  // Unknown version: still broken (only 2.2+ has a default, and that one is a list).
  EXPECT_TRUE(checkContainerd(facts(text, std::nullopt)).broken());
  // 2.2.2 defaults it to the list, which its transfer service reads as one directory.
  auto on22 = checkContainerd(facts(text, "v2.2.2"));
  ASSERT_TRUE(on22.broken()) << dump(on22);
  EXPECT_TRUE(has(first(on22, Severity::kFail), "transfer service")) << dump(on22);
  // No file at all on 1.6: defaults, which read no hosts.toml.
  auto none = checkContainerd(facts(std::nullopt, "1.6.20"));
  EXPECT_TRUE(none.broken());
  EXPECT_TRUE(has(first(none, Severity::kWarn), "built-in defaults")) << dump(none);
}

TEST(ContainerdCheck, Version3File) {
  const auto text = fixture("version3-single-dir.toml");
  auto r = checkContainerd(facts(text, "v2.1.5"));
  EXPECT_FALSE(r.broken()) << dump(r);
  EXPECT_FALSE(r.warned()) << dump(r);
  EXPECT_TRUE(has(dump(r), "in use; config_path is one directory, which it reads")) << dump(r);
  EXPECT_TRUE(has(r.findings.back().detail,
                  "[plugins.\"io.containerd.cri.v1.images\".registry] includes "
                  "/etc/containerd/certs.d: CRI pulls read "
                  "/etc/containerd/certs.d/<registry>/hosts.toml via the transfer service"))
      << dump(r);
  // containerd 1.x cannot read a version 3 file.
  auto old = checkContainerd(facts(text, "1.7.27"));
  ASSERT_TRUE(old.broken());
  EXPECT_TRUE(has(first(old, Severity::kFail), "version 3 file")) << dump(old);
}

TEST(ContainerdCheck, ConfigPathWithoutOurDirectory) {
  auto f = facts(fixture("eks-al2.toml"), "1.7.27");
  f.certs_dir = "/var/lib/pullcache/certs.d";
  auto r = checkContainerd(f);
  ASSERT_TRUE(r.broken());
  EXPECT_TRUE(has(first(r, Severity::kFail),
                  "does not include /var/lib/pullcache/certs.d, where pullcache writes hosts.toml"))
      << dump(r);
  // A trailing slash or "./" still names the same directory.
  f.config_text =
      "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n"
      "config_path = \"/var/lib/pullcache/./certs.d/\"\n";
  EXPECT_FALSE(checkContainerd(f).broken()) << dump(checkContainerd(f));
}

TEST(ContainerdCheck, MirrorsAndDisabledCri) {
  auto both = checkContainerd(
      facts("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n"
            "config_path = \"/etc/containerd/certs.d\"\n"
            "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n"
            "endpoint = [\"https://mirror.example\"]\n",
            "1.7.27"));
  ASSERT_TRUE(both.broken());
  EXPECT_TRUE(has(first(both, Severity::kFail), "refuses to load")) << dump(both);
  // Docker's packaged config.toml turns CRI off.
  auto docker = checkContainerd(facts("disabled_plugins = [\"cri\"]\n", "1.6.20"));
  ASSERT_TRUE(docker.broken());
  EXPECT_TRUE(has(first(docker, Severity::kFail), "disabled_plugins")) << dump(docker);
}

TEST(ContainerdCheck, ReadOnlyConfigSaysWhereTheFixCannotGo) {
  auto f = facts(fixture("eks-al2023-discard-false.toml"), "v2.1.5");
  f.config_writable = false;
  auto r = checkContainerd(f);
  ASSERT_TRUE(r.broken());
  EXPECT_TRUE(has(dump(r), "is read-only")) << dump(r);
  EXPECT_TRUE(has(dump(r), "Bottlerocket")) << dump(r);
  // Read-only but working: just a note.
  auto fine = facts(fixture("eks-al2.toml"), "1.7.27");
  fine.config_writable = false;
  auto ok = checkContainerd(fine);
  EXPECT_FALSE(ok.broken());
  EXPECT_FALSE(ok.warned()) << dump(ok);
  EXPECT_TRUE(has(dump(ok), "nothing needs changing")) << dump(ok);
}

TEST(ContainerdCheck, UnparsableConfig) {
  auto r = checkContainerd(facts("version = 2\n[plugins\n", "1.7.27"));
  ASSERT_TRUE(r.broken());
  EXPECT_TRUE(has(first(r, Severity::kFail), "is not valid TOML (line 2:")) << dump(r);
}

}  // namespace
}  // namespace pullcache::cli
