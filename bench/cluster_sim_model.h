#pragma once
// Cluster mode's distribution tree, simulated (issue 16): N nodes, one blob at a time, the real
// ranking code (daemon/peers/ranking.h), and the fetch strategy of PeerNetwork::plan and
// FetchCoordinator::runFetch replayed as messages in time order:
//
//   - a node that needs a blob and is not its root (in its own view) asks the root DIRECTLY; the
//     root serves at most `fanout` direct streams per blob and answers 429 past that; on 429 the
//     node asks its tree parent AS A CHILD, which is never refused (ranks 1..fanout, whose parent
//     is the root, ask the root as a child straight away);
//   - a node asked for a blob it does not hold fetches it itself the same way, once (single
//     flight: every later request joins that fetch); the root fetches from the upstream;
//   - a member that does not answer (it left, but the asker's view still has it) costs one
//     connect timeout; the asker plans again without it, and after kMaxPeerFailures (3, as in
//     fetch_coordinator.cc) goes to the upstream. Each blob is the first of its refresh period:
//     no member is known to be down yet (the daemon then skips it for 15 s, for every blob), so
//     the connect failures are the worst case.
//   - the daemon also leaves the request's trail out of the plan; that changes nothing here,
//     because a request only ever goes to a member ranked above the asker (checked below), so
//     the trail's members rank below the node that plans.
//
// Strategies: "strict" (every node asks its tree parent as a child, nothing else), "adaptive"
// (the daemon's, above) and "top-down" (NOT in the daemon, for comparison: on 429 the node asks
// its tree ancestors directly from the top down, each with the same `fanout` direct limit, and its
// parent as a child last; PeerNetwork::plan would return that longer hop list, and an ancestor
// between the root and the parent that does not answer is passed over without a new plan).
//
// Concurrency is modelled simply: a blob transfer lasts far longer than a request's round trip,
// so every stream is held for the whole run: the first `fanout` direct requests to reach a member
// take its direct slots. A request takes one latency unit to arrive, a 429 one more to come back,
// a connect failure kConnectTimeout units. The nodes that want the blob start in a random order
// within one latency unit.
//
// Churn: a fresh draw for each blob. 2% of the N members joined in the last refresh period, 2%
// more left in it, and 10% of the members (never one that just joined: it resolved the view as it
// started) still have the previous period's view: without the joiners, with the leavers.
//
// Placement: every plan is computed from the real global order (rankMembers over every member of
// either view, so the real rendezvous weights) and treeParent(), with prefix counts, so that 5,000
// nodes x 200 blobs run in seconds; a deterministic sample of the plans (all of them below 200
// nodes) is checked against the real place() on the member list PeerNetwork::plan would pass it.
//
// The simulator checks its invariants at run time and exits 1 when one fails: every node that
// wants the blob gets it through a chain of sources that ends at an upstream fetch; every request
// goes to a member ranked above the asker (so no cycle can form, whichever fetch a request
// joins); without churn: one upstream fetch per blob, no connect failure, no node serving more
// than `fanout` streams of a blob (strict) or 2 x `fanout` (adaptive, top-down), no requester
// deeper than the tree's height, and, when at most `fanout` nodes want the blob, every one of
// them one hop from the root and no copy but the root's on a node that did not want it (adaptive,
// top-down).
//
// The runs and the tables: cluster_sim.cc.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "daemon/peers/ranking.h"

namespace pullcache::bench::sim {

constexpr int kMaxPeerFailures = 3;       // daemon/registry/fetch_coordinator.cc
constexpr double kLatency = 1.0;          // a request's arrival, or a 429's return
constexpr double kConnectTimeout = 10.0;  // peers.connect_timeout, in latency units
constexpr double kStaleFraction = 0.10;
constexpr double kJoinFraction = 0.02;
constexpr double kLeaveFraction = 0.02;
constexpr std::size_t kMaxConnections = 4096;  // limits.max_connections, daemon/config/config.h
constexpr std::uint32_t kNone = 0xffffffffU;
constexpr std::uint32_t kUpstream = 0xfffffffeU;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "cluster_sim: invariant violated: %s\n", what);
  std::exit(1);
}

// `what` as a literal: the checks on the hot path build no string.
inline void check(bool ok, const char* what) {
  if (!ok) fail(what);
}
inline void check(bool ok, const std::string& what) {
  if (!ok) fail(what.c_str());
}

// SplitMix64: the same sequence with every compiler and standard library (std::mt19937 is, but
// the standard distributions are not).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

 private:
  std::uint64_t state_;
};

template <class T>
void shuffle(std::vector<T>& v, Rng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

inline Digest randomDigest(Rng& rng) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text = "sha256:";
  for (int i = 0; i < 64; ++i) text += kHex[rng.next() & 15];
  auto d = Digest::parse(text);
  check(static_cast<bool>(d), "generated digest parses");
  return std::move(d).value();
}

inline std::string address(std::size_t u) {
  return "10." + std::to_string((u >> 16) & 255) + "." + std::to_string((u >> 8) & 255) + "." +
         std::to_string(u & 255) + ":5001";
}

enum class Strategy { kStrict, kAdaptive, kTopDown };
constexpr Strategy kStrategies[] = {Strategy::kStrict, Strategy::kAdaptive, Strategy::kTopDown};

inline std::string_view strategyName(Strategy s) {
  switch (s) {
    case Strategy::kStrict:
      return "strict tree";
    case Strategy::kAdaptive:
      return "adaptive (daemon)";
    case Strategy::kTopDown:
      return "top-down (not in daemon)";
  }
  return "?";
}

// One node's view of the membership, by position in the blob's global order.
struct View {
  std::vector<char> member;          // by node index
  std::vector<std::uint32_t> order;  // node indexes of the members, best-ranked first
  std::vector<std::uint32_t> above;  // above[p]: members at global positions < p (size U + 1)
};

// The members, the churn and the ranking for one blob.
struct World {
  std::size_t n = 0;  // current members
  Digest digest = sha256Of("");
  std::vector<std::string> names;     // every node that is or was a member: current ones, leavers
  std::vector<std::uint32_t> global;  // node indexes by rendezvous weight, best first
  std::vector<std::uint32_t> pos;     // position of each node in `global`
  std::vector<char> alive;            // a current member (leavers do not answer)
  std::vector<char> stale;            // sees the previous period's view
  View views[2];                      // current, previous

  [[nodiscard]] const View& viewOf(std::uint32_t x) const { return views[stale[x] ? 1 : 0]; }
};

inline View makeView(const World& w, std::vector<char> member) {
  View v;
  v.member = std::move(member);
  v.above.assign(w.global.size() + 1, 0);
  for (std::size_t p = 0; p < w.global.size(); ++p) {
    v.above[p + 1] = v.above[p];
    if (v.member[w.global[p]]) {
      v.order.push_back(w.global[p]);
      ++v.above[p + 1];
    }
  }
  return v;
}

inline World makeWorld(std::size_t n, bool churn, Rng& rng) {
  World w;
  w.n = n;
  w.digest = randomDigest(rng);
  auto share = [&](double fraction) {
    return churn ? static_cast<std::size_t>(std::lround(fraction * static_cast<double>(n))) : 0;
  };
  const std::size_t leavers = share(kLeaveFraction);
  const std::size_t joiners = share(kJoinFraction);
  const std::size_t stale = share(kStaleFraction);
  const std::size_t u = n + leavers;
  // Which addresses left and joined: a random choice per blob (the names are fixed, the ranking
  // of a random digest is random anyway).
  std::vector<std::uint32_t> ids(u);
  for (std::uint32_t i = 0; i < u; ++i) ids[i] = i;
  shuffle(ids, rng);
  w.names.resize(u);
  for (std::size_t i = 0; i < u; ++i) w.names[i] = address(ids[i]);
  // Nodes 0..n-1 are current (0..joiners-1 of them just joined), n..u-1 left.
  w.alive.assign(u, 0);
  std::fill(w.alive.begin(), w.alive.begin() + static_cast<std::ptrdiff_t>(n), 1);
  w.stale.assign(u, 0);
  std::vector<std::uint32_t> old_members;
  for (std::uint32_t i = static_cast<std::uint32_t>(joiners); i < n; ++i) old_members.push_back(i);
  shuffle(old_members, rng);
  for (std::size_t i = 0; i < stale; ++i) w.stale[old_members[i]] = 1;

  const std::vector<std::size_t> ranked = peers::rankMembers(w.digest, w.names);
  w.global.resize(u);
  w.pos.resize(u);
  for (std::size_t p = 0; p < u; ++p) {
    w.global[p] = static_cast<std::uint32_t>(ranked[p]);
    w.pos[ranked[p]] = static_cast<std::uint32_t>(p);
  }
  for (std::size_t p = 1; p < u; ++p)
    check(peers::rendezvousWeight(w.digest, w.names[w.global[p - 1]]) >=
              peers::rendezvousWeight(w.digest, w.names[w.global[p]]),
          "rankMembers orders by weight");

  std::vector<char> current(u, 0), previous(u, 0);
  for (std::size_t i = 0; i < u; ++i) {
    current[i] = i < n ? 1 : 0;
    previous[i] = i >= joiners ? 1 : 0;  // without the joiners, with the leavers
  }
  w.views[0] = makeView(w, std::move(current));
  w.views[1] = makeView(w, std::move(previous));
  return w;
}

struct Hop {
  std::uint32_t member;
  bool as_child;
};

struct Node {
  bool wants = false;
  bool fetching = false;              // holds the blob or is getting it
  std::uint32_t source = kNone;       // whom its fetch streams from, or kUpstream
  std::uint32_t direct = 0;           // direct streams it serves
  std::uint32_t children = 0;         // child streams it serves
  std::vector<std::uint32_t> failed;  // members that did not answer in this fetch
  std::vector<std::uint32_t> peers;   // members it holds a connection to (keep-alive)
  std::uint32_t connections = 0;      // peers holding a connection to it
  std::vector<Hop> hops;
  std::size_t hop = 0;
  int peer_failures = 0;
  int depth = -1;
};

// One blob's results.
struct RunStats {
  std::size_t upstream = 0;
  std::size_t max_streams = 0;
  std::size_t max_depth = 0;
  std::size_t intermediates = 0;
  std::size_t refusals = 0;
  std::size_t connect_failures = 0;
  std::size_t gave_up = 0;          // fetches that went to the upstream after kMaxPeerFailures
  std::size_t full = 0;             // connections refused at max_connections (503)
  std::size_t max_connections = 0;  // most peers connected to one node
};

// Plans made, and how many of them were checked against the real place(): every plan below 200
// nodes, about one in n * n / 10,000 above (place() is O(n) with string hashing).
std::size_t g_plans = 0;
std::size_t g_place_checks = 0;

class Herd {
 public:
  // `max_connections`: limits.max_connections of the peer listener; 0: no limit.
  Herd(const World& w, std::size_t fanout, std::size_t max_connections)
      : w_(w),
        fanout_(fanout),
        max_connections_(max_connections),
        nodes_(w.names.size()),
        check_stride_(w.n < 200 ? 1 : w.n * w.n / 10000) {}

  // One blob with one strategy; `requesters` in arrival order. The nodes' memory is reused from
  // one run to the next.
  RunStats run(Strategy strategy, const std::vector<std::uint32_t>& requesters) {
    strategy_ = strategy;
    stats_ = RunStats{};
    for (Node& node : nodes_) {
      node.wants = node.fetching = false;
      node.source = kNone;
      node.direct = node.children = 0;
      node.failed.clear();
      node.peers.clear();
      node.connections = 0;
      node.hops.clear();
      node.hop = 0;
      node.peer_failures = 0;
      node.depth = -1;
    }
    for (std::uint32_t x : requesters) nodes_[x].wants = true;
    for (std::size_t i = 0; i < requesters.size(); ++i)
      push(kLatency * static_cast<double>(i) / static_cast<double>(requesters.size()), Kind::kWant,
           requesters[i], requesters[i], false);
    // Every message takes at least one latency unit, so when the events of [k, k + 1) come up,
    // nothing can be added to them any more: sort them and play them in order.
    for (current_ = 0; current_ < buckets_.size(); ++current_) {
      std::vector<Event> events = std::move(buckets_[current_]);
      std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
        return a.time != b.time ? a.time < b.time : a.seq < b.seq;
      });
      for (const Event& e : events) dispatch(e);
      events.clear();
      buckets_[current_] = std::move(events);  // keeps the memory for the next run
    }
    return collect(requesters);
  }

 private:
  enum class Kind { kWant, kArrive, kRefused, kConnectFailed, kFull };
  struct Event {
    double time;
    std::uint64_t seq;
    Kind kind;
    std::uint32_t from;
    std::uint32_t to;
    bool as_child;
  };
  void push(double t, Kind kind, std::uint32_t from, std::uint32_t to, bool as_child) {
    const auto bucket = static_cast<std::size_t>(t / kLatency);
    check(kind == Kind::kWant || bucket > current_, "a message takes at least one latency unit");
    if (bucket >= buckets_.size()) buckets_.resize(bucket + 1);
    buckets_[bucket].push_back(Event{t, seq_++, kind, from, to, as_child});
  }

  void dispatch(const Event& e) {
    Node& x = nodes_[e.from];
    switch (e.kind) {
      case Kind::kWant:
        if (!x.fetching) startFetch(e.from, e.time);  // else it joins the fetch under way
        break;
      case Kind::kArrive: {
        Node& y = nodes_[e.to];
        // A request on a new connection: the connection stays open after a 200 (HTTP
        // keep-alive; the listener's idle_timeout, 75 s, outlasts the herd). Past
        // max_connections the listener answers 503 before the handler sees the request.
        if (std::find(x.peers.begin(), x.peers.end(), e.to) == x.peers.end()) {
          if (max_connections_ != 0 && y.connections >= max_connections_) {
            ++stats_.full;
            push(e.time + kLatency, Kind::kFull, e.from, e.to, false);
            break;
          }
          x.peers.push_back(e.to);
          ++y.connections;
        }
        if (!e.as_child && y.direct >= fanout_) {  // the peer endpoint's bound; never for a child
          // The 429 closes the connection (peer_endpoint.cc), so a refused node holds no slot.
          std::erase(x.peers, e.to);
          --y.connections;
          ++stats_.refusals;
          push(e.time + kLatency, Kind::kRefused, e.from, e.to, false);
          break;
        }
        ++(e.as_child ? y.children : y.direct);
        check(x.source == kNone, "a fetch streams from one member");
        x.source = e.to;
        if (!y.fetching) startFetch(e.to, e.time);
        break;
      }
      case Kind::kRefused:
        ++x.hop;
        next(e.from, e.time);
        break;
      case Kind::kFull:  // runFetch: a member that answers an error: the upstream's answer
        x.hops.clear();
        next(e.from, e.time);
        break;
      case Kind::kConnectFailed:
        ++stats_.connect_failures;
        x.failed.push_back(e.to);
        if (strategy_ == Strategy::kTopDown && x.hop != 0 && x.hop + 1 < x.hops.size()) {
          ++x.hop;  // an ancestor between the root and the parent: the next one, no new plan
        } else if (++x.peer_failures < kMaxPeerFailures) {
          plan(e.from);
        } else {
          x.hops.clear();
          ++stats_.gave_up;
        }
        next(e.from, e.time);
        break;
    }
  }

  void startFetch(std::uint32_t x, double t) {
    Node& node = nodes_[x];
    node.fetching = true;
    plan(x);
    next(x, t);
  }

  void next(std::uint32_t x, double t) {
    Node& node = nodes_[x];
    if (node.hop >= node.hops.size()) {
      node.source = kUpstream;
      ++stats_.upstream;
      return;
    }
    const Hop h = node.hops[node.hop];
    // Requests only ever go up the global order: whatever fetch a request joins, no cycle.
    check(w_.pos[h.member] < w_.pos[x], "a node asks only members ranked above it");
    if (w_.alive[h.member])
      push(t + kLatency, Kind::kArrive, x, h.member, h.as_child);
    else
      push(t + kConnectTimeout, Kind::kConnectFailed, x, h.member, h.as_child);
  }

  // The k-th member (0 = best) of x's view without the members x found dead.
  [[nodiscard]] std::uint32_t memberAt(const View& v, const std::vector<std::uint32_t>& skip,
                                       std::size_t k) const {
    for (std::uint32_t f : skip)  // sorted by position
      if (v.above[w_.pos[f]] <= k) ++k;
    return v.order[k];
  }

  // PeerNetwork::plan, for each strategy: sets x's hops, from the first.
  void plan(std::uint32_t x) {
    Node& node = nodes_[x];
    const View& v = w_.viewOf(x);
    std::vector<std::uint32_t>& skip = skip_;
    skip.clear();
    for (std::uint32_t f : node.failed)
      if (v.member[f]) skip.push_back(f);
    std::sort(skip.begin(), skip.end(),
              [&](std::uint32_t a, std::uint32_t b) { return w_.pos[a] < w_.pos[b]; });
    skip.erase(std::unique(skip.begin(), skip.end()), skip.end());
    check(v.member[x] != 0, "a node is in its own view");
    std::size_t rank = v.above[w_.pos[x]];
    for (std::uint32_t f : skip)
      if (w_.pos[f] < w_.pos[x]) --rank;
    const std::uint32_t root = memberAt(v, skip, 0);
    const std::size_t parent_rank = rank == 0 ? 0 : peers::treeParent(rank, fanout_);
    const std::uint32_t parent = memberAt(v, skip, parent_rank);
    if (++g_plans % check_stride_ == 0) checkPlace(x, v, skip, rank, root, parent);

    std::vector<Hop>& hops = node.hops;
    hops.clear();
    node.hop = 0;
    if (rank == 0) return;  // the root: the upstream
    switch (strategy_) {
      case Strategy::kStrict:
        hops.push_back({parent, true});
        break;
      case Strategy::kAdaptive:
        if (parent_rank != 0) hops.push_back({root, false});
        hops.push_back({parent, true});
        break;
      case Strategy::kTopDown: {
        std::vector<std::size_t>& chain = chain_;  // ranks above the parent's, nearest first
        chain.clear();
        for (std::size_t r = parent_rank; r != 0;) {
          r = peers::treeParent(r, fanout_);
          chain.push_back(r);
        }
        for (auto it = chain.rbegin(); it != chain.rend(); ++it)
          hops.push_back({memberAt(v, skip, *it), false});
        hops.push_back({parent, true});
        break;
      }
    }
  }

  // The real place() on the list PeerNetwork::plan passes it: the view without the dead members.
  void checkPlace(std::uint32_t x, const View& v, const std::vector<std::uint32_t>& skip,
                  std::size_t rank, std::uint32_t root, std::uint32_t parent) {
    std::vector<std::string> live;
    live.reserve(v.order.size());
    for (std::uint32_t m : v.order)
      if (!std::binary_search(skip.begin(), skip.end(), m, [&](std::uint32_t a, std::uint32_t b) {
            return w_.pos[a] < w_.pos[b];
          }))
        live.push_back(w_.names[m]);
    const peers::Placement p = peers::place(w_.digest, live, w_.names[x], fanout_);
    ++g_place_checks;
    check(p.rank == rank, "place(): the same rank as the simulator's");
    check(p.root == w_.names[root], "place(): the same root as the simulator's");
    check(rank == 0 ? !p.parent.has_value() : p.parent == w_.names[parent],
          "place(): the same tree parent as the simulator's");
  }

  std::size_t depthOf(std::uint32_t x) {
    std::vector<std::uint32_t> path;
    std::uint32_t at = x;
    while (nodes_[at].depth < 0 && nodes_[at].source != kUpstream) {
      check(nodes_[at].source != kNone, "every fetch gets the blob from somewhere");
      check(path.size() <= nodes_.size(), "no cycle of sources");
      path.push_back(at);
      at = nodes_[at].source;
    }
    int d = nodes_[at].depth < 0 ? 0 : nodes_[at].depth;
    nodes_[at].depth = d;
    for (auto it = path.rbegin(); it != path.rend(); ++it) nodes_[*it].depth = ++d;
    return static_cast<std::size_t>(nodes_[x].depth);
  }

  RunStats collect(const std::vector<std::uint32_t>& requesters) {
    for (std::uint32_t x : requesters) {
      check(nodes_[x].fetching, "every requester fetches");
      stats_.max_depth = std::max(stats_.max_depth, depthOf(x));
    }
    for (std::uint32_t i = 0; i < nodes_.size(); ++i) {
      const Node& node = nodes_[i];
      check(!node.fetching || node.source != kNone, "every fetch ends");
      check(node.fetching || node.direct + node.children == 0, "only a fetching node serves");
      check(w_.alive[i] || !node.fetching, "a node that left does nothing");
      if (node.fetching && !node.wants) ++stats_.intermediates;
      stats_.max_streams = std::max<std::size_t>(stats_.max_streams, node.direct + node.children);
      stats_.max_connections = std::max<std::size_t>(stats_.max_connections, node.connections);
    }
    return stats_;
  }

  const World& w_;
  const std::size_t fanout_;
  const std::size_t max_connections_;
  Strategy strategy_ = Strategy::kStrict;
  std::vector<Node> nodes_;
  std::vector<std::uint32_t> skip_;          // plan()'s scratch
  std::vector<std::size_t> chain_;           // plan()'s scratch
  std::vector<std::vector<Event>> buckets_;  // events by whole latency units of time
  std::size_t current_ = 0;                  // the bucket being played
  std::uint64_t seq_ = 0;
  const std::size_t check_stride_;
  RunStats stats_;
};

}  // namespace pullcache::bench::sim
