// review acknowledge|dispute|resolve|disputes: the employee's side of a review (Reviews
// AcknowledgeGrade, RaiseDispute, ResolveDispute; Views.ListDisputes).

#include <iostream>
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

struct DisputeFlags {
  std::string dispute_id;
  std::string employee_id;
  std::string assignee_id;
  std::string cycle_id;
  std::string response;
  std::string comment;
  std::vector<std::string> dimensions;
  std::string grounds;
  std::string outcome;
  std::string reason;
  std::string status;
  bool hr_only = false;
  uint32_t limit = 0;
  MetaFlags meta;
};

void AddAcknowledge(CLI::App& review, Session& session) {
  auto f = std::make_shared<DisputeFlags>();
  CLI::App* sub = review.add_subcommand(
      "acknowledge", "Acknowledge a finalized grade: agree or disagree (Reviews.AcknowledgeGrade)");
  sub->add_option("--employee", f->employee_id, "Employee id")->required();
  sub->add_option("--cycle", f->cycle_id, "Cycle id")->required();
  sub->add_option("--response", f->response, "agree or disagree")
      ->required()
      ->check(CLI::IsMember({"agree", "disagree"}));
  sub->add_option("--comment", f->comment, "The employee's comment");
  AddMetaFlags(sub, &f->meta);
  sub->footer(Examples({"perfctl review acknowledge --employee E7 --cycle 2026H1 --response "
                        "disagree --comment 'the Q2 launch is missing'"}));
  sub->callback([&session, f] {
    session.Select(absl::StrCat("acknowledge the grade of ", f->employee_id),
                   [&session, f]() -> absl::Status {
                     v1::AcknowledgeGradeRequest q;
                     PERFCTL_RETURN_IF_ERROR(ValidateId("--employee", f->employee_id));
                     PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", f->cycle_id));
                     q.set_employee_id(f->employee_id);
                     q.set_cycle_id(f->cycle_id);
                     q.set_response(f->response == "agree"
                                        ? v1::ACKNOWLEDGEMENT_RESPONSE_AGREE
                                        : v1::ACKNOWLEDGEMENT_RESPONSE_DISAGREE);
                     q.set_comment(f->comment);
                     PERFCTL_ASSIGN_OR_RETURN(*q.mutable_meta(), BuildMeta(f->meta));
                     return SendCommand<v1::Reviews>(session,
                                                     &v1::Reviews::Stub::AcknowledgeGrade, q);
                   });
  });
}

void AddDispute(CLI::App& review, Session& session) {
  auto f = std::make_shared<DisputeFlags>();
  CLI::App* sub = review.add_subcommand(
      "dispute", "Dispute a finalized grade within the policy's window (Reviews.RaiseDispute)");
  sub->add_option("--dispute-id", f->dispute_id,
                  "Dispute id (default: generated, e.g. dsp-20260131T...)");
  sub->add_option("--employee", f->employee_id, "Employee id")->required();
  sub->add_option("--cycle", f->cycle_id, "Cycle id")->required();
  sub->add_option("--dimension", f->dimensions,
                  "A disputed dimension of the scores (or a grade input kind). Repeatable; "
                  "none: the grade as a whole");
  sub->add_option("--grounds", f->grounds, "Why the employee disputes the grade")->required();
  AddMetaFlags(sub, &f->meta);
  sub->footer(Examples({"perfctl review dispute --employee E7 --cycle 2026H1 --dimension "
                        "delivery --grounds 'the Q2 launch is missing'"}));
  sub->callback([&session, f] {
    session.Select(absl::StrCat("dispute the grade of ", f->employee_id),
                   [&session, f]() -> absl::Status {
                     v1::RaiseDisputeRequest q;
                     const std::string id =
                         f->dispute_id.empty() ? GenerateId("dsp") : f->dispute_id;
                     PERFCTL_RETURN_IF_ERROR(ValidateId("--dispute-id", id));
                     PERFCTL_RETURN_IF_ERROR(ValidateId("--employee", f->employee_id));
                     PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", f->cycle_id));
                     q.set_dispute_id(id);
                     q.set_employee_id(f->employee_id);
                     q.set_cycle_id(f->cycle_id);
                     for (const auto& d : f->dimensions) q.add_dimensions(d);
                     q.set_grounds(f->grounds);
                     PERFCTL_ASSIGN_OR_RETURN(*q.mutable_meta(), BuildMeta(f->meta));
                     Extras extras;
                     if (f->dispute_id.empty()) extras.emplace_back("dispute_id", id);
                     return SendCommand<v1::Reviews>(session, &v1::Reviews::Stub::RaiseDispute, q,
                                                     extras);
                   });
  });
}

void AddResolve(CLI::App& review, Session& session) {
  auto f = std::make_shared<DisputeFlags>();
  CLI::App* sub = review.add_subcommand(
      "resolve", "Resolve a dispute: upheld, partly upheld or rejected (Reviews.ResolveDispute). "
                 "A changed grade is recorded first: perfctl grade finalize --dispute ID");
  sub->add_option("DISPUTE_ID", f->dispute_id, "Dispute id")->required();
  sub->add_option("--outcome", f->outcome, "upheld, partly-upheld or rejected")
      ->required()
      ->check(CLI::IsMember({"upheld", "partly-upheld", "rejected"}));
  sub->add_option("--reason", f->reason, "Why")->required();
  AddMetaFlags(sub, &f->meta);
  sub->footer(Examples({"perfctl review resolve dsp-7 --outcome rejected --reason 'the launch "
                        "slipped to Q3'"}));
  sub->callback([&session, f] {
    session.Select(absl::StrCat("resolve ", f->dispute_id), [&session, f]() -> absl::Status {
      v1::ResolveDisputeRequest q;
      PERFCTL_RETURN_IF_ERROR(ValidateId("DISPUTE_ID", f->dispute_id));
      q.set_dispute_id(f->dispute_id);
      q.set_outcome(f->outcome == "upheld"          ? v1::DISPUTE_OUTCOME_UPHELD
                    : f->outcome == "partly-upheld" ? v1::DISPUTE_OUTCOME_PARTLY_UPHELD
                                                    : v1::DISPUTE_OUTCOME_REJECTED);
      q.set_reason(f->reason);
      PERFCTL_ASSIGN_OR_RETURN(*q.mutable_meta(), BuildMeta(f->meta));
      return SendCommand<v1::Reviews>(session, &v1::Reviews::Stub::ResolveDispute, q);
    });
  });
}

void AddList(CLI::App& review, Session& session) {
  auto f = std::make_shared<DisputeFlags>();
  CLI::App* sub =
      review.add_subcommand("disputes", "Disputes and their resolutions (Views.ListDisputes)");
  sub->add_option("--employee", f->employee_id, "Only this employee's");
  sub->add_option("--assignee", f->assignee_id, "Only those this person decides");
  sub->add_flag("--hr", f->hr_only, "Only those hr decides");
  sub->add_option("--cycle", f->cycle_id, "Only this cycle's");
  sub->add_option("--status", f->status, "open or resolved")
      ->check(CLI::IsMember({"open", "resolved"}));
  sub->add_option("--limit", f->limit, "At most N disputes (default: all)");
  sub->footer(Examples({"perfctl review disputes --status open --assignee M9",
                        "perfctl review disputes --employee E7 -o json"}));
  sub->callback([&session, f] {
    session.Select("list disputes", [&session, f]() -> absl::Status {
      v1::ListDisputesRequest q;
      if (!f->employee_id.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--employee", f->employee_id));
      if (!f->assignee_id.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--assignee", f->assignee_id));
      if (!f->cycle_id.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", f->cycle_id));
      q.set_employee_id(f->employee_id);
      q.set_assignee_id(f->assignee_id);
      q.set_hr_only(f->hr_only);
      q.set_cycle_id(f->cycle_id);
      if (!f->status.empty()) {
        q.set_status(f->status == "open" ? v1::DISPUTE_STATUS_OPEN : v1::DISPUTE_STATUS_RESOLVED);
      }
      // Filters other than the employee are applied while the server scans: a page may be
      // short, so follow the tokens.
      v1::ListDisputesResponse merged;
      while (true) {
        PERFCTL_ASSIGN_OR_RETURN(
            v1::ListDisputesResponse page,
            (CallUnary<v1::Views>(session, &v1::Views::Stub::ListDisputes, q)));
        for (auto& d : *page.mutable_disputes()) {
          if (f->limit > 0 && merged.disputes_size() >= static_cast<int>(f->limit)) break;
          *merged.add_disputes() = std::move(d);
        }
        const bool full = f->limit > 0 && merged.disputes_size() >= static_cast<int>(f->limit);
        if (page.next_page_token().empty() || full) {
          if (full) merged.set_next_page_token(page.next_page_token());
          break;
        }
        q.set_page_token(page.next_page_token());
      }
      if (session.format() == OutputFormat::kJson) {
        PrintJson(merged);
        return absl::OkStatus();
      }
      Table table({"DISPUTE_ID", "EMPLOYEE", "CYCLE", "GRADE", "STATUS", "ASSIGNEE",
                   "WINDOW_ENDS", "OUTCOME", "REGRADED_TO", "DIMENSIONS"});
      for (const v1::DisputeRow& d : merged.disputes()) {
        table.AddRow(
            {d.dispute_id(), d.employee_id(), d.cycle_id(), d.grade().empty() ? "-" : d.grade(),
             EnumWord(v1::DisputeStatus_Name(d.status()), "DISPUTE_STATUS_"),
             d.assigned_to() == v1::DISPUTE_ASSIGNEE_HR ? "hr" : d.assignee_id(),
             FormatTimestamp(d.window_ends_at()),
             d.outcome() == v1::DISPUTE_OUTCOME_UNSPECIFIED
                 ? "-"
                 : EnumWord(v1::DisputeOutcome_Name(d.outcome()), "DISPUTE_OUTCOME_"),
             d.regraded_to().empty() ? "-" : d.regraded_to(),
             d.dimensions().empty() ? "-" : absl::StrJoin(d.dimensions(), ",")});
      }
      if (!table.empty()) table.Print(std::cout);
      std::cout << merged.disputes_size() << " disputes"
                << (merged.next_page_token().empty() ? "" : " (more: raise --limit)") << '\n';
      return absl::OkStatus();
    });
  });
}

}  // namespace

void AddDisputeCommands(CLI::App& app, Session& session) {
  CLI::App* review = app.add_subcommand(
      "review", "The employee's side of a review: acknowledge, dispute, resolve, list");
  review->require_subcommand(1);
  AddAcknowledge(*review, session);
  AddDispute(*review, session);
  AddResolve(*review, session);
  AddList(*review, session);
}

}  // namespace perfctl
