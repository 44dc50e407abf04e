// The peer port's handler against a strict scripted upstream: the direct-stream bound lives as
// long as the body does, tree children are never refused, busy answers are marked.
#include "daemon/peers/peer_endpoint.h"

#include <gtest/gtest.h>

#include "daemon/peers/peer_token.h"
#include "tests/support/fake_upstream_client.h"
#include "tests/support/registry_testbed.h"
#include "tests/support/run_coro.h"

namespace pullcache::peers {
namespace {

const Secret kSecret("peer-endpoint-test-secret-0123456789");

class PeerEndpointTest : public ::testing::Test {
 protected:
  PeerEndpointTest() {
    http_.script("http://upstream.test/v2/lib/app/blobs/" + digest_.str(), {.body = body_});
  }

  HttpRequest request(bool child) {
    HttpRequest r;
    r.method = "GET";
    r.target = "/v2/lib/app/blobs/" + digest_.str() + "?ns=reg.test";
    r.headers.add("Authorization", peerAuthorization(kSecret, bed_.clock.unixSeconds(), "GET",
                                                     r.target, child ? "child" : "direct"));
    if (child) r.headers.add("Pullcache-Hop", "child");
    return r;
  }

  HttpResponse serve(HttpRequest r) {
    RequestInfo info;
    return testing::runCoro(bed_.ioc, endpoint_.handle(std::move(r), info));
  }

  testing::RegistryTestbed bed_;
  testing::FakeUpstreamClient& http_ = bed_.http;
  std::string body_ = std::string(300'000, 'p');
  Digest digest_ = sha256Of(body_);
  PeerEndpoint endpoint_{*bed_.api, *bed_.router, kSecret, bed_.clock, 2, &bed_.metrics.peers};
};

TEST_F(PeerEndpointTest, DirectStreamsAreBoundedForAsLongAsTheirBodiesAreSent) {
  auto first = serve(request(false));
  auto second = serve(request(false));
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_EQ(second.status, 200) << second.body;
  ASSERT_TRUE(first.blob && second.blob);
  EXPECT_EQ(endpoint_.directStreams(digest_.str()), 2u);
  // A third direct request while two bodies are still being sent: busy, marked, closed.
  auto third = serve(request(false));
  EXPECT_EQ(third.status, 429);
  EXPECT_EQ(third.headers.get("pullcache-busy"), "1");
  EXPECT_TRUE(third.close);
  // A tree child is never refused.
  auto child = serve(request(true));
  EXPECT_EQ(child.status, 200);
  EXPECT_EQ(endpoint_.directStreams(digest_.str()), 2u);
  // A body sent (the session lets the response go): its slot is free again.
  first = HttpResponse{};
  EXPECT_EQ(endpoint_.directStreams(digest_.str()), 1u);
  auto fourth = serve(request(false));
  EXPECT_EQ(fourth.status, 200);
  second = HttpResponse{};
  fourth = HttpResponse{};
  EXPECT_EQ(endpoint_.directStreams(digest_.str()), 0u);
  EXPECT_EQ(bed_.metrics.peers.requests(metrics::PeerOutcome::kBusy), 1u);
  EXPECT_EQ(bed_.metrics.peers.requests(metrics::PeerOutcome::kServed), 4u);
}

TEST_F(PeerEndpointTest, ADirectTokenCannotClaimAChildsStream) {
  auto r = request(false);
  r.headers.add("Pullcache-Hop", "child");
  EXPECT_EQ(serve(std::move(r)).status, 401);
}

TEST_F(PeerEndpointTest, NoTokenNoBlob) {
  auto r = request(false);
  r.headers.remove("Authorization");
  auto resp = serve(std::move(r));
  EXPECT_EQ(resp.status, 401);
  EXPECT_EQ(endpoint_.directStreams(digest_.str()), 0u);
  EXPECT_EQ(http_.requests().size(), 0u) << "nothing was asked of the upstream";
}

}  // namespace
}  // namespace pullcache::peers
