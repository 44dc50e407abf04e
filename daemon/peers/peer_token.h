#pragma once
// The peer port's credential: `Authorization: Bearer pc1.<unix seconds>.<hex HMAC-SHA256>`, the
// HMAC keyed with the cluster's shared secret over the version, the time, the method, the
// request target and the requester's role for the blob (`Pullcache-Hop`: "child" or "direct",
// so that a token cannot be reused to claim a tree child's unbounded stream). The secret itself
// never travels; a token is good for one request target within `max_skew` of its time (so a
// captured one cannot be replayed for another blob, nor for long).

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/secret.h"

namespace pullcache::peers {

inline constexpr std::chrono::seconds kTokenMaxSkew{120};

// The Authorization header's value for a request sent at `unix_seconds`.
std::string peerAuthorization(const Secret& secret, std::int64_t unix_seconds,
                              std::string_view method, std::string_view target,
                              std::string_view role = "direct");

// kPeerUnauthorized with the reason (never the token or the secret) unless `authorization` is a
// token for this request made within `max_skew` of `now_unix_seconds`.
Result<void> checkPeerAuthorization(const Secret& secret, std::string_view authorization,
                                    std::int64_t now_unix_seconds, std::string_view method,
                                    std::string_view target, std::string_view role = "direct",
                                    std::chrono::seconds max_skew = kTokenMaxSkew);

// Reads the shared secret: the file's bytes, trailing newlines dropped; at least 16 bytes.
Result<Secret> readPeerSecret(const std::string& path);

}  // namespace pullcache::peers
