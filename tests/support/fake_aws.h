#pragma once
// Strict loopback fakes of the AWS services pullcache talks to for ECR, started by the tests:
//
//   ecrApi()     GetAuthorizationToken: recomputes the SigV4 signature from the request as
//                received (its own canonicalisation, independent of common/sigv4's), checks the
//                credential scope, the clock skew and the session token, and issues short-lived
//                tokens (token_ttl).
//   registry()   an ECR registry front: every /v2/ request needs "Basic base64(AWS:<pw>)" of a
//                live token (401 without, 403 "token has expired" after expiry); manifests are
//                proxied to a real docker-registry, blob GETs redirected to s3(). With
//                pull-through cache rules, /v2/<prefix>/<name>/... is <name> at the rule's
//                upstream registry (another real docker-registry); a prefix without a rule is an
//                ordinary repository name, so it is 404 NAME_UNKNOWN unless the registry behind
//                has it.
//   s3()         pre-signed URL checks (signature, expiry) and a 400 "Only one auth mechanism
//                allowed" for any request that also carries an Authorization header.
//   sts()        AssumeRoleWithWebIdentity (unsigned, form body, token must match the file).
//   container()  container credentials / EKS Pod Identity (Authorization token required).
//   imds()       IMDSv2 only: a GET without a session token is 401.
//
// Every credential any provider issues is known to the ECR API, with its expiry.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/mini_http_server.h"

namespace pullcache::testing {

class FakeAws {
 public:
  struct Options {
    std::string upstream_registry;  // host:port of the docker-registry behind registry()
    std::string account = "123456789012";
    std::string region = "us-east-1";
    std::chrono::seconds token_ttl{20};
    std::chrono::seconds credentials_ttl{3600};
    std::chrono::seconds presign_ttl{60};
    // Pull-through cache rules: ECR repository prefix -> host:port of the upstream registry.
    std::map<std::string, std::string> pull_through_rules;
  };
  explicit FakeAws(Options options);
  ~FakeAws();

  [[nodiscard]] std::string registryHost() const {  // as clients name it
    return options_.account + ".dkr.ecr." + options_.region + ".amazonaws.com";
  }
  MiniHttpServer& ecrApi() { return *ecr_api_; }
  MiniHttpServer& registry() {
    if (!registry_) throw std::logic_error("FakeAws::registry() after stopRegistry()");
    return *registry_;
  }
  MiniHttpServer& s3() { return *s3_; }
  MiniHttpServer& sts() { return *sts_; }
  MiniHttpServer& container() { return *container_; }
  MiniHttpServer& imds() { return *imds_; }

  // Long-term keys the ECR API accepts (environment and profile providers).
  void addStaticKey(const std::string& access_key_id, const std::string& secret);
  // The web identity token STS expects and the role it may assume.
  void setWebIdentity(const std::string& token, const std::string& role_arn);
  // The Authorization value the container endpoint expects.
  void setContainerToken(const std::string& token);
  // GetAuthorizationToken answers 400 AccessDeniedException while set.
  void denyEcr(bool deny);
  // The next `n` pre-signed URLs the registry hands out are already expired.
  void expireNextPresignedUrls(int n);
  // Every token issued so far expires now.
  void expireAllTokens();
  // The registry front stops listening (connections are refused from now on).
  void stopRegistry();

  // The daemon's environment for these fakes: nothing from the machine's AWS set-up leaks in
  // (empty = unset), IMDS off, the ECR and STS APIs at the fakes, HOME at `home`.
  [[nodiscard]] std::vector<std::string> isolatedEnv(const std::string& home) const;

  struct Counters {
    int ecr_token_calls = 0;     // accepted GetAuthorizationToken calls
    int ecr_rejected_calls = 0;  // refused ones (bad signature, unknown key, ...)
    std::string last_rejection;  // why
    int sts_calls = 0;
    int container_calls = 0;
    int imds_credential_calls = 0;
    int registry_requests = 0;
    int registry_expired_token = 0;           // 403 "token has expired" answers
    int registry_no_token = 0;                // 401 answers
    std::vector<std::string> registry_paths;  // of the requests with a live token, in order
    int pull_through_requests = 0;            // answered through a pull-through cache rule
    int s3_requests = 0;
    int s3_with_authorization = 0;  // must stay 0
    int s3_expired = 0;
    std::map<std::string, int> credentials_used;  // access key id -> signed ECR calls
  };
  [[nodiscard]] Counters counters() const;

 private:
  struct Issued {
    std::string secret;
    std::string session_token;  // empty for long-term keys
    std::chrono::system_clock::time_point expires;
  };
  MiniResponse handleEcrApi(const MiniRequest& req);
  MiniResponse handleRegistry(const MiniRequest& req);
  MiniResponse handleS3(const MiniRequest& req);
  MiniResponse handleSts(const MiniRequest& req);
  MiniResponse handleContainer(const MiniRequest& req);
  MiniResponse handleImds(const MiniRequest& req);
  std::string issueCredentials(std::string* secret, std::string* session_token,
                               std::chrono::system_clock::time_point* expires);
  std::string presign(const std::string& path, std::chrono::system_clock::time_point expires);
  // Where an ECR repository's content lives: the registry behind and the name there.
  std::pair<std::string, std::string> backendOf(const std::string& repository) const;

  Options options_;
  mutable std::mutex mu_;
  std::map<std::string, Issued> keys_;  // access key id -> issued credentials
  std::map<std::string, std::chrono::system_clock::time_point> tokens_;  // password -> expiry
  std::map<std::string, std::chrono::system_clock::time_point> imds_tokens_;
  std::string web_identity_token_;
  std::string role_arn_;
  std::string container_token_;
  bool deny_ecr_ = false;
  int expire_presigned_ = 0;
  std::string s3_key_;
  Counters counters_;
  std::unique_ptr<MiniHttpServer> ecr_api_, registry_, s3_, sts_, container_, imds_;
};

}  // namespace pullcache::testing
