// One registration function per command family; each adds its subcommands to the root app.
#ifndef PERFLEDGER_TOOLS_PERFCTL_COMMANDS_H_
#define PERFLEDGER_TOOLS_PERFCTL_COMMANDS_H_

#include <CLI/CLI.hpp>

#include "tools/perfctl/session.h"

namespace perfctl {

void AddLogCommands(CLI::App& app, Session& session);       // status, events read|follow
void AddImportCommands(CLI::App& app, Session& session);    // import employees|org-units
void AddPeopleCommands(CLI::App& app, Session& session);    // employee ..., org-unit define
void AddCycleCommands(CLI::App& app, Session& session);     // cycle open|close
void AddGoalCommands(CLI::App& app, Session& session);      // goal set|revise|progress|close
void AddCheckInCommands(CLI::App& app, Session& session);   // checkin record
void AddPipCommands(CLI::App& app, Session& session);       // pip open|goals|checkpoint|...
// praise give|feed, case nominate|consent|review|publish|withdraw|show
void AddRecognitionCommands(CLI::App& app, Session& session);
void AddMetricCommands(CLI::App& app, Session& session);    // metric record|import
void AddReviewCommands(CLI::App& app, Session& session);    // score, grade, calibrate, feedback
void AddDisputeCommands(CLI::App& app, Session& session);   // review acknowledge|dispute|...
// policy apply|show|list|diff, grade compute, deadlines fire, audit dry-run. After
// AddReviewCommands: `grade compute` joins its `grade` group.
void AddPolicyCommands(CLI::App& app, Session& session);
// ranking, distribution, timeline, checkins, goals tree, projections status|rebuild
void AddViewCommands(CLI::App& app, Session& session);
// audit verify|digest|prove|as-of|export, explain. After AddPolicyCommands (joins `audit`).
void AddAuditCommands(CLI::App& app, Session& session);
void AddScenarioCommands(CLI::App& app, Session& session);  // scenario load
void AddHookCommands(CLI::App& app, Session& session);      // hooks tail|ack|reject

}  // namespace perfctl

#endif  // PERFLEDGER_TOOLS_PERFCTL_COMMANDS_H_
