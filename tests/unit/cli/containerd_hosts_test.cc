// hosts.toml for containerd: rendering, merging with a user's file, idempotent reruns, and
// removal that puts the user's file back byte for byte.
#include "daemon/cli/containerd_hosts.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/temp_dir.h"

namespace pullcache::cli {
namespace {

const std::string kMirror = "http://127.0.0.1:5000";

config::Config configWith(std::vector<std::pair<std::string, std::string>> upstreams) {
  config::Config c;
  for (auto& [match, url] : upstreams) {
    config::UpstreamConfig u;
    u.match = match;
    u.url = url;
    c.upstreams.push_back(u);
  }
  return c;
}

TEST(ContainerdHosts, EntriesFollowTheUpstreams) {
  auto entries = hostsEntries(configWith({{"docker.io", ""},
                                          {"ghcr.io", ""},
                                          {"registry.local:5000", "http://registry.local:5000"},
                                          {"*.dkr.ecr.eu-west-1.amazonaws.com", ""}}),
                              false);
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].dir, "docker.io");
  EXPECT_EQ(entries[0].server, "https://registry-1.docker.io");
  EXPECT_EQ(entries[1].server, "https://ghcr.io");
  EXPECT_EQ(entries[2].server, "http://registry.local:5000");
  EXPECT_EQ(entries[3].dir, "_default");  // a glob: every registry
  EXPECT_EQ(entries[3].server, "");
  auto literal_only = hostsEntries(configWith({{"quay.io", ""}}), false);
  ASSERT_EQ(literal_only.size(), 1u);
  EXPECT_EQ(hostsEntries(configWith({{"quay.io", ""}}), true).back().dir, "_default");
}

TEST(ContainerdHosts, FreshFileHasServerAndOurHostFirst) {
  auto text = renderHostsToml({"docker.io", "https://registry-1.docker.io"}, kMirror, "", "500ms");
  EXPECT_EQ(text, std::string(kBeginMarker) +
                      "\n"
                      "server = \"https://registry-1.docker.io\"\n\n"
                      "[host.\"http://127.0.0.1:5000\"]\n"
                      "  capabilities = [\"pull\", \"resolve\"]\n"
                      "  dial_timeout = \"500ms\"\n" +
                      std::string(kEndMarker) + "\n");
}

TEST(ContainerdHosts, MergeKeepsTheirServerTopLevelKeysAndHostsAfterOurs) {
  const std::string theirs =
      "server = \"https://docker.io\"\n"
      "skip_verify = false\n"
      "\n"
      "[host.\"https://corp-mirror.example.com\"]\n"
      "  capabilities = [\"pull\"]\n";
  auto text =
      renderHostsToml({"docker.io", "https://registry-1.docker.io"}, kMirror, theirs, "500ms");
  // Their top-level keys first (still top-level), their server kept (not ours), then our host,
  // then theirs.
  auto their_server = text.find("server = \"https://docker.io\"");
  auto skip = text.find("skip_verify = false");
  auto ours = text.find("[host.\"http://127.0.0.1:5000\"]");
  auto corp = text.find("[host.\"https://corp-mirror.example.com\"]");
  ASSERT_NE(their_server, std::string::npos) << text;
  EXPECT_EQ(text.find("registry-1.docker.io"), std::string::npos) << text;
  EXPECT_LT(their_server, ours);
  EXPECT_LT(skip, ours);
  EXPECT_LT(ours, corp);
  // Rendering again from the merged text changes nothing (our block is replaced, not repeated).
  EXPECT_EQ(renderHostsToml({"docker.io", "x"}, kMirror, text, "500ms"), text);
  EXPECT_EQ(stripOurBlock(text).find("127.0.0.1:5000"), std::string::npos);
}

TEST(ContainerdHosts, InstallIsIdempotentAndRemoveRestoresByteForByte) {
  testing::TempDir dir;
  const std::string certs = dir.sub("certs.d");
  const std::string theirs = "server = \"https://ghcr.io\"\n\n[host.\"https://x.example\"]\n";
  testing::writeTextFile(certs + "/ghcr.io/hosts.toml", theirs);
  std::vector<HostsEntry> entries = {{"docker.io", "https://registry-1.docker.io"},
                                     {"ghcr.io", "https://ghcr.io"}};

  auto first = installHosts(certs, entries, kMirror, "500ms");
  ASSERT_TRUE(first) << first.error().message();
  ASSERT_EQ(first.value().size(), 2u);
  EXPECT_EQ(first.value()[0].what, "written");
  EXPECT_NE(first.value()[1].what.find("kept as"), std::string::npos);
  EXPECT_EQ(testing::readTextFile(certs + "/ghcr.io/hosts.toml.pullcache-backup"), theirs);
  const std::string merged = testing::readTextFile(certs + "/ghcr.io/hosts.toml");
  EXPECT_NE(merged.find("https://x.example"), std::string::npos);

  // A restart (init container again, an upgrade): nothing changes, the backup stays theirs.
  auto second = installHosts(certs, entries, kMirror, "500ms");
  ASSERT_TRUE(second);
  for (const auto& a : second.value()) EXPECT_EQ(a.what, "unchanged") << a.path;
  EXPECT_EQ(testing::readTextFile(certs + "/ghcr.io/hosts.toml.pullcache-backup"), theirs);
  // A new mirror address (an upgrade that moved the port): rewritten from the backup, once.
  auto moved = installHosts(certs, entries, "http://127.0.0.1:5001", "500ms");
  ASSERT_TRUE(moved);
  auto moved_text = testing::readTextFile(certs + "/ghcr.io/hosts.toml");
  EXPECT_EQ(moved_text.find("127.0.0.1:5000"), std::string::npos);
  EXPECT_NE(moved_text.find("127.0.0.1:5001"), std::string::npos);

  auto removed = removeHosts(certs, entries);
  ASSERT_TRUE(removed);
  EXPECT_EQ(testing::readTextFile(certs + "/ghcr.io/hosts.toml"), theirs);
  EXPECT_FALSE(std::filesystem::exists(certs + "/ghcr.io/hosts.toml.pullcache-backup"));
  EXPECT_FALSE(std::filesystem::exists(certs + "/docker.io"));  // ours alone: gone entirely
  // Removing again is harmless.
  ASSERT_TRUE(removeHosts(certs, entries));
  EXPECT_EQ(testing::readTextFile(certs + "/ghcr.io/hosts.toml"), theirs);
}

// The containerd check runs after the files are written; it fails the command only with
// strict (the check itself is tested in containerd_check_test.cc).
TEST(ContainerdHosts, StrictFailsOnAConfigContainerdCannotUse) {
  testing::TempDir dir;
  ContainerdConfigOptions o;
  o.certs_dir = dir.sub("certs.d");
  o.containerd_config = dir.sub("config.toml");
  o.containerd_address = dir.sub("no-such.sock");
  o.mirror_url = kMirror;
  const auto config = configWith({{"quay.io", ""}});
  testing::writeTextFile(o.containerd_config, "version = 2\n");  // no config_path
  EXPECT_EQ(containerdConfig(config, o), 0);
  EXPECT_TRUE(std::filesystem::exists(o.certs_dir + "/quay.io/hosts.toml"));
  o.strict = true;
  EXPECT_EQ(containerdConfig(config, o), 1);
  // A config that reads the certs dir passes strict.
  testing::writeTextFile(o.containerd_config,
                         "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n"
                         "config_path = \"" +
                             o.certs_dir + "\"\n");
  EXPECT_EQ(containerdConfig(config, o), 0);
}

}  // namespace
}  // namespace pullcache::cli
