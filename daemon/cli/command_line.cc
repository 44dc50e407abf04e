#include "daemon/cli/command_line.h"

#include <algorithm>
#include <optional>

namespace pullcache::cli {
namespace {

const OptionSpec* findOption(const CommandSpec& command, std::string_view name) {
  for (const auto& o : command.options) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

bool isHelp(std::string_view a) { return a == "--help" || a == "-h"; }

std::string optionText(const OptionSpec& o) {
  std::string s(o.name);
  if (!o.value.empty()) s += " " + std::string(o.value);
  return s;
}

// The synopsis words: required options, then [optional ones], then the positional arguments.
std::vector<std::string> synopsisWords(const CommandSpec& command) {
  std::vector<std::string> words;
  for (const auto& o : command.options) {
    if (o.required) words.push_back(optionText(o) + (o.repeatable ? "..." : ""));
  }
  for (const auto& o : command.options) {
    if (!o.required) words.push_back("[" + optionText(o) + "]" + (o.repeatable ? "..." : ""));
  }
  if (!command.positional.empty()) {
    words.push_back(command.min_positional == 0 ? "[" + std::string(command.positional) + "]"
                                                : std::string(command.positional));
  }
  return words;
}

}  // namespace

bool ParsedArgs::has(std::string_view option) const {
  return values.find(option) != values.end() ||
         std::find(switches.begin(), switches.end(), option) != switches.end();
}

std::string ParsedArgs::value(std::string_view option, std::string fallback) const {
  auto it = values.find(option);
  if (it == values.end() || it->second.empty()) return fallback;
  return it->second.back();
}

std::vector<std::string> ParsedArgs::all(std::string_view option) const {
  auto it = values.find(option);
  return it == values.end() ? std::vector<std::string>{} : it->second;
}

ParseOutcome parseCommandLine(const CommandSpec& command, std::span<const std::string> args) {
  ParseOutcome out;
  auto error = [&](std::string why) {
    out.kind = ParseOutcome::Kind::kError;
    out.error = std::move(why);
    out.args = {};
    return out;
  };
  // --help wins wherever it is (before `--`), so a half-typed command line still gets help.
  for (const auto& a : args) {
    if (a == "--") break;
    if (isHelp(a)) {
      out.kind = ParseOutcome::Kind::kHelp;
      return out;
    }
  }
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || !a.starts_with("-") || a == "-") {
      out.args.positional.push_back(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    std::string name = a;
    std::optional<std::string> inline_value;
    if (auto eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
      name = a.substr(0, eq);
      inline_value = a.substr(eq + 1);
    }
    const OptionSpec* o = findOption(command, name);
    if (o == nullptr) return error("unknown option '" + name + "'");
    if (o->value.empty()) {
      if (inline_value) return error(name + " takes no value");
      if (out.args.has(name)) return error(name + " given twice");
      out.args.switches.push_back(name);
      continue;
    }
    std::string v;
    if (inline_value) {
      v = *inline_value;
    } else if (i + 1 < args.size()) {
      v = args[++i];
    } else {
      return error(name + " needs a value (" + std::string(o->value) + ")");
    }
    auto& slot = out.args.values[name];
    if (!slot.empty() && !o->repeatable) return error(name + " given twice");
    slot.push_back(std::move(v));
  }
  for (const auto& o : command.options) {
    if (o.required && !out.args.has(o.name)) return error(optionText(o) + " is required");
  }
  const std::size_t n = out.args.positional.size();
  if (n < command.min_positional) {
    return error(command.positional.empty() ? std::string("missing arguments")
                                            : "missing " + std::string(command.positional));
  }
  if (n > command.max_positional) {
    const std::string& extra = out.args.positional[command.max_positional];
    return error("unexpected argument '" + extra + "'");
  }
  return out;
}

std::string commandSynopsis(const CommandSpec& command, std::size_t width) {
  const std::string head = "pullcache " + std::string(command.name);
  const std::string indent(head.size() + 1, ' ');
  std::string text = head;
  std::size_t line = text.size();
  for (const auto& w : synopsisWords(command)) {
    if (line + 1 + w.size() > width && line > indent.size()) {
      text += "\n" + indent + w;
      line = indent.size() + w.size();
    } else {
      text += " " + w;
      line += 1 + w.size();
    }
  }
  return text;
}

std::string commandHelp(const CommandSpec& command, std::string_view footer) {
  std::string text = "usage: " + commandSynopsis(command, 93) + "\n\n";
  text += std::string(command.summary) + "\n";
  if (!command.details.empty()) text += "\n" + std::string(command.details) + "\n";
  std::size_t column = std::string_view("-h, --help").size();
  for (const auto& o : command.options) column = std::max(column, optionText(o).size());
  text += "\noptions:\n";
  auto row = [&](const std::string& left, std::string_view help) {
    text += "  " + left + std::string(column + 2 - left.size(), ' ') + std::string(help) + "\n";
  };
  for (const auto& o : command.options) {
    std::string help(o.help);
    if (o.required) help += " (required)";
    if (o.repeatable) help += " (repeatable)";
    row(optionText(o), help);
  }
  row("-h, --help", "this help");
  if (!footer.empty()) text += "\n" + std::string(footer);
  return text;
}

std::string programHelp(std::span<const CommandSpec* const> commands, std::string_view footer) {
  std::string text =
      "usage: pullcache <command> [options]   (pullcache <command> --help: its options)\n\n";
  std::size_t column = 0;
  for (const auto* c : commands) column = std::max(column, c->name.size());
  for (const auto* c : commands) {
    text += "  " + std::string(c->name) + std::string(column + 2 - c->name.size(), ' ') +
            std::string(c->summary) + "\n";
  }
  text += "\n";
  for (const auto* c : commands) text += commandSynopsis(*c) + "\n";
  if (!footer.empty()) text += "\n" + std::string(footer);
  return text;
}

}  // namespace pullcache::cli
