// The pullcache binary's command line: exit codes and messages a platform engineer sees.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/fixtures.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"

namespace pullcache::testing {
namespace {

TEST(Cli, VersionAndUsage) {
  auto v = runCommand({pullcacheBinary(), "version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_NE(v.output.find("pullcache "), std::string::npos);
  auto usage = runCommand({pullcacheBinary(), "frobnicate"});
  EXPECT_EQ(usage.code, 2);
  EXPECT_NE(usage.output.find("usage:"), std::string::npos);
}

TEST(Cli, EveryCommandAnswersHelpOnStdout) {
  for (const char* name : {"serve", "check-config", "stats", "gc", "prefetch", "containerd-config",
                           "doctor", "version", "help"}) {
    const std::string cmd = name;
    for (const std::string flag : {"--help", "-h"}) {
      // stderr to /dev/null: the help is the answer, on stdout.
      auto r =
          runCommand({"sh", "-c", pullcacheBinary() + " " + cmd + " " + flag + " 2>/dev/null"});
      EXPECT_EQ(r.code, 0) << cmd << " " << flag << ": " << r.output;
      EXPECT_TRUE(r.output.starts_with("usage: pullcache " + cmd)) << cmd << ": " << r.output;
      EXPECT_NE(r.output.find("-h, --help"), std::string::npos) << cmd << ": " << r.output;
      EXPECT_NE(r.output.find("3  invalid configuration"), std::string::npos) << r.output;
    }
    auto help = runCommand({pullcacheBinary(), "help", cmd});
    EXPECT_EQ(help.code, 0) << help.output;
    EXPECT_TRUE(help.output.starts_with("usage: pullcache " + cmd)) << help.output;
  }
  // A command's options, from its table row.
  auto prefetch = runCommand({pullcacheBinary(), "prefetch", "--help"});
  for (const char* s : {"--config FILE", "--all-platforms", "IMAGE..."})
    EXPECT_NE(prefetch.output.find(s), std::string::npos) << s << "\n" << prefetch.output;
  auto doctor = runCommand({pullcacheBinary(), "doctor", "--help"});
  for (const char* s : {"--image REF", "--host-root DIR", "--containerd-config FILE",
                        "--containerd-address SOCK", "--certs-dir DIR"})
    EXPECT_NE(doctor.output.find(s), std::string::npos) << s << "\n" << doctor.output;
  // The whole list, with the exit codes, on stdout.
  for (const char* arg : {"--help", "help"}) {
    auto all = runCommand({"sh", "-c", pullcacheBinary() + " " + arg + " 2>/dev/null"});
    EXPECT_EQ(all.code, 0);
    for (const char* s : {"prefetch", "containerd-config", "doctor", "exit codes:", "0  ok",
                          "1  runtime failure", "2  usage error", "3  invalid configuration"})
      EXPECT_NE(all.output.find(s), std::string::npos) << s << "\n" << all.output;
  }
}

TEST(Cli, UsageErrorsExit2WithTheCommandsUsageOnStderr) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{}, "no command"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{"prefetch", "--config", "c.yaml", "--frob", "x"}, "prefetch: unknown option '--frob'"},
      {{"prefetch", "--config", "c.yaml"}, "prefetch: missing IMAGE..."},
      {{"stats"}, "stats: --config FILE is required"},
      {{"gc", "--config"}, "gc: --config needs a value (FILE)"},
      {{"check-config"}, "check-config: missing FILE"},
      {{"check-config", "a.yaml", "b.yaml"}, "unexpected argument 'b.yaml'"},
      {{"serve", "--config", "a.yaml", "--config", "b.yaml"}, "--config given twice"},
      {{"help", "frobnicate"}, "unknown command 'frobnicate'"},
  };
  for (const auto& c : cases) {
    std::string cmd = pullcacheBinary();
    for (const auto& a : c.args) cmd += " " + a;
    auto out = runCommand({"sh", "-c", cmd + " 2>/dev/null"});
    EXPECT_EQ(out.code, 2) << cmd;
    EXPECT_EQ(out.output, "") << cmd << ": stdout is for answers";
    auto err = runCommand({"sh", "-c", cmd + " 2>&1 >/dev/null"});
    EXPECT_NE(err.output.find(c.says), std::string::npos) << cmd << ": " << err.output;
    EXPECT_NE(err.output.find("usage: pullcache"), std::string::npos) << cmd << ": " << err.output;
  }
}

TEST(Cli, DoctorAndContainerdConfigTakeTheirContainerdOptions) {
  // Parsed (not a usage error): the missing config is what stops them, exit code 3.
  TempDir dir;
  const std::string missing = dir.sub("missing.yaml");
  auto doctor = runCommand({pullcacheBinary(), "doctor", "--config", missing, "--image", "a/b:c",
                            "--image", "d/e:f", "--host-root", dir.path(), "--containerd-config",
                            dir.sub("config.toml"), "--containerd-address",
                            dir.sub("containerd.sock"), "--certs-dir", dir.sub("certs.d")});
  EXPECT_EQ(doctor.code, 3) << doctor.output;
  auto hosts =
      runCommand({pullcacheBinary(), "containerd-config", "--config", missing, "--strict", "--all",
                  "--dial-timeout=1s", "--containerd-address", dir.sub("containerd.sock")});
  EXPECT_EQ(hosts.code, 3) << hosts.output;
}

TEST(Cli, CheckConfigNamesTheBadKey) {
  TempDir dir;
  writeTextFile(dir.sub("good.yaml"), "upstreams:\n  - match: docker.io\n");
  auto good = runCommand({pullcacheBinary(), "check-config", dir.sub("good.yaml")});
  EXPECT_EQ(good.code, 0) << good.output;
  writeTextFile(dir.sub("bad.yaml"),
                "upstreams:\n  - match: docker.io\ncache:\n  max_bytes: lots\n");
  auto bad = runCommand({pullcacheBinary(), "check-config", dir.sub("bad.yaml")});
  EXPECT_EQ(bad.code, 3);
  EXPECT_NE(bad.output.find("cache.max_bytes"), std::string::npos) << bad.output;
  // serve refuses the same file before touching anything.
  auto serve = runCommand({pullcacheBinary(), "serve", "--config", dir.sub("bad.yaml")});
  EXPECT_EQ(serve.code, 3);
}

TEST(Cli, MetricsListenOverride) {
  TempDir dir;
  const int port = freePort();
  const int metrics = freePort();
  writeTextFile(dir.sub("c.yaml"), "listen: 127.0.0.1:" + std::to_string(port) +
                                       "\nmetrics_listen: 127.0.0.1:1\ncache: {dir: " +
                                       dir.sub("cache") + "}\nupstreams:\n  - match: docker.io\n");
  Process serve({pullcacheBinary(), "serve", "--config", dir.sub("c.yaml"), "--metrics-listen",
                 "127.0.0.1:" + std::to_string(metrics)},
                dir.sub("serve.log"));
  EXPECT_TRUE(waitFor(
      [&] {
        return httpGet("http://127.0.0.1:" + std::to_string(metrics) + "/healthz").status == 200;
      },
      std::chrono::seconds(10)))
      << serve.log();
  auto bad = runCommand({pullcacheBinary(), "serve", "--config", dir.sub("c.yaml"),
                         "--metrics-listen", "node-ip:9095"});
  EXPECT_EQ(bad.code, 3);
  EXPECT_NE(bad.output.find("--metrics-listen"), std::string::npos) << bad.output;
  // A second daemon on the same registry port fails at start-up and says which listener, on
  // which address, could not bind.
  writeTextFile(dir.sub("c2.yaml"),
                "listen: 127.0.0.1:" + std::to_string(port) + "\nmetrics_listen: 127.0.0.1:" +
                    std::to_string(freePort()) + "\ncache: {dir: " + dir.sub("cache2") +
                    "}\nupstreams:\n  - match: docker.io\n");
  auto taken = runCommand({pullcacheBinary(), "serve", "--config", dir.sub("c2.yaml")});
  EXPECT_EQ(taken.code, 1) << taken.output;
  EXPECT_NE(taken.output.find("pullcache: registry listener 127.0.0.1:" + std::to_string(port) +
                              ": Address already in use"),
            std::string::npos)
      << taken.output;
}

TEST(Cli, SecretsNeverReachTheLog) {
  TempDir dir;
  RegistryServer registry(dir.sub("registry"));
  registry.start();
  PullcacheOptions options;
  PullcacheServer pc(dir.sub("pc"), registry.host(), options);
  // Same upstream, with basic credentials this time (docker-registry ignores them).
  std::string yaml = readTextFile(pc.configPath());
  auto pos = yaml.find("    url: http://");
  yaml.insert(yaml.find('\n', pos) + 1,
              "    auth: basic\n    username: robot\n    password: s3cr3t-value\n");
  writeTextFile(pc.configPath(), yaml);
  pc.start();
  auto r = httpGet(pc.url("/v2/some/repo/manifests/latest?ns=" + registry.host()));
  EXPECT_EQ(r.status, 404);
  pc.stop();
  EXPECT_EQ(pc.log().find("s3cr3t-value"), std::string::npos);
  EXPECT_NE(pc.log().find("status=404"), std::string::npos);
}

TEST(Cli, SigtermStopsCleanlyWithAClientStuckMidTransfer) {
  TempDir dir;
  RegistryServer registry(dir.sub("registry"));
  registry.start();
  auto image = writeOciLayout(dir.sub("layout"), "v1", {{16 << 20, 5}});
  std::string log;
  ASSERT_EQ(pushWithSkopeo(image, registry.host(), "slow/reader", &log), 0) << log;
  auto remote = inspectRemote(registry.host(), "slow/reader", "v1");
  PullcacheServer pc(dir.sub("pc"), registry.host());
  pc.start();
  // A client that asks for a 16 MiB blob and never reads: its session blocks in sendfile.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(pc.port()));
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string req = "GET /v2/slow/reader/blobs/" + remote.layer_digests[0] +
                    "?ns=" + registry.host() + " HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  char first[1];
  ASSERT_EQ(::recv(fd, first, 1, 0), 1);  // the response has started
  EXPECT_EQ(pc.stop(), 0);                // exits on its own, status 0
  ::close(fd);
}

TEST(Cli, HealthAndReadiness) {
  TempDir dir;
  RegistryServer registry(dir.sub("registry"));
  registry.start();
  PullcacheServer pc(dir.sub("pc"), registry.host());
  pc.start();
  EXPECT_EQ(httpGet(pc.healthUrl("/healthz")).status, 200);
  EXPECT_EQ(httpGet(pc.healthUrl("/readyz")).status, 200);
  EXPECT_EQ(httpGet(pc.healthUrl("/nope")).status, 404);
  // The registry port is not the health port and vice versa.
  EXPECT_EQ(httpGet(pc.url("/healthz")).status, 404);
}

}  // namespace
}  // namespace pullcache::testing
