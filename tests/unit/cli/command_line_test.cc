// The command-line grammar: what `pullcache <command> ...` accepts, refuses and prints for --help.
#include "daemon/cli/command_line.h"

#include <gtest/gtest.h>

namespace pullcache::cli {
namespace {

using Kind = ParseOutcome::Kind;

const CommandSpec& prefetchLike() {
  static const CommandSpec spec{"prefetch",
                                "pull images",
                                "",
                                {{"--config", "FILE", "the config", true},
                                 {"--image", "REF", "an image", false, true},
                                 {"--all-platforms", "", "every platform"}},
                                "IMAGE...",
                                1,
                                2};
  return spec;
}

ParseOutcome parse(std::vector<std::string> args) { return parseCommandLine(prefetchLike(), args); }

TEST(CommandLine, OptionsSwitchesAndPositionalInAnyOrder) {
  auto r = parse({"a:1", "--all-platforms", "--config", "c.yaml", "b:2"});
  ASSERT_EQ(r.kind, Kind::kRun) << r.error;
  EXPECT_EQ(r.args.value("--config"), "c.yaml");
  EXPECT_TRUE(r.args.has("--all-platforms"));
  EXPECT_FALSE(r.args.has("--image"));
  EXPECT_EQ(r.args.value("--image", "none"), "none");
  EXPECT_EQ(r.args.positional, (std::vector<std::string>{"a:1", "b:2"}));
}

TEST(CommandLine, EqualsFormRepeatableOptionsAndDoubleDash) {
  auto r = parse({"--config=c.yaml", "--image", "x", "--image=y", "--", "-odd-name"});
  ASSERT_EQ(r.kind, Kind::kRun) << r.error;
  EXPECT_EQ(r.args.value("--config"), "c.yaml");
  EXPECT_EQ(r.args.all("--image"), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(r.args.positional, (std::vector<std::string>{"-odd-name"}));
}

TEST(CommandLine, HelpAnywhereBeforeDoubleDash) {
  EXPECT_EQ(parse({"--help"}).kind, Kind::kHelp);
  EXPECT_EQ(parse({"-h"}).kind, Kind::kHelp);
  // A half-typed command line still gets help, not an error about what is missing.
  EXPECT_EQ(parse({"--config", "c.yaml", "--help"}).kind, Kind::kHelp);
  EXPECT_EQ(parse({"--bogus", "--help"}).kind, Kind::kHelp);
  auto after = parse({"--config", "c", "--", "--help"});
  EXPECT_EQ(after.kind, Kind::kRun) << after.error;
}

TEST(CommandLine, UsageErrorsSayWhatIsWrong) {
  auto expect = [](std::vector<std::string> args, const std::string& what) {
    auto r = parse(args);
    EXPECT_EQ(r.kind, Kind::kError) << what;
    EXPECT_NE(r.error.find(what), std::string::npos) << r.error;
  };
  expect({"--config", "c", "--frob", "a"}, "unknown option '--frob'");
  expect({"--config=c", "--frob=1", "a"}, "unknown option '--frob'");
  expect({"a", "--config"}, "--config needs a value (FILE)");
  expect({"--config", "c", "--config", "d", "a"}, "--config given twice");
  expect({"--config", "c", "--all-platforms", "--all-platforms", "a"}, "given twice");
  expect({"--config", "c", "--all-platforms=yes", "a"}, "--all-platforms takes no value");
  expect({"a"}, "--config FILE is required");
  expect({"--config", "c"}, "missing IMAGE...");
  expect({"--config", "c", "a", "b", "extra"}, "unexpected argument 'extra'");
}

TEST(CommandLine, SynopsisListsRequiredThenOptionalThenPositional) {
  EXPECT_EQ(commandSynopsis(prefetchLike()),
            "pullcache prefetch --config FILE [--image REF]... [--all-platforms] IMAGE...");
  // Wrapped under the command name when it is long.
  const std::string wrapped = commandSynopsis(prefetchLike(), 40);
  EXPECT_EQ(wrapped,
            "pullcache prefetch --config FILE\n"
            "                   [--image REF]...\n"
            "                   [--all-platforms]\n"
            "                   IMAGE...");
  const CommandSpec optional_arg{"help", "h", "", {}, "COMMAND", 0, 1};
  EXPECT_EQ(commandSynopsis(optional_arg), "pullcache help [COMMAND]");
}

TEST(CommandLine, HelpShowsEveryOptionAndTheFooter) {
  const std::string help = commandHelp(prefetchLike(), "exit codes: ...\n");
  EXPECT_TRUE(help.starts_with("usage: pullcache prefetch --config FILE")) << help;
  for (const char* s : {"pull images", "--config FILE", "the config (required)", "--image REF",
                        "(repeatable)", "--all-platforms", "-h, --help", "exit codes: ..."}) {
    EXPECT_NE(help.find(s), std::string::npos) << s << "\n" << help;
  }
  const CommandSpec* specs[] = {&prefetchLike()};
  const std::string all = programHelp(specs, "exit codes: ...\n");
  EXPECT_NE(all.find("  prefetch  pull images\n"), std::string::npos) << all;
  EXPECT_NE(all.find("pullcache prefetch --config FILE"), std::string::npos) << all;
}

}  // namespace
}  // namespace pullcache::cli
