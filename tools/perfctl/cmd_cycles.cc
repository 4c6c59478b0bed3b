// cycle open|close.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "perfledger/v1/ledger.grpc.pb.h"
#include "tools/perfctl/commands.h"
#include "tools/perfctl/parse.h"

namespace perfctl {
namespace {

namespace v1 = perfledger::v1;

struct OpenFlags {
  std::string cycle_id;
  std::string name;
  std::string start;
  std::string end;
  std::string grades;
  MetaFlags meta;
};

absl::StatusOr<v1::OpenCycleRequest> BuildOpen(const OpenFlags& flags) {
  v1::OpenCycleRequest request;
  PERFCTL_RETURN_IF_ERROR(ValidateId("CYCLE_ID", flags.cycle_id));
  request.set_cycle_id(flags.cycle_id);
  request.set_name(flags.name);
  PERFCTL_ASSIGN_OR_RETURN(*request.mutable_period_start(), ParseTimestamp("--start", flags.start));
  PERFCTL_ASSIGN_OR_RETURN(*request.mutable_period_end(), ParseTimestamp("--end", flags.end));
  const auto& start = request.period_start();
  const auto& end = request.period_end();
  if (std::make_pair(end.seconds(), end.nanos()) <= std::make_pair(start.seconds(), start.nanos())) {
    return UsageError("--end: must be after --start");
  }
  if (!flags.grades.empty()) {
    for (absl::string_view grade : absl::StrSplit(flags.grades, ',')) {
      if (grade.empty()) return UsageError(absl::StrCat("--grades: empty grade in '", flags.grades, "'"));
      request.add_grades(std::string(grade));
    }
  }
  PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags.meta));
  return request;
}

void AddOpen(CLI::App& cycle, Session& session) {
  auto flags = std::make_shared<OpenFlags>();
  CLI::App* sub = cycle.add_subcommand("open", "Open a review cycle");
  sub->add_option("CYCLE_ID", flags->cycle_id, "Cycle id, e.g. 2026H1")->required();
  sub->add_option("--name", flags->name, "Display name")->required();
  sub->add_option("--start", flags->start, "Period start, RFC 3339 or YYYY-MM-DD")->required();
  sub->add_option("--end", flags->end, "Period end, RFC 3339 or YYYY-MM-DD")->required();
  sub->add_option("--grades", flags->grades, "Rating scale, best first (default: A,B,C,D)");
  AddMetaFlags(sub, &flags->meta);
  sub->footer(Examples({"perfctl cycle open 2026H1 --name 'First half 2026' --start 2026-01-01 "
                        "--end 2026-07-01",
                        "perfctl cycle open 2026Q3 --name Q3 --start 2026-07-01T00:00:00Z "
                        "--end 2026-10-01T00:00:00Z --grades S,A,B,C"}));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("open cycle ", flags->cycle_id), [&session, flags]() -> absl::Status {
      PERFCTL_ASSIGN_OR_RETURN(v1::OpenCycleRequest request, BuildOpen(*flags));
      return SendCommand<v1::Cycles>(session, &v1::Cycles::Stub::OpenCycle, request);
    });
  });
}

struct CloseFlags {
  std::string cycle_id;
  MetaFlags meta;
};

void AddClose(CLI::App& cycle, Session& session) {
  auto flags = std::make_shared<CloseFlags>();
  CLI::App* sub = cycle.add_subcommand("close", "Close a review cycle: no more scores or grades");
  sub->add_option("CYCLE_ID", flags->cycle_id, "Cycle id")->required();
  AddMetaFlags(sub, &flags->meta);
  sub->footer(Examples({"perfctl cycle close 2026H1"}));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("close cycle ", flags->cycle_id), [&session, flags]() -> absl::Status {
      v1::CloseCycleRequest request;
      PERFCTL_RETURN_IF_ERROR(ValidateId("CYCLE_ID", flags->cycle_id));
      request.set_cycle_id(flags->cycle_id);
      PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags->meta));
      return SendCommand<v1::Cycles>(session, &v1::Cycles::Stub::CloseCycle, request);
    });
  });
}

}  // namespace

void AddCycleCommands(CLI::App& app, Session& session) {
  CLI::App* cycle = app.add_subcommand("cycle", "Open or close review cycles");
  cycle->require_subcommand(1);
  AddOpen(*cycle, session);
  AddClose(*cycle, session);
}

}  // namespace perfctl
