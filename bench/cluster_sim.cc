// The cluster simulation's runs and tables (the model: cluster_sim_model.h).
//
//   pullcache_cluster_sim [--nodes 100,1000,5000] [--blobs 200] [--fanout 4] [--seed 16]
//
// The output (Markdown) is the same on every run with the same arguments; the time taken goes to
// stderr.
#include "bench/cluster_sim_model.h"

using namespace pullcache;
using namespace pullcache::bench::sim;

namespace {

struct Scenario {
  std::string_view name;
  std::size_t (*count)(std::size_t n);
};
constexpr Scenario kScenarios[] = {
    {"all", [](std::size_t n) { return n; }},
    {"1%", [](std::size_t n) { return std::max<std::size_t>(1, n / 100); }},
    {"3", [](std::size_t n) { return std::min<std::size_t>(3, n); }},
};

struct Totals {
  std::size_t blobs = 0;
  std::size_t upstream = 0, upstream_max = 0;
  std::size_t max_streams = 0;
  std::size_t depth_max = 0, depth_sum = 0;
  std::size_t intermediates = 0, intermediates_max = 0;
  std::size_t refusals = 0, connect_failures = 0, gave_up = 0;
  std::size_t full = 0, max_connections = 0;

  void add(const RunStats& s) {
    ++blobs;
    upstream += s.upstream;
    upstream_max = std::max(upstream_max, s.upstream);
    max_streams = std::max(max_streams, s.max_streams);
    depth_max = std::max(depth_max, s.max_depth);
    depth_sum += s.max_depth;
    intermediates += s.intermediates;
    intermediates_max = std::max(intermediates_max, s.intermediates);
    refusals += s.refusals;
    connect_failures += s.connect_failures;
    gave_up += s.gave_up;
    full += s.full;
    max_connections = std::max(max_connections, s.max_connections);
  }
  [[nodiscard]] double mean(std::size_t sum) const {
    return static_cast<double>(sum) / static_cast<double>(blobs);
  }
};

// The level of the deepest rank of n members in a fanout-ary heap.
std::size_t treeHeight(std::size_t n, std::size_t fanout) {
  std::size_t h = 0;
  for (std::size_t r = n - 1; r != 0; r = peers::treeParent(r, fanout)) ++h;
  return h;
}

struct Row {
  std::size_t n;
  std::string_view scenario;
  std::size_t wanting;
  Strategy strategy;
  Totals t;
};

void checkRow(const Row& row, bool churn, std::size_t fanout, std::size_t max_connections) {
  const Totals& t = row.t;
  const std::string what = std::to_string(row.n) + " nodes, " + std::string(row.scenario) +
                           " wanting, " + std::string(strategyName(row.strategy)) +
                           (churn ? ", churn" : ", no churn") + ": ";
  if (max_connections == 0 || row.n <= max_connections)
    check(t.full == 0, what + "no connection refused below the limit");
  if (row.strategy == Strategy::kStrict)
    check(t.full == 0, what + "the strict tree never reaches the connection limit");
  if (churn) return;  // views that disagree: no bound but the ones checked for every blob
  check(t.upstream == t.blobs && t.upstream_max == 1, what + "one upstream fetch per blob");
  check(t.connect_failures == 0, what + "no connect failure");
  const std::size_t bound = row.strategy == Strategy::kStrict ? fanout : 2 * fanout;
  check(t.max_streams <= bound, what + "at most " + std::to_string(bound) +
                                    " streams of a blob from one node (saw " +
                                    std::to_string(t.max_streams) + ")");
  check(t.depth_max <= treeHeight(row.n, fanout), what + "no deeper than the tree");
  // A few nodes: each gets the blob from the root, the only node that stores it unasked.
  if (row.strategy != Strategy::kStrict && row.wanting <= fanout)
    check(t.intermediates_max <= 1 && t.depth_max <= 1, what + "no intermediate copy, one hop");
}

void printTable(const std::vector<Row>& rows) {
  std::printf(
      "| nodes | wanting | strategy | upstream fetches per blob: mean / max | most streams one "
      "node served for one blob | depth: max / mean of per-blob max | intermediate copies per "
      "blob: mean / max | 429s per blob | connect failures per blob |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows) {
    const Totals& t = r.t;
    std::printf("| %zu | %zu | %s | %.3f / %zu | %zu | %zu / %.2f | %.2f / %zu | %.1f | %.2f |\n",
                r.n, r.wanting, std::string(strategyName(r.strategy)).c_str(), t.mean(t.upstream),
                t.upstream_max, t.max_streams, t.depth_max, t.mean(t.depth_sum),
                t.mean(t.intermediates), t.intermediates_max, t.mean(t.refusals),
                t.mean(t.connect_failures));
  }
  std::string gave_up;
  for (const Row& r : rows)
    if (r.t.gave_up > 0)
      gave_up += (gave_up.empty() ? "" : "; ") + std::to_string(r.n) + " nodes, " +
                 std::to_string(r.wanting) + " wanting, " + std::string(strategyName(r.strategy)) +
                 ": " + std::to_string(r.t.gave_up) + " in " + std::to_string(r.t.blobs) + " blobs";
  if (!gave_up.empty())
    std::printf(
        "\nOf the upstream fetches, by a node that gave up after %d members did not answer: %s.\n",
        kMaxPeerFailures, gave_up.c_str());
}

struct Settings {
  std::vector<std::size_t> sizes;
  std::size_t blobs;
  std::size_t fanout;
  std::uint64_t seed;
  bool churn;
  std::size_t max_connections;  // 0: no limit
  bool herd_only;               // only the "all nodes want it" scenario
};

std::vector<Row> measure(const Settings& s) {
  std::vector<Row> rows;
  for (std::size_t n : s.sizes) {
    std::vector<Row> block;
    for (const Scenario& sc : kScenarios) {
      if (s.herd_only && sc.count(n) != n) continue;
      for (Strategy st : kStrategies) block.push_back(Row{n, sc.name, sc.count(n), st, {}});
    }
    for (std::size_t b = 0; b < s.blobs; ++b) {
      // Paired: every strategy and scenario (and table) sees the same blob, churn and arrivals.
      Rng rng(((s.seed * 1'000'003 + n) * 1'000'003 + b) * 2 + (s.churn ? 1 : 0));
      const World w = makeWorld(n, s.churn, rng);
      std::vector<std::uint32_t> arrival(n);
      for (std::uint32_t i = 0; i < n; ++i) arrival[i] = i;
      shuffle(arrival, rng);
      Herd herd(w, s.fanout, s.max_connections);
      std::vector<std::uint32_t> requesters;
      for (Row& row : block) {
        requesters.assign(arrival.begin(),
                          arrival.begin() + static_cast<std::ptrdiff_t>(row.wanting));
        row.t.add(herd.run(row.strategy, requesters));
      }
    }
    for (Row& row : block) {
      checkRow(row, s.churn, s.fanout, s.max_connections);
      rows.push_back(row);
    }
  }
  return rows;
}

void printCappedTable(const std::vector<Row>& rows) {
  std::printf(
      "| nodes | strategy | upstream fetches per blob: mean / max | most peers connected to one "
      "node | connections refused (503) per blob | depth: max / mean of per-blob max |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const Row& r : rows) {
    const Totals& t = r.t;
    std::printf("| %zu | %s | %.3f / %zu | %zu | %.1f | %zu / %.2f |\n", r.n,
                std::string(strategyName(r.strategy)).c_str(), t.mean(t.upstream), t.upstream_max,
                t.max_connections, t.mean(t.full), t.depth_max, t.mean(t.depth_sum));
  }
}

std::vector<std::size_t> parseList(const char* text) {
  std::vector<std::size_t> out;
  std::string_view s(text);
  while (!s.empty()) {
    const std::size_t comma = s.find(',');
    const std::string item(s.substr(0, comma));
    const long v = std::strtol(item.c_str(), nullptr, 10);
    if (v < 2) {
      std::fprintf(stderr, "cluster_sim: --nodes wants numbers >= 2, got '%s'\n", item.c_str());
      std::exit(2);
    }
    out.push_back(static_cast<std::size_t>(v));
    s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::size_t> sizes = {100, 1000, 5000};
  std::size_t blobs = 200;
  std::size_t fanout = 4;
  std::uint64_t seed = 16;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr,
                   "usage: pullcache_cluster_sim [--nodes 100,1000,5000] [--blobs 200] "
                   "[--fanout 4] [--seed 16]\n");
      return 2;
    }
    if (a == "--nodes") {
      sizes = parseList(argv[++i]);
    } else if (a == "--blobs") {
      blobs = static_cast<std::size_t>(std::max(1L, std::strtol(argv[++i], nullptr, 10)));
    } else if (a == "--fanout") {
      fanout = static_cast<std::size_t>(std::max(1L, std::strtol(argv[++i], nullptr, 10)));
    } else if (a == "--seed") {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "cluster_sim: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::printf(
      "fanout %zu, %zu random blobs per row (each a fresh churn draw and arrival order), seed "
      "%llu; churn: %.0f%% of members joined and %.0f%% left in the last refresh period, %.0f%% "
      "of members still see the previous view\n\n",
      fanout, blobs, static_cast<unsigned long long>(seed), kJoinFraction * 100,
      kLeaveFraction * 100, kStaleFraction * 100);
  const Settings churned{sizes, blobs, fanout, seed, true, 0, false};
  std::printf("With churn:\n\n");
  printTable(measure(churned));
  Settings same = churned;
  same.churn = false;
  std::printf("\nWithout churn (every view the same):\n\n");
  printTable(measure(same));
  Settings capped = churned;
  capped.max_connections = kMaxConnections;
  capped.herd_only = true;
  std::printf(
      "\nWith churn, all nodes wanting the blob, and the peer listener's limits.max_connections "
      "(%zu; a peer's connection stays open after a 200, in keep-alive, for the herd's "
      "duration, and a busy root's 429 closes it; past the limit the listener answers 503 and "
      "the asker goes to the upstream):\n\n",
      kMaxConnections);
  printCappedTable(measure(capped));
  std::fflush(stdout);  // the tables before the timing line, when both go to one file
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "cluster_sim: %zu of %zu plans checked against place(); %.1f s\n",
               g_place_checks, g_plans, secs);
  return 0;
}
