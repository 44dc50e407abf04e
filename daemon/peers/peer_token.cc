#include "daemon/peers/peer_token.h"

#include <openssl/crypto.h>

#include <charconv>
#include <fstream>
#include <iterator>

#include "common/sigv4.h"

namespace pullcache::peers {
namespace {

constexpr std::string_view kVersion = "pc1";
constexpr std::string_view kScheme = "Bearer ";

std::string mac(const Secret& secret, std::int64_t t, std::string_view method,
                std::string_view target, std::string_view role) {
  std::string data;
  data.reserve(kVersion.size() + method.size() + target.size() + role.size() + 32);
  data.append(kVersion).append("\n").append(std::to_string(t)).append("\n");
  data.append(method).append("\n").append(target).append("\n").append(role);
  return hexLower(hmacSha256(secret.reveal(), data));
}

Error unauthorized(std::string why) { return Error{Errc::kPeerUnauthorized, std::move(why)}; }

}  // namespace

std::string peerAuthorization(const Secret& secret, std::int64_t unix_seconds,
                              std::string_view method, std::string_view target,
                              std::string_view role) {
  return std::string(kScheme) + std::string(kVersion) + "." + std::to_string(unix_seconds) + "." +
         mac(secret, unix_seconds, method, target, role);
}

Result<void> checkPeerAuthorization(const Secret& secret, std::string_view authorization,
                                    std::int64_t now_unix_seconds, std::string_view method,
                                    std::string_view target, std::string_view role,
                                    std::chrono::seconds max_skew) {
  if (authorization.empty()) return unauthorized("no Authorization header");
  if (!authorization.starts_with(kScheme)) return unauthorized("not a Bearer token");
  std::string_view token = authorization.substr(kScheme.size());
  if (!token.starts_with(kVersion) || token.size() <= kVersion.size() ||
      token[kVersion.size()] != '.')
    return unauthorized("not a pullcache peer token");
  token.remove_prefix(kVersion.size() + 1);
  const std::size_t dot = token.find('.');
  if (dot == std::string_view::npos) return unauthorized("malformed peer token");
  std::int64_t t = 0;
  auto [p, ec] = std::from_chars(token.data(), token.data() + dot, t);
  if (ec != std::errc() || p != token.data() + dot) return unauthorized("malformed peer token");
  if (t < now_unix_seconds - max_skew.count() || t > now_unix_seconds + max_skew.count())
    return unauthorized("peer token too old or from the future (are the nodes' clocks synced?)");
  const std::string want = mac(secret, t, method, target, role);
  std::string_view got = token.substr(dot + 1);
  if (got.size() != want.size() || CRYPTO_memcmp(got.data(), want.data(), want.size()) != 0)
    return unauthorized("peer token does not match (a different secret?)");
  return ok();
}

Result<Secret> readPeerSecret(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string where = "peers.secret_file: '";
  where.append(path).append("'");
  if (!in) {
    where.append(" cannot be read");
    return fail(Errc::kConfigInvalid, std::move(where));
  }
  std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.size() < 16) {
    where.append(" holds fewer than 16 bytes; use a long random value");
    return fail(Errc::kConfigInvalid, std::move(where));
  }
  return Secret(std::move(value));
}

}  // namespace pullcache::peers
