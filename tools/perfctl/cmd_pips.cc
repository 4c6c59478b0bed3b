// pip open|goals|checkpoint|extend|close|show: performance improvement plans (Pips service,
// Views.ListPips).

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "perfledger/v1/ledger.grpc.pb.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "tools/perfctl/commands.h"
#include "tools/perfctl/parse.h"

namespace perfctl {
namespace {

namespace v1 = perfledger::v1;

struct PipFlags {
  std::string pip_id;
  std::string employee_id;
  std::string cycle_id;
  uint32_t length_days = 0;
  uint32_t every_days = 0;
  std::vector<std::string> goals;
  uint32_t progress_bp = 0;
  std::string notes;
  std::string until;
  std::string reason;
  std::string outcome;
  MetaFlags meta;
};

void AddOpen(CLI::App& pip, Session& session) {
  auto f = std::make_shared<PipFlags>();
  CLI::App* sub = pip.add_subcommand("open", "Open an improvement plan by hand (Pips.OpenPip)");
  sub->add_option("--pip-id", f->pip_id, "Plan id (default: generated, e.g. pip-20260131T...)");
  sub->add_option("--employee", f->employee_id, "Employee id")->required();
  sub->add_option("--cycle", f->cycle_id, "The cycle that led to the plan");
  sub->add_option("--days", f->length_days, "Length in days")->required();
  sub->add_option("--checkpoint-every", f->every_days, "Checkpoint cadence in days");
  sub->add_option("--goal", f->goals, "A goal of the employee the plan is judged by. Repeatable");
  AddMetaFlags(sub, &f->meta);
  sub->footer(Examples({"perfctl pip open --employee W13 --cycle 2026H1 --days 60 "
                        "--checkpoint-every 14 --goal G-W13-DEFECTS"}));
  sub->callback([&session, f] {
    session.Select(absl::StrCat("open a plan for ", f->employee_id), [&session, f]() -> absl::Status {
      v1::OpenPipRequest q;
      const std::string id = f->pip_id.empty() ? GenerateId("pip") : f->pip_id;
      PERFCTL_RETURN_IF_ERROR(ValidateId("--pip-id", id));
      PERFCTL_RETURN_IF_ERROR(ValidateId("--employee", f->employee_id));
      if (!f->cycle_id.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", f->cycle_id));
      q.set_pip_id(id);
      q.set_employee_id(f->employee_id);
      q.set_cycle_id(f->cycle_id);
      q.set_length_days(f->length_days);
      q.set_checkpoint_every_days(f->every_days);
      for (const auto& g : f->goals) {
        PERFCTL_RETURN_IF_ERROR(ValidateId("--goal", g));
        q.add_goal_ids(g);
      }
      PERFCTL_ASSIGN_OR_RETURN(*q.mutable_meta(), BuildMeta(f->meta));
      Extras extras;
      if (f->pip_id.empty()) extras.emplace_back("pip_id", id);
      return SendCommand<v1::Pips>(session, &v1::Pips::Stub::OpenPip, q, extras);
    });
  });
}

void AddGoals(CLI::App& pip, Session& session) {
  auto f = std::make_shared<PipFlags>();
  CLI::App* sub = pip.add_subcommand(
      "goals", "Set the plan's goals, replacing earlier ones (Pips.SetPipGoals)");
  sub->add_option("PIP_ID", f->pip_id, "Plan id")->required();
  sub->add_option("--goal", f->goals, "A goal of the plan's employee. Repeatable")->required();
  AddMetaFlags(sub, &f->meta);
  sub->footer(Examples({"perfctl pip goals pip-7 --goal G-W13-DEFECTS --goal G-W13-TRAINING"}));
  sub->callback([&session, f] {
    session.Select(absl::StrCat("set the goals of ", f->pip_id), [&session, f]() -> absl::Status {
      v1::SetPipGoalsRequest q;
      PERFCTL_RETURN_IF_ERROR(ValidateId("PIP_ID", f->pip_id));
      q.set_pip_id(f->pip_id);
      for (const auto& g : f->goals) {
        PERFCTL_RETURN_IF_ERROR(ValidateId("--goal", g));
        q.add_goal_ids(g);
      }
      PERFCTL_ASSIGN_OR_RETURN(*q.mutable_meta(), BuildMeta(f->meta));
      return SendCommand<v1::Pips>(session, &v1::Pips::Stub::SetPipGoals, q, Extras());
    });
  });
}

void AddCheckpoint(CLI::App& pip, Session& session) {
  auto f = std::make_shared<PipFlags>();
  CLI::App* sub = pip.add_subcommand(
      "checkpoint", "Record a checkpoint on an open plan (Pips.RecordPipCheckpoint)");
  sub->add_option("PIP_ID", f->pip_id, "Plan id")->required();
  sub->add_option("--progress-bp", f->progress_bp, "Progress towards the plan's goals, 0..10000")
      ->required()
      ->check(CLI::Range(0u, 10000u));
  sub->add_option("--notes", f->notes, "Notes of the conversation");
  AddMetaFlags(sub, &f->meta);
  sub->footer(Examples({"perfctl pip checkpoint pip-7 --progress-bp 4000 --notes 'rework down'"}));
  sub->callback([&session, f] {
    session.Select(absl::StrCat("checkpoint of ", f->pip_id), [&session, f]() -> absl::Status {
      v1::RecordPipCheckpointRequest q;
      PERFCTL_RETURN_IF_ERROR(ValidateId("PIP_ID", f->pip_id));
      q.set_pip_id(f->pip_id);
      q.set_progress_bp(f->progress_bp);
      q.set_notes(f->notes);
      PERFCTL_ASSIGN_OR_RETURN(*q.mutable_meta(), BuildMeta(f->meta));
      return SendCommand<v1::Pips>(session, &v1::Pips::Stub::RecordPipCheckpoint, q, Extras());
    });
  });
}

void AddExtend(CLI::App& pip, Session& session) {
  auto f = std::make_shared<PipFlags>();
  CLI::App* sub = pip.add_subcommand("extend", "Move the plan's end later (Pips.ExtendPip)");
  sub->add_option("PIP_ID", f->pip_id, "Plan id")->required();
  sub->add_option("--until", f->until, "The new end, RFC 3339")->required();
  sub->add_option("--reason", f->reason, "Why")->required();
  AddMetaFlags(sub, &f->meta);
  sub->footer(Examples(
      {"perfctl pip extend pip-7 --until 2026-10-31T17:00:00Z --reason 'sick leave in August'"}));
  sub->callback([&session, f] {
    session.Select(absl::StrCat("extend ", f->pip_id), [&session, f]() -> absl::Status {
      v1::ExtendPipRequest q;
      PERFCTL_RETURN_IF_ERROR(ValidateId("PIP_ID", f->pip_id));
      q.set_pip_id(f->pip_id);
      PERFCTL_ASSIGN_OR_RETURN(*q.mutable_new_deadline_at(), ParseTimestamp("--until", f->until));
      q.set_reason(f->reason);
      PERFCTL_ASSIGN_OR_RETURN(*q.mutable_meta(), BuildMeta(f->meta));
      return SendCommand<v1::Pips>(session, &v1::Pips::Stub::ExtendPip, q, Extras());
    });
  });
}

void AddClose(CLI::App& pip, Session& session) {
  auto f = std::make_shared<PipFlags>();
  CLI::App* sub = pip.add_subcommand(
      "close", "Close the plan as succeeded or failed; the policy's pip_outcomes follow "
               "(Pips.ClosePip)");
  sub->add_option("PIP_ID", f->pip_id, "Plan id")->required();
  sub->add_option("--outcome", f->outcome, "succeeded or failed")
      ->required()
      ->check(CLI::IsMember({"succeeded", "failed"}));
  sub->add_option("--notes", f->notes, "Notes");
  AddMetaFlags(sub, &f->meta);
  sub->footer(Examples({"perfctl pip close pip-7 --outcome failed --notes 'targets missed'"}));
  sub->callback([&session, f] {
    session.Select(absl::StrCat("close ", f->pip_id), [&session, f]() -> absl::Status {
      v1::ClosePipRequest q;
      PERFCTL_RETURN_IF_ERROR(ValidateId("PIP_ID", f->pip_id));
      q.set_pip_id(f->pip_id);
      q.set_outcome(f->outcome == "succeeded" ? v1::PIP_OUTCOME_SUCCEEDED : v1::PIP_OUTCOME_FAILED);
      q.set_notes(f->notes);
      PERFCTL_ASSIGN_OR_RETURN(*q.mutable_meta(), BuildMeta(f->meta));
      return SendCommand<v1::Pips>(session, &v1::Pips::Stub::ClosePip, q, Extras());
    });
  });
}

void AddShow(CLI::App& pip, Session& session) {
  auto f = std::make_shared<PipFlags>();
  CLI::App* sub = pip.add_subcommand(
      "show", "One plan: goals, checkpoints, next deadline, outcome (Views.ListPips)");
  sub->add_option("PIP_ID", f->pip_id, "Plan id")->required();
  sub->add_option("--employee", f->employee_id, "The plan's employee (narrows the search)");
  sub->footer(Examples({"perfctl pip show pip-7", "perfctl pip show pip-7 -o json"}));
  sub->callback([&session, f] {
    session.Select(absl::StrCat("show ", f->pip_id), [&session, f]() -> absl::Status {
      v1::ListPipsRequest q;
      PERFCTL_RETURN_IF_ERROR(ValidateId("PIP_ID", f->pip_id));
      if (!f->employee_id.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--employee", f->employee_id));
      q.set_pip_id(f->pip_id);
      q.set_employee_id(f->employee_id);
      // The server filters by plan id page by page: follow the pages until the plan turns up.
      v1::ListPipsResponse r;
      while (true) {
        PERFCTL_ASSIGN_OR_RETURN(r, (CallUnary<v1::Views>(session, &v1::Views::Stub::ListPips, q)));
        if (!r.plans().empty() || r.next_page_token().empty()) break;
        q.set_page_token(r.next_page_token());
      }
      if (r.plans().empty()) {
        return absl::NotFoundError(absl::StrCat("PIP_ID: plan ", f->pip_id, " not found"));
      }
      const v1::PipPlan& p = r.plans(0);
      if (session.format() == OutputFormat::kJson) {
        PrintJson(p);
        return absl::OkStatus();
      }
      std::vector<std::string> checkpoints;
      for (const auto& c : p.checkpoint_log()) {
        checkpoints.push_back(
            absl::StrCat(FormatTimestamp(c.occurred_at()), " ", Percent(c.progress_bp())));
      }
      PrintFields(std::cout,
                  {{"plan", p.pip_id()},
                   {"employee", p.employee_id()},
                   {"manager", p.manager_id()},
                   {"cycle", p.cycle_id().empty() ? "-" : p.cycle_id()},
                   {"status", EnumWord(v1::PipStatus_Name(p.status()), "PIP_STATUS_")},
                   {"cause", p.cause_action_id().empty() ? "opened by hand"
                                                         : p.cause_action_id()},
                   {"goals", p.goal_ids().empty() ? "-" : absl::StrJoin(p.goal_ids(), ", ")},
                   {"started", FormatTimestamp(p.starts_at())},
                   {"ends", FormatTimestamp(p.deadline_at())},
                   {"extensions", absl::StrCat(p.extensions())},
                   {"next checkpoint", p.has_next_checkpoint_due_at()
                                           ? FormatTimestamp(p.next_checkpoint_due_at())
                                           : "-"},
                   {"checkpoints", checkpoints.empty() ? "-" : absl::StrJoin(checkpoints, "; ")},
                   {"outcome", p.outcome() == v1::PIP_OUTCOME_UNSPECIFIED
                                   ? "-"
                                   : EnumWord(v1::PipOutcome_Name(p.outcome()), "PIP_OUTCOME_")}});
      return absl::OkStatus();
    });
  });
}

}  // namespace

void AddPipCommands(CLI::App& app, Session& session) {
  CLI::App* pip = app.add_subcommand("pip", "Run a performance improvement plan");
  pip->require_subcommand(1);
  AddOpen(*pip, session);
  AddGoals(*pip, session);
  AddCheckpoint(*pip, session);
  AddExtend(*pip, session);
  AddClose(*pip, session);
  AddShow(*pip, session);
}

}  // namespace perfctl
