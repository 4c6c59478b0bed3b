// perfctl: the operator's command-line client of perfledgerd.
//
// main() only wires the command families together and maps the outcome to an exit code; each
// family lives in its own cmd_*.cc file.

#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "tools/perfctl/commands.h"
#include "tools/perfctl/session.h"
#include "tools/perfctl/status.h"

namespace {

// The first example of a leaf command's footer (with its continuation lines), or "".
std::string FirstExample(const std::string& footer) {
  const std::string marker = "Examples:\n";
  size_t start = footer.find(marker);
  if (start == std::string::npos) return "";
  start += marker.size();
  size_t end = start;
  // An example continues while its line ends with a backslash.
  while (true) {
    size_t newline = footer.find('\n', end);
    if (newline == std::string::npos) return footer.substr(start);
    const bool continued = newline > 0 && footer[newline - 1] == '\\';
    end = newline + 1;
    if (!continued) return footer.substr(start, newline - start);
  }
}

// Group commands (goal, events, import, ...) get their children's first examples, so that
// --help at every level shows how a command line looks.
void AddGroupFooters(CLI::App* app, const std::string& path) {
  for (CLI::App* sub : app->get_subcommands({})) {
    const std::string sub_path = path + " " + sub->get_name();
    if (sub->get_subcommands({}).empty()) continue;
    AddGroupFooters(sub, sub_path);
    std::string footer = "\nExamples:";
    for (CLI::App* leaf : sub->get_subcommands({})) {
      const std::string example = FirstExample(leaf->get_footer());
      if (!example.empty()) footer += "\n" + example;
    }
    footer += "\nRun '" + sub_path + " SUBCOMMAND --help' for all flags.";
    sub->footer(footer);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("perfctl: operate a perfledger server (import, record, inspect the log)", "perfctl");
  // Global flags (--server, --output, ...) are accepted after a subcommand too.
  app.fallthrough();
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Print help for every subcommand");
  app.get_formatter()->column_width(34);

  perfctl::Session session(&app);
  perfctl::AddLogCommands(app, session);
  perfctl::AddImportCommands(app, session);
  perfctl::AddPeopleCommands(app, session);
  perfctl::AddCycleCommands(app, session);
  perfctl::AddGoalCommands(app, session);
  perfctl::AddCheckInCommands(app, session);
  perfctl::AddPipCommands(app, session);
  perfctl::AddRecognitionCommands(app, session);
  perfctl::AddMetricCommands(app, session);
  perfctl::AddReviewCommands(app, session);
  perfctl::AddDisputeCommands(app, session);
  perfctl::AddPolicyCommands(app, session);  // after Reviews: adds `grade compute`
  perfctl::AddViewCommands(app, session);
  perfctl::AddAuditCommands(app, session);  // after Policy: joins its `audit` group
  perfctl::AddScenarioCommands(app, session);
  perfctl::AddHookCommands(app, session);
  AddGroupFooters(&app, "perfctl");
  // Set last: subcommands copy their parent's footer when created.
  app.footer(
      "\nExit codes: 0 ok, 1 the server refused the request (or rows were rejected),"
      "\n  2 usage error (flags, arguments, input files), 3 server unreachable or no answer in time."
      "\nEnvironment: PERFLEDGER_SERVER, PERFLEDGER_TOKEN."
      "\nRun 'perfctl SUBCOMMAND --help' for a subcommand's flags and examples.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11's own report spans two lines; the contract is one. Its message for a mistyped
    // command ("A subcommand is required") hides the typo, so name it.
    std::string message = e.what();
    const CLI::App* deepest = &app;
    while (!deepest->get_subcommands().empty()) deepest = deepest->get_subcommands().front();
    // With fallthrough, a stray word ends up with whichever ancestor kept it.
    std::vector<std::string> extras;
    for (const CLI::App* a = deepest; a != nullptr && extras.empty(); a = a->get_parent()) {
      extras = a->remaining();
    }
    if (!extras.empty() && !extras.front().empty() && extras.front()[0] != '-' &&
        deepest->get_require_subcommand_min() > 0) {
      message = "unknown command '" + extras.front() + "'";
    }
    std::cerr << "perfctl: " << message << " (see --help)" << std::endl;
    return static_cast<int>(perfctl::ExitCode::kUsage);
  }
  if (!session.selected()) {
    std::cerr << "perfctl: no command given (see --help)" << std::endl;
    return static_cast<int>(perfctl::ExitCode::kUsage);
  }
  return session.Run();
}
