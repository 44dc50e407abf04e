#include "tests/support/fake_aws.h"

#include <openssl/hmac.h>

#include <algorithm>
#include <ctime>
#include <random>
#include <sstream>
#include <vector>

#include "common/base64.h"
#include "tests/support/http_client.h"
#include "tests/support/image_generator.h"

namespace pullcache::testing {
namespace {

using SysClock = std::chrono::system_clock;

std::string randomHex(std::size_t n) {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lock(mu);
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += kHex[rng() % 16];
  return s;
}

std::string upperAlnum(std::size_t n) {
  std::string h = randomHex(n);
  std::transform(h.begin(), h.end(), h.begin(), [](unsigned char c) { return std::toupper(c); });
  return h;
}

std::string hmac(const std::string& key, const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string toHex(const std::string& bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string formatTime(SysClock::time_point t, const char* fmt) {
  std::time_t tt = SysClock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}

std::optional<SysClock::time_point> parseAmzDate(const std::string& s) {
  std::tm tm{};
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  if (sscanf(s.c_str(), "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
             &tm.tm_min, &tm.tm_sec) != 6)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return SysClock::from_time_t(timegm(&tm));
}

// Header value as SigV4 canonicalises it: trimmed, inner whitespace runs folded to one space.
std::string foldSpaces(const std::string& v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::stringstream ss(s);
  std::string p;
  while (std::getline(ss, p, sep)) parts.push_back(p);
  return parts;
}

MiniResponse awsJsonError(int status, const std::string& type, const std::string& message) {
  MiniResponse r;
  r.status = status;
  r.headers = {{"Content-Type", "application/x-amz-json-1.1"}, {"x-amzn-ErrorType", type}};
  r.body = R"({"__type":")" + type + R"(","message":")" + message + R"("})";
  return r;
}

MiniResponse xmlError(int status, const std::string& code, const std::string& message) {
  MiniResponse r;
  r.status = status;
  r.headers = {{"Content-Type", "text/xml"}};
  r.body = "<ErrorResponse><Error><Type>Sender</Type><Code>" + code + "</Code><Message>" + message +
           "</Message></Error><RequestId>fake</RequestId></ErrorResponse>";
  return r;
}

MiniResponse ociError(int status, const std::string& code, const std::string& message) {
  MiniResponse r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json; charset=utf-8"}};
  r.body = R"({"errors":[{"code":")" + code + R"(","message":")" + message + R"("}]})";
  return r;
}

}  // namespace

FakeAws::FakeAws(Options options) : options_(std::move(options)), s3_key_(randomHex(32)) {
  ecr_api_ =
      std::make_unique<MiniHttpServer>([this](const MiniRequest& r) { return handleEcrApi(r); });
  registry_ =
      std::make_unique<MiniHttpServer>([this](const MiniRequest& r) { return handleRegistry(r); });
  s3_ = std::make_unique<MiniHttpServer>([this](const MiniRequest& r) { return handleS3(r); });
  sts_ = std::make_unique<MiniHttpServer>([this](const MiniRequest& r) { return handleSts(r); });
  container_ =
      std::make_unique<MiniHttpServer>([this](const MiniRequest& r) { return handleContainer(r); });
  imds_ = std::make_unique<MiniHttpServer>([this](const MiniRequest& r) { return handleImds(r); });
}

FakeAws::~FakeAws() {
  // Servers first: their threads call the handlers, which use the members below.
  imds_.reset();
  container_.reset();
  sts_.reset();
  s3_.reset();
  registry_.reset();
  ecr_api_.reset();
}

void FakeAws::addStaticKey(const std::string& access_key_id, const std::string& secret) {
  std::lock_guard lock(mu_);
  keys_[access_key_id] = Issued{secret, "", SysClock::time_point::max()};
}

void FakeAws::setWebIdentity(const std::string& token, const std::string& role_arn) {
  std::lock_guard lock(mu_);
  web_identity_token_ = token;
  role_arn_ = role_arn;
}

void FakeAws::setContainerToken(const std::string& token) {
  std::lock_guard lock(mu_);
  container_token_ = token;
}

void FakeAws::denyEcr(bool deny) {
  std::lock_guard lock(mu_);
  deny_ecr_ = deny;
}

void FakeAws::expireNextPresignedUrls(int n) {
  std::lock_guard lock(mu_);
  expire_presigned_ = n;
}

void FakeAws::expireAllTokens() {
  std::lock_guard lock(mu_);
  for (auto& [pw, expiry] : tokens_) expiry = SysClock::now() - std::chrono::seconds(1);
}

FakeAws::Counters FakeAws::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

// Called with mu_ held.
std::string FakeAws::issueCredentials(std::string* secret, std::string* session_token,
                                      SysClock::time_point* expires) {
  std::string id = "ASIA" + upperAlnum(16);
  *secret = randomHex(40);
  *session_token = "FQoGZXIvYXdzE" + randomHex(64);
  *expires = SysClock::now() + options_.credentials_ttl;
  keys_[id] = Issued{*secret, *session_token, *expires};
  return id;
}

MiniResponse FakeAws::handleEcrApi(const MiniRequest& req) {
  std::lock_guard lock(mu_);
  auto reject = [&](int status, const std::string& type, const std::string& why) {
    ++counters_.ecr_rejected_calls;
    counters_.last_rejection = type + ": " + why;
    return awsJsonError(status, type, why);
  };
  if (req.method != "POST" || req.path != "/")
    return reject(404, "UnknownOperationException", "POST / expected");
  if (req.header("x-amz-target") != "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken")
    return reject(400, "UnknownOperationException", "wrong X-Amz-Target");
  if (req.header("content-type") != "application/x-amz-json-1.1")
    return reject(400, "SerializationException", "wrong Content-Type");
  // --- SigV4, recomputed from the request as it arrived ---
  const std::string auth = req.header("authorization");
  const std::string prefix = "AWS4-HMAC-SHA256 ";
  if (!auth.starts_with(prefix))
    return reject(400, "MissingAuthenticationTokenException", "no SigV4 Authorization header");
  std::map<std::string, std::string> fields;
  for (auto part : split(auth.substr(prefix.size()), ',')) {
    part = foldSpaces(part);
    auto eq = part.find('=');
    if (eq != std::string::npos) fields[part.substr(0, eq)] = part.substr(eq + 1);
  }
  auto scope = split(fields["Credential"], '/');
  if (scope.size() != 5 || scope[4] != "aws4_request")
    return reject(400, "IncompleteSignatureException", "malformed Credential");
  const std::string& akid = scope[0];
  const std::string amz_date = req.header("x-amz-date");
  auto when = parseAmzDate(amz_date);
  if (!when || amz_date.substr(0, 8) != scope[1])
    return reject(400, "IncompleteSignatureException",
                  "X-Amz-Date missing or not the scope's date");
  auto skew = SysClock::now() - *when;
  if (skew > std::chrono::minutes(5) || skew < -std::chrono::minutes(5))
    return reject(403, "InvalidSignatureException", "Signature expired");
  if (scope[2] != options_.region)
    return reject(403, "InvalidSignatureException",
                  "Credential should be scoped to a valid region, not " + scope[2]);
  if (scope[3] != "ecr")
    return reject(403, "InvalidSignatureException", "Credential should be scoped to service ecr");
  auto key = keys_.find(akid);
  if (key == keys_.end())
    return reject(400, "UnrecognizedClientException",
                  "The security token included in the request is invalid.");
  if (key->second.expires <= SysClock::now())
    return reject(400, "ExpiredTokenException",
                  "The security token included in the request is expired");
  auto signed_names = split(fields["SignedHeaders"], ';');
  auto signs = [&](const std::string& h) {
    return std::find(signed_names.begin(), signed_names.end(), h) != signed_names.end();
  };
  if (!signs("host") || !signs("x-amz-date"))
    return reject(403, "InvalidSignatureException", "host and x-amz-date must be signed");
  if (!key->second.session_token.empty()) {
    if (req.header("x-amz-security-token") != key->second.session_token ||
        !signs("x-amz-security-token"))
      return reject(400, "UnrecognizedClientException", "session token missing, wrong or unsigned");
  } else if (req.has("x-amz-security-token")) {
    return reject(400, "UnrecognizedClientException", "a session token with long-term keys");
  }
  if (!std::is_sorted(signed_names.begin(), signed_names.end()))
    return reject(403, "InvalidSignatureException", "SignedHeaders not sorted");
  std::string canonical = req.method + "\n" + req.path + "\n" + req.query + "\n";
  for (const auto& h : signed_names) {
    if (!req.has(h))
      return reject(403, "InvalidSignatureException", "signed header " + h + " absent");
    canonical += h + ":" + foldSpaces(req.header(h)) + "\n";
  }
  canonical += "\n" + fields["SignedHeaders"] + "\n" + sha256Hex(req.body);
  std::string to_sign = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope[1] + "/" + scope[2] + "/" +
                        scope[3] + "/aws4_request\n" + sha256Hex(canonical);
  std::string k = hmac("AWS4" + key->second.secret, scope[1]);
  k = hmac(k, scope[2]);
  k = hmac(k, scope[3]);
  k = hmac(k, "aws4_request");
  if (toHex(hmac(k, to_sign)) != fields["Signature"])
    return reject(403, "InvalidSignatureException",
                  "The request signature we calculated does not match the signature you provided.");
  if (req.body != "{}") return reject(400, "SerializationException", "body must be {}");
  if (deny_ecr_)
    return reject(400, "AccessDeniedException",
                  "User is not authorized to perform: ecr:GetAuthorizationToken");
  ++counters_.ecr_token_calls;
  ++counters_.credentials_used[akid];
  std::string password = randomHex(48);
  auto expires = SysClock::now() + options_.token_ttl;
  tokens_[password] = expires;
  double expires_at = std::chrono::duration<double>(expires.time_since_epoch()).count();
  MiniResponse r;
  r.headers = {{"Content-Type", "application/x-amz-json-1.1"}};
  std::ostringstream body;
  body.precision(15);
  body << R"({"authorizationData":[{"authorizationToken":")" << base64Encode("AWS:" + password)
       << R"(","expiresAt":)" << expires_at << R"(,"proxyEndpoint":"https://)" << registryHost()
       << R"("}]})";
  r.body = body.str();
  return r;
}

std::string FakeAws::presign(const std::string& path, SysClock::time_point issued) {
  std::string date = formatTime(issued, "%Y%m%dT%H%M%SZ");
  std::string expires = std::to_string(options_.presign_ttl.count());
  std::string sig = toHex(hmac(s3_key_, path + "\n" + date + "\n" + expires));
  return s3_->url() + path +
         "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=FAKE&X-Amz-Date=" + date +
         "&X-Amz-Expires=" + expires + "&X-Amz-SignedHeaders=host&X-Amz-Signature=" + sig;
}

std::pair<std::string, std::string> FakeAws::backendOf(const std::string& repository) const {
  for (const auto& [prefix, upstream] : options_.pull_through_rules)
    if (repository.starts_with(prefix + "/"))
      return {upstream, repository.substr(prefix.size() + 1)};
  return {options_.upstream_registry, repository};
}

void FakeAws::stopRegistry() { registry_.reset(); }

std::vector<std::string> FakeAws::isolatedEnv(const std::string& home) const {
  return {"HOME=" + home,
          "AWS_ACCESS_KEY_ID=",
          "AWS_SECRET_ACCESS_KEY=",
          "AWS_SESSION_TOKEN=",
          "AWS_PROFILE=",
          "AWS_SHARED_CREDENTIALS_FILE=",
          "AWS_ROLE_ARN=",
          "AWS_WEB_IDENTITY_TOKEN_FILE=",
          "AWS_CONTAINER_CREDENTIALS_FULL_URI=",
          "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=",
          "AWS_CONTAINER_AUTHORIZATION_TOKEN=",
          "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=",
          "AWS_REGION=" + options_.region,
          "AWS_EC2_METADATA_DISABLED=true",
          "AWS_ENDPOINT_URL=",
          "AWS_ENDPOINT_URL_ECR=" + ecr_api_->url(),
          "AWS_ENDPOINT_URL_STS=" + sts_->url()};
}

MiniResponse FakeAws::handleRegistry(const MiniRequest& req) {
  std::string target;
  {
    std::lock_guard lock(mu_);
    ++counters_.registry_requests;
    const std::string auth = req.header("authorization");
    std::optional<std::string> decoded;
    if (auth.starts_with("Basic ")) decoded = base64Decode(auth.substr(6));
    if (!decoded || !decoded->starts_with("AWS:") || !tokens_.contains(decoded->substr(4))) {
      ++counters_.registry_no_token;
      MiniResponse r = ociError(401, "UNAUTHORIZED", "Not Authorized");
      r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"https://" + registryHost() +
                                                     "/\",service=\"ecr.amazonaws.com\"");
      return r;
    }
    if (tokens_[decoded->substr(4)] <= SysClock::now()) {
      ++counters_.registry_expired_token;
      return ociError(403, "DENIED",
                      "Your authorization token has expired. Reauthenticate and try again.");
    }
    counters_.registry_paths.push_back(req.path);
    if (req.path == "/v2/" || req.path == "/v2") {
      MiniResponse r;
      r.headers = {{"Content-Type", "application/json"}};
      r.body = "{}";
      return r;
    }
    auto blobs = req.path.find("/blobs/");
    if (req.method == "GET" && req.path.starts_with("/v2/") && blobs != std::string::npos) {
      std::string repo = req.path.substr(4, blobs - 4);
      std::string digest = req.path.substr(blobs + 7);
      auto issued = SysClock::now();
      if (expire_presigned_ > 0) {
        --expire_presigned_;
        issued -= options_.presign_ttl * 2;
      }
      MiniResponse r;
      r.status = 307;
      r.headers = {{"Location", presign("/prod-" + options_.region + "-starport-layer-bucket/" +
                                            repo + "/" + digest,
                                        issued)}};
      return r;
    }
    target = req.target;
  }
  // Manifests, blob HEADs, tags: from the real registry behind (the rule's, under a prefix).
  std::string backend = options_.upstream_registry;
  for (const char* kind : {"/manifests/", "/blobs/", "/tags/"}) {
    const auto at = target.find(kind);
    if (!target.starts_with("/v2/") || at == std::string::npos) continue;
    auto [host, name] = backendOf(target.substr(4, at - 4));
    if (host != options_.upstream_registry) {
      std::lock_guard lock(mu_);
      ++counters_.pull_through_requests;
    }
    backend = host;
    target = "/v2/" + name + target.substr(at);
    break;
  }
  std::vector<std::string> headers;
  if (req.has("accept")) headers.push_back("Accept: " + req.header("accept"));
  auto up = httpRequest(req.method, "http://" + backend + target, headers);
  MiniResponse r;
  r.status = up.status == 0 ? 503 : up.status;
  for (const char* h : {"content-type", "docker-content-digest", "etag"})
    if (!up.header(h).empty()) r.headers.emplace_back(h, up.header(h));
  if (req.method == "HEAD" && !up.header("content-length").empty())
    r.head_length = std::stoll(up.header("content-length"));
  r.body = up.body;
  return r;
}

MiniResponse FakeAws::handleS3(const MiniRequest& req) {
  std::string path = req.path;
  {
    std::lock_guard lock(mu_);
    ++counters_.s3_requests;
    if (req.has("authorization")) {
      ++counters_.s3_with_authorization;
      return xmlError(400, "InvalidArgument",
                      "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                      "Signature query string parameter or the Authorization header should be "
                      "specified");
    }
    auto q = parseForm(req.query);
    if (q["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256" ||
        toHex(hmac(s3_key_, path + "\n" + q["X-Amz-Date"] + "\n" + q["X-Amz-Expires"])) !=
            q["X-Amz-Signature"])
      return xmlError(403, "SignatureDoesNotMatch",
                      "The request signature we calculated does not match");
    auto issued = parseAmzDate(q["X-Amz-Date"]);
    if (!issued ||
        SysClock::now() > *issued + std::chrono::seconds(std::stol(q["X-Amz-Expires"]))) {
      ++counters_.s3_expired;
      return xmlError(403, "AccessDenied", "Request has expired");
    }
  }
  // /prod-<region>-starport-layer-bucket/<repo...>/<digest>
  auto first = path.find('/', 1);
  auto last = path.rfind('/');
  std::string repo = path.substr(first + 1, last - first - 1);
  std::string digest = path.substr(last + 1);
  auto [backend, name] = backendOf(repo);
  auto up = httpRequest("GET", "http://" + backend + "/v2/" + name + "/blobs/" + digest);
  MiniResponse r;
  if (up.status != 200) return xmlError(404, "NoSuchKey", "The specified key does not exist.");
  r.headers = {{"Content-Type", "application/octet-stream"}};
  r.body = std::move(up.body);
  // Like S3: a single "bytes=a-b" / "bytes=a-" range is honoured with 206.
  const std::string range = req.header("range");
  if (range.starts_with("bytes=") && range.find(',') == std::string::npos) {
    auto dash = range.find('-');
    std::size_t from = std::stoull(range.substr(6, dash - 6));
    std::size_t to =
        dash + 1 < range.size() ? std::stoull(range.substr(dash + 1)) : r.body.size() - 1;
    to = std::min(to, r.body.size() - 1);
    if (from > to) return xmlError(416, "InvalidRange", "The requested range is not satisfiable");
    r.status = 206;
    r.headers.emplace_back("Content-Range", "bytes " + std::to_string(from) + "-" +
                                                std::to_string(to) + "/" +
                                                std::to_string(r.body.size()));
    r.body = r.body.substr(from, to - from + 1);
  }
  return r;
}

MiniResponse FakeAws::handleSts(const MiniRequest& req) {
  std::lock_guard lock(mu_);
  if (req.method != "POST" || req.path != "/")
    return xmlError(404, "InvalidAction", "POST / expected");
  if (req.has("authorization"))
    return xmlError(400, "InvalidParameterCombination",
                    "AssumeRoleWithWebIdentity is unsigned; credentials were sent");
  if (!req.header("content-type").starts_with("application/x-www-form-urlencoded"))
    return xmlError(400, "InvalidParameterValue", "form body expected");
  auto form = parseForm(req.body);
  if (form["Action"] != "AssumeRoleWithWebIdentity" || form["Version"] != "2011-06-15")
    return xmlError(400, "InvalidAction", "unknown Action or Version");
  const std::string& session = form["RoleSessionName"];
  if (session.size() < 2 || session.size() > 64 ||
      session.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-") !=
          std::string::npos)
    return xmlError(400, "ValidationError", "bad RoleSessionName");
  if (web_identity_token_.empty() || form["WebIdentityToken"] != web_identity_token_)
    return xmlError(400, "InvalidIdentityToken",
                    "Couldn't retrieve verification key from your identity provider");
  if (form["RoleArn"] != role_arn_)
    return xmlError(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity");
  ++counters_.sts_calls;
  std::string secret, token;
  SysClock::time_point expires;
  std::string id = issueCredentials(&secret, &token, &expires);
  std::string role_name = role_arn_.substr(role_arn_.rfind('/') + 1);
  MiniResponse r;
  r.headers = {{"Content-Type", "text/xml"}};
  r.body =
      "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
      "<AssumeRoleWithWebIdentityResult><Audience>sts.amazonaws.com</Audience>"
      "<AssumedRoleUser><AssumedRoleId>AROAFAKE:" +
      session +
      "</AssumedRoleId>"
      "<Arn>arn:aws:sts::" +
      options_.account + ":assumed-role/" + role_name + "/" + session +
      "</Arn></AssumedRoleUser><Credentials><AccessKeyId>" + id +
      "</AccessKeyId>"
      "<SecretAccessKey>" +
      secret + "</SecretAccessKey><SessionToken>" + token + "</SessionToken><Expiration>" +
      formatTime(expires, "%Y-%m-%dT%H:%M:%SZ") +
      "</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
      "<ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata>"
      "</AssumeRoleWithWebIdentityResponse>";
  return r;
}

MiniResponse FakeAws::handleContainer(const MiniRequest& req) {
  std::lock_guard lock(mu_);
  if (req.method != "GET") return awsJsonError(405, "MethodNotAllowed", "GET expected");
  if (container_token_.empty() || req.header("authorization") != container_token_)
    return awsJsonError(401, "AccessDeniedException", "invalid authorization token");
  ++counters_.container_calls;
  std::string secret, token;
  SysClock::time_point expires;
  std::string id = issueCredentials(&secret, &token, &expires);
  MiniResponse r;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = R"({"AccessKeyId":")" + id + R"(","SecretAccessKey":")" + secret + R"(","Token":")" +
           token + R"(","AccountId":")" + options_.account + R"(","Expiration":")" +
           formatTime(expires, "%Y-%m-%dT%H:%M:%SZ") + R"("})";
  return r;
}

MiniResponse FakeAws::handleImds(const MiniRequest& req) {
  std::lock_guard lock(mu_);
  MiniResponse r;
  r.headers = {{"Content-Type", "text/plain"}};
  if (req.path == "/latest/api/token") {
    if (req.method != "PUT") {
      r.status = 405;
      return r;
    }
    std::string ttl = req.header("x-aws-ec2-metadata-token-ttl-seconds");
    if (ttl.empty() || ttl.find_first_not_of("0123456789") != std::string::npos ||
        std::stol(ttl) < 1 || std::stol(ttl) > 21600 || req.has("x-forwarded-for")) {
      r.status = 400;
      return r;
    }
    r.body = randomHex(56);
    imds_tokens_[r.body] = SysClock::now() + std::chrono::seconds(std::stol(ttl));
    return r;
  }
  auto t = imds_tokens_.find(req.header("x-aws-ec2-metadata-token"));
  if (req.method != "GET" || t == imds_tokens_.end() || t->second <= SysClock::now()) {
    r.status = 401;  // IMDSv2 only: no token, no answer
    return r;
  }
  const std::string base = "/latest/meta-data/iam/security-credentials/";
  if (req.path == "/latest/meta-data/placement/region") {
    r.body = options_.region;
  } else if (req.path == base) {
    r.body = "pullcache-node-role";
  } else if (req.path == base + "pullcache-node-role") {
    ++counters_.imds_credential_calls;
    std::string secret, token;
    SysClock::time_point expires;
    std::string id = issueCredentials(&secret, &token, &expires);
    r.headers = {{"Content-Type", "application/json"}};
    r.body = R"({"Code":"Success","LastUpdated":")" +
             formatTime(SysClock::now(), "%Y-%m-%dT%H:%M:%SZ") +
             R"(","Type":"AWS-HMAC","AccessKeyId":")" + id + R"(","SecretAccessKey":")" + secret +
             R"(","Token":")" + token + R"(","Expiration":")" +
             formatTime(expires, "%Y-%m-%dT%H:%M:%SZ") + R"("})";
  } else {
    r.status = 404;
  }
  return r;
}

}  // namespace pullcache::testing
