#pragma once
// The command line of `pullcache <command> ...`: a command is described once (name, one-line
// summary, options, positional arguments) and that description both parses its arguments and
// writes its --help. Pure: no I/O, no globals; main.cc holds the table of commands and their
// runners, tests/unit/cli/command_line_test.cc the grammar:
//
//   --name VALUE and --name=VALUE     an option with a value (`value` set in its OptionSpec)
//   --name                            a switch
//   -h, --help                        anywhere (before `--`): that command's help
//   --                                the rest are positional, even when they start with '-'
//
// An unknown option, a missing value, a repeated single option, a missing required option and
// the wrong number of positional arguments are usage errors (exit code 2, kExitUsage).

#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pullcache::cli {

// The exit codes of every command (main.cc and the top-level usage repeat this table).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the command ran and failed (retrying may help)
inline constexpr int kExitUsage = 2;    // the command line is wrong
inline constexpr int kExitConfig = 3;   // the configuration file is invalid

struct OptionSpec {
  std::string_view name;   // "--config"
  std::string_view value;  // what the value is ("FILE"); empty for a switch
  std::string_view help;
  bool required = false;
  bool repeatable = false;
};

struct CommandSpec {
  std::string_view name;     // "prefetch"
  std::string_view summary;  // one line, for `pullcache --help`
  std::string_view details;  // paragraphs for `pullcache <command> --help`; may be empty
  std::vector<OptionSpec> options;
  std::string_view positional;  // "IMAGE..." or "FILE"; empty: none taken
  std::size_t min_positional = 0;
  std::size_t max_positional = 0;
};

struct ParsedArgs {
  std::map<std::string, std::vector<std::string>, std::less<>> values;  // options with values
  std::vector<std::string> switches;
  std::vector<std::string> positional;

  [[nodiscard]] bool has(std::string_view option) const;  // a switch, or an option given
  // The (last) value of an option; `fallback` when it was not given.
  [[nodiscard]] std::string value(std::string_view option, std::string fallback = {}) const;
  [[nodiscard]] std::vector<std::string> all(std::string_view option) const;
};

struct ParseOutcome {
  enum class Kind { kRun, kHelp, kError };
  Kind kind = Kind::kRun;
  ParsedArgs args;    // kRun
  std::string error;  // kError: what is wrong, for the user ("unknown option '--x'")
};

[[nodiscard]] ParseOutcome parseCommandLine(const CommandSpec& command,
                                            std::span<const std::string> args);

// "pullcache prefetch --config FILE [--all-platforms] IMAGE...", wrapped at `width` columns.
[[nodiscard]] std::string commandSynopsis(const CommandSpec& command, std::size_t width = 100);
// The whole `pullcache <command> --help` text: synopsis, details, options, `footer`.
[[nodiscard]] std::string commandHelp(const CommandSpec& command, std::string_view footer);
// `pullcache --help`: every command's synopsis and summary, then `footer`.
[[nodiscard]] std::string programHelp(std::span<const CommandSpec* const> commands,
                                      std::string_view footer);

}  // namespace pullcache::cli
