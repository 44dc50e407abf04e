#pragma once
// Who is in the cluster, as this node sees it: a fixed list (`peers.static`), or the A/AAAA
// records of a headless Service (`peers.dns`) resolved through the system resolver every
// `peers.refresh` on a thread of its own. A failed or empty resolution keeps the last good view
// (a DNS hiccup must not turn every node into its own root). The node itself is always a member.

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "daemon/config/config.h"
#include "daemon/metrics/metrics.h"

namespace pullcache::peers {

// Members as "IP:port" (IPv6 as "[IP]:port"), sorted, unique, `self` included.
struct View {
  std::vector<std::string> members;
  std::string self;
  // `self` is among the records (always, for a static list). A node that just started is not,
  // until the others' resolvers see it too: it must not rank itself in meanwhile.
  bool listed = true;
};

// name -> literal IP addresses (blocking).
using Resolver = std::function<Result<std::vector<std::string>>(const std::string& name)>;
Result<std::vector<std::string>> systemResolve(const std::string& name);

class Membership {
 public:
  // `members` (gauge, may be null) follows the view's size.
  Membership(const config::PeersConfig& config, Resolver resolver, metrics::Gauge* members);
  ~Membership();
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // The DNS refresher's thread (nothing to do for a static list). The first resolution runs
  // before start() returns, so the first requests already see the cluster.
  void start();
  void stop();

  [[nodiscard]] std::shared_ptr<const View> view() const;
  // One resolution now (the refresher's step; for tests). Its error, if any, after keeping the
  // last good view.
  Result<void> refresh();

 private:
  void publish(std::vector<std::string> members, bool listed);
  void loop();

  const std::string self_;
  const std::string dns_name_;
  const std::uint16_t dns_port_;
  const std::chrono::milliseconds interval_;
  Resolver resolver_;
  metrics::Gauge* members_gauge_;
  mutable std::mutex mu_;
  std::shared_ptr<const View> view_;  // guarded by mu_
  bool stopping_ = false;             // guarded by mu_
  bool last_failed_ = false;          // guarded by mu_: log a failure once, not every refresh
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace pullcache::peers
