#include "daemon/prefetch/prefetcher.h"

#include <curl/curl.h>

#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "common/digest.h"
#include "common/media_types.h"

namespace pullcache::prefetch {
namespace {

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

struct Fetch {
  long status = 0;
  std::string content_type;
  std::string body;  // kept for manifests and error bodies only
  std::uint64_t bytes = 0;
  std::optional<Hasher> hasher;  // blobs: hashed as they arrive
  bool keep_body = true;
  const PrefetchOptions* options = nullptr;
  Progress* progress = nullptr;
  std::chrono::steady_clock::time_point last_report{};
};

std::size_t onBody(char* data, std::size_t size, std::size_t n, void* user) {
  auto* f = static_cast<Fetch*>(user);
  const std::size_t len = size * n;
  if (f->options->cancel != nullptr && f->options->cancel->load()) return 0;  // aborts
  f->bytes += len;
  if (f->keep_body || f->status != 200) {
    if (f->body.size() < (8u << 20)) f->body.append(data, len);
  }
  if (f->hasher) f->hasher->update(data, len);
  if (f->progress != nullptr) {
    f->progress->bytes_done += len;
    auto now = std::chrono::steady_clock::now();
    if (f->options->progress && now - f->last_report >= std::chrono::milliseconds(100)) {
      f->last_report = now;
      f->options->progress(*f->progress);
    }
  }
  return len;
}

std::size_t onHeader(char* data, std::size_t size, std::size_t n, void* user) {
  auto* f = static_cast<Fetch*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {  // a new response (after a redirect or 100-continue)
    f->body.clear();
    f->content_type.clear();
    auto space = line.find(' ');
    f->status = space == std::string_view::npos
                    ? 0
                    : std::atol(std::string(line.substr(space + 1, 3)).c_str());
  }
  constexpr std::string_view kType = "content-type:";
  if (line.size() > kType.size()) {
    std::string lower(line.substr(0, kType.size()));
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == kType) {
      auto v = line.substr(kType.size());
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' '))
        v.remove_suffix(1);
      f->content_type = std::string(v);
    }
  }
  return size * n;
}

// The OCI error message of a failed answer, for the user.
std::string describeFailure(const Fetch& f) {
  std::string what = "HTTP " + std::to_string(f.status);
  auto j = nlohmann::json::parse(f.body, nullptr, false);
  if (j.is_object() && j.contains("errors") && j["errors"].is_array() && !j["errors"].empty()) {
    const auto& e = j["errors"][0];
    if (e.is_object()) what += " " + e.value("code", "") + ": " + e.value("message", "");
  }
  return what;
}

Result<void> get(const std::string& url, const char* accept, Fetch& f) {
  std::unique_ptr<CURL, CurlDeleter> c(curl_easy_init());
  if (!c) return fail(Errc::kInternal, "curl_easy_init failed");
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  if (accept != nullptr)
    headers.reset(curl_slist_append(nullptr, (std::string("Accept: ") + accept).c_str()));
  CURL* h = c.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_USERAGENT, "pullcache-prefetch");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &f);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &f);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(f.options->stall_timeout.count()));
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
  CURLcode rc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &f.status);
  if (rc == CURLE_WRITE_ERROR && f.options->cancel != nullptr && f.options->cancel->load())
    return fail(Errc::kInternal, "cancelled");
  if (rc == CURLE_COULDNT_CONNECT)
    return fail(Errc::kUpstreamUnavailable, "the daemon does not answer at " + url);
  if (rc != CURLE_OK) return fail(Errc::kUpstreamUnavailable, curl_easy_strerror(rc));
  return ok();
}

}  // namespace

Result<PrefetchResult> prefetchImage(const ImageRef& image, const PrefetchOptions& options) {
  PrefetchResult result;
  const std::string base = options.registry_url + "/v2/" + image.repository;
  const std::string ns = "?ns=" + image.host;
  const std::string accept(media::kManifestAccept);

  auto getManifest = [&](const std::string& reference) -> Result<Fetch> {
    Fetch f;
    f.options = &options;
    if (auto r = get(base + "/manifests/" + reference + ns, accept.c_str(), f); !r)
      return r.error();
    if (f.status != 200)
      return fail(Errc::kManifestUnknown, image.host + "/" + image.repository + " " + reference +
                                              ": " + describeFailure(f));
    return f;
  };

  const std::string root_ref = image.digest ? image.digest->str() : image.tag;
  auto root = getManifest(root_ref);
  if (!root) return root.error();
  result.manifest_digest = sha256Of(root.value().body).str();
  if (image.digest && image.digest->algorithm() == DigestAlgorithm::kSha256 &&
      result.manifest_digest != image.digest->str()) {
    return fail(Errc::kDigestMismatch, "manifest does not match " + image.digest->str());
  }
  auto refs = parseManifestRefs(root.value().body);
  if (!refs) return refs.error();

  std::vector<BlobRef> blobs;
  std::set<std::string> seen;
  auto addBlobs = [&](const ManifestRefs& m) {
    for (const auto& b : m.blobs) {
      if (seen.insert(b.digest.str()).second) blobs.push_back(b);
    }
  };
  if (refs.value().is_index) {
    std::vector<const ManifestChild*> chosen;
    std::string available;
    for (const auto& child : refs.value().children) {
      const auto& p = child.platform;
      available += (available.empty() ? "" : ", ") + p.os + "/" + p.architecture +
                   (p.variant.empty() ? "" : "/" + p.variant);
      if (options.all_platforms || platformMatches(p, options.platform)) chosen.push_back(&child);
    }
    if (chosen.empty()) {
      const auto& w = options.platform;
      return fail(Errc::kManifestUnknown,
                  image.str() + " has no manifest for " + w.os + "/" + w.architecture +
                      (w.variant.empty() ? "" : "/" + w.variant) + " (it has: " + available +
                      "; --all-platforms takes them all)");
    }
    for (const auto* child : chosen) {
      auto m = getManifest(child->digest.str());
      if (!m) return m.error();
      auto child_refs = parseManifestRefs(m.value().body);
      if (!child_refs) return child_refs.error();
      if (child_refs.value().is_index) continue;  // nested indexes are not walked
      result.platforms.push_back(child->platform);
      addBlobs(child_refs.value());
    }
  } else {
    addBlobs(refs.value());
  }

  Progress progress;
  progress.blobs_total = blobs.size();
  for (const auto& b : blobs) progress.bytes_total += b.size;
  if (options.progress) options.progress(progress);
  for (const auto& b : blobs) {
    Fetch f;
    f.options = &options;
    f.keep_body = false;
    f.hasher.emplace(b.digest.algorithm());
    f.progress = &progress;
    if (auto r = get(base + "/blobs/" + b.digest.str() + ns, nullptr, f); !r) return r.error();
    if (f.status != 200)
      return fail(Errc::kBlobUnknown, "blob " + b.digest.str() + ": " + describeFailure(f));
    if (f.hasher->finish() != b.digest)
      return fail(Errc::kDigestMismatch, "blob " + b.digest.str() + " arrived with other content");
    ++progress.blobs_done;
    result.bytes += f.bytes;
    ++result.blobs;
    if (options.progress) options.progress(progress);
  }
  return result;
}

}  // namespace pullcache::prefetch
