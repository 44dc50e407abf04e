// Ordered sources of an upstream (upstreams[].sources): the name mapping, the breaker, the
// verdict on each answer, and RegistryClient carrying them out against a scripted client.
#include "daemon/upstream/sources.h"

#include <gtest/gtest.h>

#include <thread>

#include "common/source_path.h"
#include "daemon/config/config.h"
#include "daemon/upstream/registry_client.h"
#include "daemon/upstream/source_breaker.h"
#include "tests/support/fake_upstream_client.h"
#include "tests/support/run_coro.h"

namespace pullcache::upstream {
namespace {

using metrics::FallbackReason;
using testing::ScriptedResponse;

constexpr const char* kEcr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

// --- the name mapping ------------------------------------------------------------------------

TEST(SourcePath, ParsesHostPortAndPrefix) {
  auto p = SourcePath::parse(std::string(kEcr) + "/docker-hub");
  ASSERT_TRUE(p) << p.error().detail;
  EXPECT_EQ(p.value().host, kEcr);
  EXPECT_EQ(p.value().prefix, "docker-hub");
  EXPECT_EQ(p.value().str(), std::string(kEcr) + "/docker-hub");
  auto nested = SourcePath::parse("mirror.example:5000/team/hub/");  // ECR assumes the '/'
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested.value().host, "mirror.example:5000");
  EXPECT_EQ(nested.value().prefix, "team/hub");
  auto bare = SourcePath::parse("docker.io");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare.value().prefix, "");
  EXPECT_EQ(bare.value().str(), "docker.io");
  auto slash = SourcePath::parse("docker.io/");
  ASSERT_TRUE(slash) << "an empty prefix is no prefix";
  EXPECT_EQ(slash.value().str(), "docker.io");
  auto capitals = SourcePath::parse("Docker.IO/library");
  ASSERT_TRUE(capitals) << "a host name is case-insensitive, as upstreams[].match";
  EXPECT_EQ(capitals.value().str(), "docker.io/library");
  for (const char* bad :
       {"", "docker.io//x", "docker.io/Library", "docker.io/a..b", "host name/x", "docker.io/-x"})
    EXPECT_FALSE(SourcePath::parse(bad)) << bad;
  // Userinfo never reaches the message.
  auto secret = SourcePath::parse("user:hunter2@ptc.test/x");
  ASSERT_FALSE(secret);
  EXPECT_EQ(secret.error().detail.find("hunter2"), std::string::npos) << secret.error().detail;
}

TEST(SourcePath, EcrRulePrefixesAreTwoToThirtyCharacters) {
  auto parse = [](const std::string& prefix) {
    return SourcePath::parse(std::string(kEcr) + "/" + prefix);
  };
  EXPECT_FALSE(parse("d"));
  EXPECT_TRUE(parse("dh"));
  EXPECT_TRUE(parse(std::string(30, 'a')));
  EXPECT_FALSE(parse(std::string(31, 'a')));
  EXPECT_TRUE(SourcePath::parse("mirror.example/" + std::string(31, 'a')))
      << "other registries have no such limit";
  auto root = SourcePath::parse(kEcr);
  ASSERT_TRUE(root) << "a ROOT rule has no prefix";
  EXPECT_TRUE(root.value().ecr);
  EXPECT_FALSE(SourcePath::parse("docker.io").value().ecr);
}

TEST(SourcePath, TheClientsNameGoesUnderThePrefixWithinTheSourcesLimit) {
  auto ecr = SourcePath::parse(std::string(kEcr) + "/docker-hub").value();
  EXPECT_EQ(ecr.repository("library/nginx").value(), "docker-hub/library/nginx");
  // ECR takes 256 characters: "docker-hub/" is 11, so a 245-character name fits, 246 does not.
  const std::string fits = "a/" + std::string(243, 'b');
  ASSERT_EQ(fits.size(), 245u);
  EXPECT_EQ(ecr.repository(fits).value().size(), 256u);
  auto over = ecr.repository(fits + "c");
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, Errc::kNameInvalid);
  EXPECT_NE(over.error().detail.find("at most 256"), std::string::npos) << over.error().detail;
  // Elsewhere the OCI grammar's 255 applies to the whole name.
  auto plain = SourcePath::parse("mirror.example/hub").value();
  EXPECT_TRUE(plain.repository(std::string(251, 'n')));  // "hub/" + 251 = 255
  EXPECT_FALSE(plain.repository(std::string(252, 'n')));
  EXPECT_EQ(SourcePath::parse("docker.io").value().repository("library/nginx").value(),
            "library/nginx");
}

// --- the breaker -------------------------------------------------------------------------------

TEST(SourceBreaker, OpensAfterConsecutiveFailuresAndTriesOnceAfterTheBackoff) {
  SourceBreaker b(config::SourceBreakerConfig{
      .failures = 3, .backoff = std::chrono::seconds(10), .max_backoff = std::chrono::seconds(25)});
  const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  using std::chrono::seconds;
  EXPECT_FALSE(b.failed(t0));
  EXPECT_FALSE(b.succeeded());  // a working answer resets the count...
  EXPECT_FALSE(b.failed(t0));
  EXPECT_FALSE(b.failed(t0));
  EXPECT_TRUE(b.admit(t0));
  EXPECT_TRUE(b.failed(t0)) << "...so this third failure in a row opens it";
  EXPECT_TRUE(b.open());
  EXPECT_FALSE(b.admit(t0 + seconds(9)));
  EXPECT_TRUE(b.admit(t0 + seconds(10))) << "the try";
  EXPECT_FALSE(b.admit(t0 + seconds(11))) << "one try at a time";
  EXPECT_FALSE(b.failed(t0 + seconds(12)));  // the try failed: 20 s now
  EXPECT_EQ(b.backoff(), seconds(20));
  EXPECT_FALSE(b.admit(t0 + seconds(31)));
  EXPECT_TRUE(b.admit(t0 + seconds(32)));
  EXPECT_FALSE(b.failed(t0 + seconds(32)));
  EXPECT_EQ(b.backoff(), seconds(25)) << "doubling stops at max_backoff";
  EXPECT_TRUE(b.admit(t0 + seconds(57)));
  EXPECT_TRUE(b.succeeded()) << "a try that works closes it";
  EXPECT_FALSE(b.open());
  EXPECT_TRUE(b.admit(t0 + seconds(57)));
  EXPECT_FALSE(b.failed(t0 + seconds(58))) << "closed again: the count starts over";
}

// --- the verdict on one answer ---------------------------------------------------------------

Result<http::Response> answer(int status) {
  http::Response r;
  r.status = status;
  return r;
}

TEST(SourceVerdict, FinalAnswersAndTheOnesTheNextSourceGets) {
  struct Case {
    Result<http::Response> in;
    std::optional<FallbackReason> fallback;
    bool failed;
    bool later;
  };
  const std::vector<Case> cases = {
      {answer(200), std::nullopt, false, false},
      {answer(206), std::nullopt, false, false},
      {answer(416), std::nullopt, false, false},
      {answer(400), std::nullopt, false, false},
      {answer(404), FallbackReason::kNotFound, false, false},
      {answer(401), FallbackReason::kDenied, true, false},
      {answer(403), FallbackReason::kDenied, true, false},
      {answer(429), FallbackReason::kThrottled, true, true},
      {answer(500), FallbackReason::kError, true, true},
      {answer(503), FallbackReason::kError, true, true},
      {Result<http::Response>(Error{Errc::kUpstreamUnavailable, "refused"}),
       FallbackReason::kUnreachable, true, true},
      {Result<http::Response>(Error{Errc::kTimeout, "stalled"}), FallbackReason::kUnreachable, true,
       true},
      {Result<http::Response>(Error{Errc::kDenied, "AccessDenied"}), FallbackReason::kDenied, true,
       false},
      {Result<http::Response>(Error{Errc::kUpstreamBadResponse, "redirect loop"}),
       FallbackReason::kError, true, true},
      {Result<http::Response>(Error{Errc::kTooLarge, "manifest over its limit"}), std::nullopt,
       false, false},
  };
  for (const auto& c : cases) {
    const auto v = judgeSourceAnswer(c.in);
    const std::string what = c.in ? std::to_string(c.in.value().status) : c.in.error().detail;
    EXPECT_EQ(v.fallback, c.fallback) << what;
    EXPECT_EQ(v.source_failed, c.failed) << what;
    EXPECT_EQ(v.try_later, c.later) << what;
  }
  // A refusal of a token the source issued for the repository: handed on, no failure.
  const auto refused = judgeSourceAnswer(answer(401), true);
  EXPECT_EQ(refused.fallback, FallbackReason::kDenied);
  EXPECT_FALSE(refused.source_failed);
}

// --- RegistryClient over two sources ---------------------------------------------------------

constexpr const char* kPrimary = "https://ptc.test/v2/docker-hub/library/nginx";
constexpr const char* kHub = "https://hub.test/v2/library/nginx";

class SourcesTest : public ::testing::Test {
 protected:
  SourcesTest() {
    build({.failures = 2,
           .backoff = std::chrono::seconds(60),
           .max_backoff = std::chrono::seconds(60)});
  }
  // The router again, with another breaker (the breakers are the router's).
  void build(config::SourceBreakerConfig breaker) {
    config::Config cfg;
    config::UpstreamConfig u;
    u.match = "docker.io";
    config::SourceConfig primary;
    primary.registry = "ptc.test/docker-hub";
    primary.url = "https://ptc.test";
    config::SourceConfig hub;
    hub.registry = "docker.io";
    hub.url = "https://hub.test";
    u.sources = {primary, hub};
    cfg.upstreams.push_back(u);
    cfg.source_breaker = breaker;
    router_ = std::make_unique<UpstreamRouter>(cfg, http_, clock_, &metrics_);
  }
  ~SourcesTest() override { http_.join(); }

  Result<http::Response> get(const std::string& path) {
    return testing::runCoro(ioc_, client_.request(router_->resolve("docker.io").value(), "GET",
                                                  "nginx", path, Headers(), 1 << 20));
  }
  double fallbacks(const std::string& source, FallbackReason r) {
    return static_cast<double>(
        metrics_.source("docker.io", source).fallbacks[static_cast<std::size_t>(r)].value());
  }

  asio::io_context ioc_;
  SystemClock clock_;
  metrics::Metrics metrics_{"test", "test"};
  testing::FakeUpstreamClient http_{ioc_.get_executor()};
  RegistryClient client_{http_, std::chrono::seconds(5)};
  std::unique_ptr<UpstreamRouter> router_;
};

TEST_F(SourcesTest, TheFirstSourceAnswersUnderItsPrefixAndTheSecondIsNotAsked) {
  http_.script(std::string(kPrimary) + "/manifests/1", {.body = "{from ptc}"});
  auto r = get("manifests/1");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().body, "{from ptc}");
  EXPECT_EQ(http_.calls(std::string(kHub) + "/manifests/1"), 0);
  EXPECT_TRUE(http_.unexpected().empty());
  // Its requests are counted under the source's registry.
  EXPECT_EQ(metrics_.upstream("ptc.test/docker-hub").bytes.value(), 10u);
}

TEST_F(SourcesTest, A404GoesToTheNextSourceAndIsCountedNotAsAFailure) {
  http_.script(std::string(kPrimary) + "/manifests/1", {.status = 404, .body = "{}"});
  http_.script(std::string(kHub) + "/manifests/1", {.body = "{from hub}"});
  for (int i = 0; i < 3; ++i) {
    auto r = get("manifests/1");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r.value().status, 200);
    EXPECT_EQ(r.value().body, "{from hub}");
  }
  EXPECT_EQ(fallbacks("ptc.test/docker-hub", FallbackReason::kNotFound), 3);
  // A 404 is a working registry: the breaker stays closed and the source is asked each time.
  EXPECT_EQ(http_.calls(std::string(kPrimary) + "/manifests/1"), 3);
  EXPECT_EQ(metrics_.source("docker.io", "ptc.test/docker-hub").breaker_open.value(), 0);
}

TEST_F(SourcesTest, AnUnreachableSourceIsSkippedOnceItsBreakerOpens) {
  http_.script(std::string(kPrimary) + "/manifests/1", {.refuse = true});
  http_.script(std::string(kHub) + "/manifests/1", {.body = "{from hub}"});
  for (int i = 0; i < 4; ++i) {
    auto r = get("manifests/1");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r.value().body, "{from hub}");
  }
  // failures: 2 requests (each retried by the retry policy) open it; the next two skip it.
  const int per_request = http_.calls(std::string(kPrimary) + "/manifests/1") / 2;
  EXPECT_GE(per_request, 1);
  EXPECT_EQ(http_.calls(std::string(kPrimary) + "/manifests/1") % 2, 0);
  EXPECT_EQ(fallbacks("ptc.test/docker-hub", FallbackReason::kUnreachable), 2);
  EXPECT_EQ(fallbacks("ptc.test/docker-hub", FallbackReason::kBreakerOpen), 2);
  EXPECT_EQ(metrics_.source("docker.io", "ptc.test/docker-hub").breaker_open.value(), 1);
  EXPECT_EQ(http_.calls(std::string(kHub) + "/manifests/1"), 4);
}

TEST_F(SourcesTest, WhenEverySourceFailsTheClientHearsTryLaterNotNotFound) {
  http_.script(std::string(kPrimary) + "/manifests/1", {.status = 404, .body = "{}"});
  http_.script(std::string(kHub) + "/manifests/1", {.refuse = true});
  auto r = get("manifests/1");
  ASSERT_FALSE(r) << "status " << r.value().status;
  EXPECT_EQ(r.error().code, Errc::kUpstreamUnavailable);
  // All 404: it is not there.
  http_.script(std::string(kPrimary) + "/manifests/2", {.status = 404, .body = "{}"});
  http_.script(std::string(kHub) + "/manifests/2", {.status = 404, .body = "{}"});
  auto gone = get("manifests/2");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone.value().status, 404);
}

TEST_F(SourcesTest, EverySourceSkippedStillTriesThemInOrder) {
  http_.script(std::string(kPrimary) + "/manifests/1", {.status = 503});
  http_.script(std::string(kHub) + "/manifests/1", {.status = 502});
  for (int i = 0; i < 2; ++i) {
    auto failing = get("manifests/1");
    ASSERT_TRUE(failing);
    EXPECT_EQ(failing.value().status, 503) << "the first source's answer: both said try later";
  }
  EXPECT_EQ(metrics_.source("docker.io", "docker.io").breaker_open.value(), 1);
  // Both open: a request still goes to them (the last resort), first source first.
  http_.script(std::string(kPrimary) + "/manifests/1", {.body = "{back}"});
  const int before = http_.calls(std::string(kHub) + "/manifests/1");
  auto r = get("manifests/1");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().body, "{back}");
  EXPECT_EQ(http_.calls(std::string(kHub) + "/manifests/1"), before);
  EXPECT_EQ(metrics_.source("docker.io", "ptc.test/docker-hub").breaker_open.value(), 0);
}

TEST_F(SourcesTest, AHalfOpenTryIsSpentOnlyByARequestThatReachesTheSource) {
  build({.failures = 2,
         .backoff = std::chrono::milliseconds(50),
         .max_backoff = std::chrono::milliseconds(50)});
  // The hub fails twice (the first source has not got the image): its breaker opens.
  http_.script(std::string(kPrimary) + "/manifests/1", {.status = 404, .body = "{}"});
  http_.script(std::string(kHub) + "/manifests/1", {.status = 503});
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(get("manifests/1"));
  ASSERT_EQ(metrics_.source("docker.io", "docker.io").breaker_open.value(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  // Past its backoff. A request the first source serves does not reach the hub, so it must not
  // use up the hub's one try.
  http_.script(std::string(kPrimary) + "/manifests/2", {.body = "{from ptc}"});
  ASSERT_TRUE(get("manifests/2"));
  EXPECT_EQ(http_.calls(std::string(kHub) + "/manifests/2"), 0);
  EXPECT_EQ(fallbacks("ptc.test/docker-hub", FallbackReason::kNotFound), 2)
      << "a move is counted when the next source is asked";
  // The next request that does reach it gets the try, and the hub's answer.
  http_.script(std::string(kHub) + "/manifests/1", {.body = "{from hub}"});
  auto r = get("manifests/1");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().body, "{from hub}");
  EXPECT_EQ(metrics_.source("docker.io", "docker.io").breaker_open.value(), 0);
  EXPECT_EQ(fallbacks("docker.io", FallbackReason::kError), 0)
      << "the hub is the last source: nothing to move on to, no fallback from it";
}

TEST_F(SourcesTest, ARepositoryRefusedAfterItsTokenGoesOnWithoutFailingTheSource) {
  // The first source issues a token for the repository, then refuses it: Docker Hub's answer
  // for a repository that is missing or private. The hub has it.
  http_.script(std::string(kPrimary) + "/manifests/1",
               {.require_authorization = "Bearer for-someone-else",
                .challenge = R"(Bearer realm="https://ptc.test/token",service="ptc")"});
  http_.script(
      "https://ptc.test/token?service=ptc&scope=repository%3Adocker-hub%2Flibrary%2F"
      "nginx%3Apull",
      {.body = R"({"token":"tok"})"});
  http_.script(std::string(kHub) + "/manifests/1", {.body = "{from hub}"});
  for (int i = 0; i < 3; ++i) {
    auto r = get("manifests/1");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r.value().body, "{from hub}");
  }
  for (const auto& u : http_.unexpected()) ADD_FAILURE() << "unexpected " << u;
  EXPECT_EQ(fallbacks("ptc.test/docker-hub", FallbackReason::kDenied), 3);
  EXPECT_EQ(metrics_.source("docker.io", "ptc.test/docker-hub").breaker_open.value(), 0)
      << "a working registry that refused one repository";
  EXPECT_EQ(fallbacks("ptc.test/docker-hub", FallbackReason::kBreakerOpen), 0);
}

TEST_F(SourcesTest, RefusedCredentialsDoCountTowardTheBreaker) {
  // Basic credentials refused (no token of the source's own): this source's credentials.
  http_.script(std::string(kPrimary) + "/manifests/1", {.status = 403, .body = "{}"});
  http_.script(std::string(kHub) + "/manifests/1", {.body = "{from hub}"});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(get("manifests/1"));
  EXPECT_EQ(metrics_.source("docker.io", "ptc.test/docker-hub").breaker_open.value(), 1);
  EXPECT_EQ(fallbacks("ptc.test/docker-hub", FallbackReason::kBreakerOpen), 1);
}

// A sink that keeps what it is given.
struct Collect final : http::BodySink {
  bool onHeaders(int, const Headers&) override { return true; }
  bool onData(const char* data, std::size_t size) override {
    bytes.append(data, size);
    return true;
  }
  std::string bytes;
};

TEST_F(SourcesTest, ABlobThatBeganStreamingStaysWithItsSource) {
  const std::string body(256 * 1024, 'x');
  http_.script(std::string(kPrimary) + "/blobs/sha256:1",
               {.body = body, .chunk = 4096, .drop_after = 8192});
  http_.script(std::string(kHub) + "/blobs/sha256:1", {.body = body});
  auto sink = std::make_shared<Collect>();
  auto r = testing::runCoro(ioc_, client_.streamBlob(router_->resolve("docker.io").value(), "nginx",
                                                     "sha256:1", 0, sink));
  ASSERT_FALSE(r) << "the cut is the caller's to resume (with Range), not a second body";
  EXPECT_EQ(sink->bytes.size(), 8192u);
  EXPECT_EQ(http_.calls(std::string(kHub) + "/blobs/sha256:1"), 0);
  // The resumed request may come from the other source: same digest, same bytes.
  http_.script(std::string(kPrimary) + "/blobs/sha256:1", {.status = 404, .body = "{}"});
  auto rest = std::make_shared<Collect>();
  auto resumed = testing::runCoro(ioc_, client_.streamBlob(router_->resolve("docker.io").value(),
                                                           "nginx", "sha256:1", 8192, rest));
  ASSERT_TRUE(resumed) << resumed.error().message();
  EXPECT_EQ(resumed.value().status, 206);
  EXPECT_EQ(sink->bytes + rest->bytes, body);
}

// A receiver that stops after its first chunk (its disk is full, say).
struct StopAfterFirst final : http::BodySink {
  bool onHeaders(int, const Headers&) override { return true; }
  bool onData(const char*, std::size_t) override { return ++chunks < 2; }
  int chunks = 0;
};

TEST_F(SourcesTest, ATransferItsReceiverStoppedIsNotTheSourcesFailure) {
  const std::string body(64 * 1024, 'x');
  http_.script(std::string(kPrimary) + "/blobs/sha256:1", {.body = body, .chunk = 4096});
  http_.script(std::string(kHub) + "/blobs/sha256:1", {.body = body});
  for (int i = 0; i < 3; ++i) {
    auto sink = std::make_shared<StopAfterFirst>();
    auto r = testing::runCoro(ioc_, client_.streamBlob(router_->resolve("docker.io").value(),
                                                       "nginx", "sha256:1", 0, sink));
    ASSERT_FALSE(r);
    EXPECT_EQ(sink->chunks, 2);
  }
  EXPECT_EQ(http_.calls(std::string(kHub) + "/blobs/sha256:1"), 0);
  EXPECT_EQ(metrics_.source("docker.io", "ptc.test/docker-hub").breaker_open.value(), 0);
  EXPECT_EQ(fallbacks("ptc.test/docker-hub", FallbackReason::kError), 0);
}

// A receiver that finds the answer itself wrong (a digest header that differs, say).
struct RejectTheAnswer final : http::BodySink {
  bool onHeaders(int, const Headers&) override { return false; }
  bool onData(const char*, std::size_t) override { return false; }
  [[nodiscard]] bool answerAtFault() const override { return true; }
};

TEST_F(SourcesTest, AWrongAnswerTheReceiverRejectsIsTheSourcesFailure) {
  http_.script(std::string(kPrimary) + "/blobs/sha256:1", {.body = "x"});
  for (int i = 0; i < 2; ++i) {
    auto sink = std::make_shared<RejectTheAnswer>();
    auto r = testing::runCoro(ioc_, client_.streamBlob(router_->resolve("docker.io").value(),
                                                       "nginx", "sha256:1", 0, sink));
    ASSERT_FALSE(r) << "the caller resumes or gives up: the body had begun";
  }
  EXPECT_EQ(metrics_.source("docker.io", "ptc.test/docker-hub").breaker_open.value(), 1);
}

TEST_F(SourcesTest, ANameTooLongForOneSourceGoesToTheNext) {
  // "docker-hub/" + 245 is over the 255 of a non-ECR source; the hub takes it as is.
  const std::string name = "a/" + std::string(243, 'b');
  http_.script("https://hub.test/v2/" + name + "/manifests/1", {.body = "{long}"});
  auto r = testing::runCoro(ioc_, client_.request(router_->resolve("docker.io").value(), "GET",
                                                  name, "manifests/1", Headers(), 1 << 20));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().body, "{long}");
  EXPECT_EQ(fallbacks("ptc.test/docker-hub", FallbackReason::kNameTooLong), 1);
  EXPECT_TRUE(http_.unexpected().empty());
}

}  // namespace
}  // namespace pullcache::upstream
