#include "tests/support/fake_upstream_client.h"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <stdexcept>

namespace pullcache::testing {

FakeUpstreamClient::~FakeUpstreamClient() { join(); }

void FakeUpstreamClient::join() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

void FakeUpstreamClient::script(const std::string& url, ScriptedResponse response) {
  std::lock_guard lock(mu_);
  scripts_[url] = std::move(response);
}

std::uint64_t FakeUpstreamClient::bodyBytes(const std::string& url) const {
  std::lock_guard lock(mu_);
  auto it = body_bytes_.find(url);
  return it == body_bytes_.end() ? 0 : it->second;
}

int FakeUpstreamClient::calls(const std::string& url) const {
  std::lock_guard lock(mu_);
  auto it = calls_.find(url);
  return it == calls_.end() ? 0 : it->second;
}

std::vector<std::string> FakeUpstreamClient::unexpected() const {
  std::lock_guard lock(mu_);
  return unexpected_;
}

std::vector<http::Request> FakeUpstreamClient::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

Task<Result<http::Response>> FakeUpstreamClient::send(http::Request request) {
  return run(std::move(request), nullptr);
}

Task<Result<http::Response>> FakeUpstreamClient::stream(http::Request request,
                                                        std::shared_ptr<http::BodySink> sink) {
  return run(std::move(request), std::move(sink));
}

Task<Result<http::Response>> FakeUpstreamClient::run(http::Request request,
                                                     std::shared_ptr<http::BodySink> sink) {
  ScriptedResponse script;
  int call = 0;
  {
    std::lock_guard lock(mu_);
    requests_.push_back(request);
    auto it = scripts_.find(request.url);
    if (it == scripts_.end()) {
      unexpected_.push_back(request.method + " " + request.url);
      co_return fail(Errc::kUpstreamUnavailable, "no script for " + request.url);
    }
    script = it->second;
    call = ++calls_[request.url];
  }
  if (script.throw_exception) throw std::logic_error("scripted exception for " + request.url);
  if (script.refuse) co_return fail(Errc::kUpstreamUnavailable, "connection refused (scripted)");
  if (!script.require_authorization.empty() &&
      request.headers.get("authorization") != script.require_authorization) {
    ScriptedResponse denied;
    denied.status = 401;
    denied.headers.add("WWW-Authenticate", script.challenge);
    denied.body = R"({"errors":[{"code":"UNAUTHORIZED"}]})";
    script = denied;
  }
  std::uint64_t offset = 0;
  std::optional<std::uint64_t> last;  // "bytes=a-b": b
  bool ranged = false;
  if (auto range = request.headers.get("range"); !range.empty() && script.honour_range) {
    std::string spec(range.substr(6));
    auto dash = spec.find('-');
    offset = std::stoull(spec.substr(0, dash));
    if (dash + 1 < spec.size()) last = std::stoull(spec.substr(dash + 1));
    ranged = true;
  }
  // Deliver on a thread of our own, like libcurl's, and complete on the caller's executor.
  auto* self = this;
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable),
                                          void(Result<http::Response>)>(
      // Pointers and scalars only: GCC 12 destroys a temporary in a co_await expression twice,
      // so this lambda must not own anything (see common/blocking.h).
      [self, script_ptr = &script, sink_ptr = &sink, request_ptr = &request, offset, last, ranged,
       call](auto handler) {
        auto ex = asio::get_associated_executor(handler);
        std::lock_guard lock(self->mu_);
        self->threads_.emplace_back([self, script = *script_ptr, sink = *sink_ptr,
                                     method = request_ptr->method, offset, last, ranged, call, ex,
                                     url = request_ptr->url,
                                     handler = std::move(handler)]() mutable {
          http::Response resp;
          resp.status = script.status;
          resp.headers = script.headers;
          std::string body = script.body;
          if (ranged && resp.status == 200 && offset >= body.size()) {
            resp.status = 416;
            resp.headers.set("Content-Range", "bytes */" + std::to_string(body.size()));
            body.clear();
          } else if (ranged && resp.status == 200) {
            std::uint64_t end = body.size();
            if (last && *last + 1 < end) end = *last + 1;
            resp.status = 206;
            resp.headers.set("Content-Range", "bytes " + std::to_string(offset) + "-" +
                                                  std::to_string(end - 1) + "/" +
                                                  std::to_string(body.size()));
            body = body.substr(offset, end - offset);
          }
          if (!resp.headers.has("content-length"))
            resp.headers.add("Content-Length", std::to_string(body.size()));
          Result<http::Response> result = resp;
          if (method == "HEAD") {
            body.clear();
          }
          if (sink && resp.status / 100 == 2) {
            bool go = sink->onHeaders(resp.status, resp.headers);
            std::size_t pos = 0;
            while (go && pos < body.size()) {
              if (script.drop_after > 0 && call == 1 && pos >= script.drop_after) {
                result = Error{Errc::kUpstreamUnavailable, "connection reset (scripted)"};
                break;
              }
              std::size_t n = std::min(script.chunk, body.size() - pos);
              if (script.drop_after > 0 && call == 1) n = std::min(n, script.drop_after - pos);
              go = sink->onData(body.data() + pos, n);
              pos += n;
              {
                std::lock_guard counted(self->mu_);
                self->body_bytes_[url] += n;
              }
              if (script.chunk_delay.count() > 0) std::this_thread::sleep_for(script.chunk_delay);
            }
            if (!go) result = Error{Errc::kStoreIo, "sink stopped"};
            if (result) result.value().body_bytes = pos;  // as the real client counts them
          } else if (result) {
            if (script.chunk_delay.count() > 0) std::this_thread::sleep_for(script.chunk_delay);
            result.value().body = body;
            result.value().body_bytes = body.size();
          }
          sink.reset();  // as the real client: the sink is let go before the completion runs
          asio::post(ex, [handler = std::move(handler), result = std::move(result)]() mutable {
            std::move(handler)(std::move(result));
          });
        });
      },
      asio::use_awaitable);
}

}  // namespace pullcache::testing
