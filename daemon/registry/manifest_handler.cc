#include "daemon/registry/manifest_handler.h"

#include "common/blocking.h"
#include "common/log.h"
#include "common/media_types.h"
#include "common/reference.h"
#include "daemon/registry/tag_freshness.h"

namespace pullcache::registry {
namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto log = componentLogger("manifest");
  return log;
}

HttpResponse manifestResponse(const index::ManifestRecord& rec, const std::string& digest,
                              bool head) {
  HttpResponse r;
  r.headers.add("Content-Type", rec.media_type);
  r.headers.add("Docker-Content-Digest", digest);
  r.content_length = rec.body.size();
  r.head = head;
  if (!head) r.body = rec.body;
  return r;
}

std::int64_t msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               t0)
      .count();
}

}  // namespace

Task<Result<ManifestHandler::Fetched>> ManifestHandler::fetchManifest(
    std::shared_ptr<const upstream::Upstream> up, std::string name, std::string reference,
    std::string accept, std::vector<std::string> trail) {
  std::string key = up->host + "/" + up->upstreamName(name) + ":" + reference + "|" + accept;
  std::function<Task<Result<Fetched>>()> work = [this, up, name, reference, accept, trail]() {
    return fetchManifestOnce(up, name, reference, accept, trail);
  };
  co_return co_await manifest_flights_.run(std::move(key), std::move(work));
}

Task<std::optional<http::Response>> ManifestHandler::manifestFromPeer(
    std::shared_ptr<const upstream::Upstream> up, std::string name, Digest digest,
    std::string accept, std::vector<std::string> trail) {
  auto hops = d_.peers->plan(digest, trail);
  if (hops.empty()) co_return std::nullopt;  // this node is the root, or alone
  // Only the root: manifests are small, nobody is refused as busy for one.
  PeerHop hop = hops.front();
  hop.as_child = true;
  std::vector<std::string> onward = std::move(trail);
  onward.push_back(d_.peers->self());
  std::string ns = up->host;  // named: see common/blocking.h
  auto resp =
      co_await d_.peers->getManifest(hop, std::move(ns), std::move(name), digest, std::move(accept),
                                     std::move(onward), d_.max_manifest_bytes);
  if (!resp) {
    d_.peers->failed(hop.member, resp.error().code == Errc::kTimeout
                                     ? metrics::PeerError::kStall
                                     : metrics::PeerError::kConnect);
    co_return std::nullopt;
  }
  if (resp.value().status != 200) {
    // It could not get it either, or does not mirror this registry: the upstream's own answer.
    if (d_.metrics != nullptr)
      d_.metrics->peers.fetchError(hop.member, metrics::PeerError::kStatus);
    co_return std::nullopt;
  }
  Hasher hasher(digest.algorithm());
  hasher.update(resp.value().body);
  if (hasher.finish() != digest) {
    d_.peers->failed(hop.member, metrics::PeerError::kDigest);
    d_.peers->poisoned(digest);
    co_return std::nullopt;  // buffered: the upstream's copy replaces it before anyone sees it
  }
  co_return std::move(resp).value();
}

Task<Result<ManifestHandler::Fetched>> ManifestHandler::fetchManifestOnce(
    std::shared_ptr<const upstream::Upstream> up, std::string name, std::string reference,
    std::string accept, std::vector<std::string> trail) {
  auto parsed = Reference::parse(reference);
  std::optional<http::Response> from_peer;
  if (d_.peers != nullptr && parsed && parsed.value().isDigest())
    from_peer =
        co_await manifestFromPeer(up, name, parsed.value().digest(), accept, std::move(trail));
  Result<http::Response> resp = Error{};
  if (from_peer) {
    resp = std::move(*from_peer);
  } else {
    Headers h;
    h.add("Accept", std::move(accept));
    std::string path = "manifests/" + reference;
    resp = co_await d_.client.request(up, "GET", name, std::move(path), std::move(h),
                                      d_.max_manifest_bytes);
  }
  if (!resp) co_return resp.error();
  auto& u = resp.value();
  if (u.status != 200)
    co_return upstream::upstreamStatusError(u, Errc::kManifestUnknown,
                                            "manifest " + name + ":" + reference);
  // The digest is ours to compute: a manifest is kept only under the hash of its bytes.
  Digest computed = sha256Of(u.body);
  const auto& ref = parsed;
  if (ref && ref.value().isDigest()) {
    const Digest& want = ref.value().digest();
    Digest got = computed;
    if (want.algorithm() != DigestAlgorithm::kSha256) {
      Hasher hasher(want.algorithm());
      hasher.update(u.body);
      got = hasher.finish();
    }
    if (got != want)
      co_return fail(Errc::kDigestMismatch, "upstream manifest does not hash to " + want.str());
    computed = want;
  } else if (auto dcd = u.headers.get("docker-content-digest");
             dcd.starts_with("sha256:") && dcd != computed.str()) {
    co_return fail(Errc::kDigestMismatch,
                   "upstream manifest does not hash to its Docker-Content-Digest");
  }
  std::string type(u.headers.get("content-type"));
  if (auto semi = type.find(';'); semi != std::string::npos) type.resize(semi);
  if (type.empty() || type == "application/json" || type == "text/plain") {
    std::string declared = media::declaredMediaType(u.body);
    if (!declared.empty()) type = declared;
  }
  if (type.empty()) co_return fail(Errc::kManifestInvalid, "upstream manifest has no media type");
  Fetched f{computed, index::ManifestRecord{type, std::move(u.body), d_.clock.unixSeconds()}};
  // Kept before the flight ends, so that a request arriving just after it finds the manifest in
  // the index instead of starting a second upstream GET (callers add the tag's mapping).
  std::function<Result<void>()> put = [this, f]() {
    return d_.index.putManifest(f.digest, f.record, std::nullopt);
  };
  auto stored = co_await runBlocking(d_.pool, std::move(put));
  if (!stored)
    logger()->warn("could not cache manifest {}: {}", f.digest.str(), stored.error().message());
  co_return f;
}

Task<Result<ManifestHandler::Fetched>> ManifestHandler::fetchByTag(
    std::shared_ptr<const upstream::Upstream> up, std::string name, std::string tag,
    std::string accept, std::vector<std::string> trail) {
  if (d_.peers != nullptr) {
    Headers h;
    h.add("Accept", accept);
    std::string path = "manifests/" + tag;
    auto head = co_await d_.client.request(up, "HEAD", name, std::move(path), std::move(h), 0);
    if (head && head.value().status == 200) {
      if (auto digest = Digest::parse(head.value().headers.get("docker-content-digest"))) {
        // Known already (a peer asked this node for it, or another tag points to it).
        if (auto rec = d_.index.getManifest(digest.value()); rec && rec.value())
          co_return Fetched{digest.value(), std::move(*rec.value())};
        std::string by_digest = digest.value().str();
        auto fetched = co_await fetchManifest(up, name, std::move(by_digest), accept, trail);
        if (fetched) co_return fetched;
      }
    }
    // No digest on HEAD (some registries), or the fetch by digest failed: by tag, as without
    // peers.
  }
  auto fetched = co_await fetchManifest(up, std::move(name), std::move(tag), std::move(accept),
                                        std::move(trail));
  co_return fetched;
}

Task<Result<HttpResponse>> ManifestHandler::serve(Route route, HttpRequest request,
                                                  std::shared_ptr<const upstream::Upstream> up,
                                                  RequestInfo& info) {
  const Reference& ref = route.reference;  // parsed by the router
  const bool head = request.method == "HEAD";
  const std::string accept(request.headers.get("accept"));
  auto t0 = std::chrono::steady_clock::now();

  if (ref.isDigest()) {
    const Digest& digest = ref.digest();
    auto rec = d_.index.getManifest(digest);
    if (!rec) co_return rec.error();
    if (rec.value() && media::accepts(accept, rec.value()->media_type)) {
      info.cache = CacheResult::kHit;
      co_return manifestResponse(*rec.value(), digest.str(), head);
    }
    // Arguments named, never temporaries: GCC 12 mishandles temporaries (seen: a ?: result) in
    // a co_await'ed call's arguments (see common/blocking.h).
    std::string ask = rec.value() ? accept : std::string(media::kManifestAccept);
    std::string digest_str = digest.str();
    auto fetched = co_await fetchManifest(up, route.name, std::move(digest_str), std::move(ask),
                                          parseTrail(request.headers.get(kTrailHeader)));
    if (!fetched) co_return fetched.error();
    auto& f = fetched.value();
    if (!media::accepts(accept, f.record.media_type)) {
      co_return fail(Errc::kManifestUnknown, "manifest " + digest.str() + " is a " +
                                                 f.record.media_type +
                                                 ", which the client does not accept");
    }
    info.cache = CacheResult::kMiss;
    auto r = manifestResponse(f.record, f.digest.str(), head);
    info.upstream_ms = msSince(t0);
    co_return r;
  }

  // By tag.
  index::TagKey key{up->host, up->upstreamName(route.name), ref.tag()};
  auto tag = d_.index.getTag(key);
  if (!tag) co_return tag.error();
  std::optional<index::ManifestRecord> known;
  std::optional<Digest> known_digest;
  if (tag.value()) {
    auto d = Digest::parse(tag.value()->digest);
    if (d) {
      auto rec = d_.index.getManifest(d.value());
      if (!rec) co_return rec.error();
      if (rec.value() && media::accepts(accept, rec.value()->media_type)) {
        known = std::move(*rec.value());
        known_digest = d.value();
      }
    }
  }
  if (known) {
    const std::int64_t age_ms = d_.clock.unixMillis() - tag.value()->fetched_unix_ms;
    if (tagAge(age_ms, d_.tag_ttl) == TagAge::kFresh) {
      info.cache = CacheResult::kHit;
      co_return manifestResponse(*known, known_digest->str(), head);
    }
    Headers h;
    h.add("Accept", std::string(media::kManifestAccept));
    std::string head_path = "manifests/" + key.tag;
    auto check =
        co_await d_.client.request(up, "HEAD", route.name, std::move(head_path), std::move(h), 0);
    switch (judgeRevalidation(check, known_digest->str())) {
      case Revalidation::kServeStale: {
        logger()->warn("serving stale {}/{}:{} -> {}: upstream {}", up->host, route.name, key.tag,
                       known_digest->str(),
                       check ? "answered HTTP " + std::to_string(check.value().status)
                             : check.error().message());
        info.cache = CacheResult::kStale;
        info.upstream_ms = msSince(t0);
        co_return manifestResponse(*known, known_digest->str(), head);
      }
      case Revalidation::kStillCurrent: {
        index::TagRecord refreshed{known_digest->str(), d_.clock.unixMillis()};
        asio::post(d_.pool,
                   [&index = d_.index, key, refreshed] { (void)index.putTag(key, refreshed); });
        info.cache = CacheResult::kHit;
        info.upstream_ms = msSince(t0);
        co_return manifestResponse(*known, known_digest->str(), head);
      }
      case Revalidation::kRefused:
        co_return upstream::upstreamStatusError(check.value(), Errc::kManifestUnknown,
                                                "manifest " + route.name + ":" + key.tag);
      case Revalidation::kFetch:
        break;
    }
  }

  std::string all_types(media::kManifestAccept);
  auto fetched = co_await fetchByTag(up, route.name, key.tag, std::move(all_types),
                                     parseTrail(request.headers.get(kTrailHeader)));
  if (!fetched) {
    if (known && staleOnFetchError(fetched.error())) {
      info.cache = CacheResult::kStale;
      auto r = manifestResponse(*known, known_digest->str(), head);
      info.upstream_ms = msSince(t0);
      co_return r;
    }
    co_return fetched.error();
  }
  auto& f = fetched.value();
  index::TagRecord tag_record{f.digest.str(), d_.clock.unixMillis()};
  std::function<Result<void>()> put = [this, f, key, tag_record]() {
    return d_.index.putManifest(f.digest, f.record, std::make_pair(key, tag_record));
  };
  auto stored = co_await runBlocking(d_.pool, std::move(put));
  if (!stored)
    logger()->warn("could not cache manifest {}: {}", f.digest.str(), stored.error().message());
  if (!media::accepts(accept, f.record.media_type)) {
    // Cached for clients that accept it; this client gets what it asks for, uncached.
    auto direct = co_await fetchManifest(up, route.name, key.tag, accept);
    if (!direct) co_return direct.error();
    if (!media::accepts(accept, direct.value().record.media_type)) {
      co_return fail(Errc::kManifestUnknown,
                     "no manifest of an accepted media type for " + route.name + ":" + key.tag);
    }
    info.cache = CacheResult::kPassThrough;
    auto r = manifestResponse(direct.value().record, direct.value().digest.str(), head);
    info.upstream_ms = msSince(t0);
    co_return r;
  }
  info.cache = CacheResult::kMiss;
  auto r = manifestResponse(f.record, f.digest.str(), head);
  info.upstream_ms = msSince(t0);
  co_return r;
}

}  // namespace pullcache::registry
