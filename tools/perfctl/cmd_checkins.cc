// checkin record.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "perfledger/v1/ledger.grpc.pb.h"
#include "tools/perfctl/commands.h"
#include "tools/perfctl/limits.h"
#include "tools/perfctl/parse.h"

namespace perfctl {
namespace {

namespace v1 = perfledger::v1;

struct RecordFlags {
  std::string check_in_id;
  std::string employee_id;
  std::string manager_id;
  std::string cycle_id;
  std::vector<std::string> progress;
  std::vector<std::string> blockers;
  std::string support;
  std::string notes;
  MetaFlags meta;
};

absl::StatusOr<v1::RecordCheckInRequest> BuildRecord(const RecordFlags& flags) {
  v1::RecordCheckInRequest request;
  // An id is generated only here, when the command runs, so --help never consumes randomness
  // and the id printed in the answer is the one that was sent.
  const std::string id = flags.check_in_id.empty() ? GenerateId("ci") : flags.check_in_id;
  PERFCTL_RETURN_IF_ERROR(ValidateId("--check-in-id", id));
  PERFCTL_RETURN_IF_ERROR(ValidateId("--employee", flags.employee_id));
  PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", flags.cycle_id));
  if (!flags.manager_id.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--manager", flags.manager_id));
  request.set_check_in_id(id);
  request.set_employee_id(flags.employee_id);
  request.set_manager_id(flags.manager_id);
  request.set_cycle_id(flags.cycle_id);
  if (flags.progress.size() > limits::kKeyResultsMax) {
    return UsageError(absl::StrCat("--goal-progress: at most ", limits::kKeyResultsMax));
  }
  for (const std::string& spec : flags.progress) {
    const std::vector<std::string> parts = SplitColon(spec, 3);
    const std::string field = absl::StrCat("--goal-progress '", spec, "'");
    if (parts.size() < 2) return UsageError(absl::StrCat(field, ": expected GOAL:BP[:COMMENT]"));
    v1::GoalProgress* progress = request.add_progress();
    PERFCTL_RETURN_IF_ERROR(ValidateId(field, parts[0]));
    progress->set_goal_id(parts[0]);
    PERFCTL_ASSIGN_OR_RETURN(uint32_t bp, ParseUint32(field, parts[1]));
    if (bp > 10000) return UsageError(absl::StrCat(field, ": progress is 0..10000 basis points"));
    progress->set_progress_bp(bp);
    if (parts.size() == 3) progress->set_comment(parts[2]);
  }
  for (const std::string& blocker : flags.blockers) request.add_blockers(blocker);
  request.set_support_requested(flags.support);
  request.set_notes(flags.notes);
  PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags.meta));
  return request;
}

void AddRecord(CLI::App& checkin, Session& session) {
  auto flags = std::make_shared<RecordFlags>();
  CLI::App* sub = checkin.add_subcommand("record", "Record a one-to-one check-in");
  sub->add_option("--check-in-id", flags->check_in_id,
                  "Check-in id (default: generated, e.g. ci-20260131T090000-3fa9c1)");
  sub->add_option("--employee", flags->employee_id, "Employee id")->required();
  sub->add_option("--cycle", flags->cycle_id, "Cycle id")->required();
  sub->add_option("--manager", flags->manager_id, "Manager id (default: the current manager)");
  sub->add_option("--goal-progress", flags->progress,
                  "GOAL:BP[:COMMENT], progress in basis points 0..10000. Repeatable");
  sub->add_option("--blocker", flags->blockers, "A blocker. Repeatable");
  sub->add_option("--support", flags->support, "Support requested");
  sub->add_option("--notes", flags->notes, "Notes");
  AddMetaFlags(sub, &flags->meta);
  sub->footer(Examples({"perfctl checkin record --employee E7 --cycle 2026H1 \\\n"
                        "      --goal-progress 'G-E7-DEFECTS:4500:new jig helps' "
                        "--blocker 'sensor drift on line 2' --notes 'on track'"}));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("record check-in of ", flags->employee_id),
                   [&session, flags]() -> absl::Status {
                     PERFCTL_ASSIGN_OR_RETURN(v1::RecordCheckInRequest request, BuildRecord(*flags));
                     Extras extras;
                     if (flags->check_in_id.empty()) {
                       extras.emplace_back("check_in_id", request.check_in_id());
                     }
                     return SendCommand<v1::CheckIns>(session, &v1::CheckIns::Stub::RecordCheckIn,
                                                      request, extras);
                   });
  });
}

}  // namespace

void AddCheckInCommands(CLI::App& app, Session& session) {
  CLI::App* checkin = app.add_subcommand("checkin", "Record check-ins");
  checkin->require_subcommand(1);
  AddRecord(*checkin, session);
}

}  // namespace perfctl
