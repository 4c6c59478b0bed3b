// score submit|amend, grade finalize, calibrate, feedback.

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "perfledger/v1/ledger.grpc.pb.h"
#include "tools/perfctl/commands.h"
#include "tools/perfctl/parse.h"

namespace perfctl {
namespace {

namespace v1 = perfledger::v1;

// --dim name=milli, repeatable; a dimension named twice is a typo, not an update.
absl::Status ParseDimensions(const std::vector<std::string>& specs,
                             google::protobuf::RepeatedPtrField<v1::DimensionScore>* out) {
  if (specs.empty()) return UsageError("--dim: give at least one name=score_milli");
  std::set<std::string> seen;
  for (const std::string& spec : specs) {
    const size_t eq = spec.find('=');
    const std::string field = absl::StrCat("--dim '", spec, "'");
    if (eq == std::string::npos || eq == 0) {
      return UsageError(absl::StrCat(field, ": expected name=score_milli"));
    }
    const std::string name = spec.substr(0, eq);
    if (!seen.insert(name).second) return UsageError(absl::StrCat(field, ": '", name, "' given twice"));
    v1::DimensionScore* score = out->Add();
    score->set_dimension(name);
    PERFCTL_ASSIGN_OR_RETURN(int64_t milli, ParseInt64(field, spec.substr(eq + 1)));
    score->set_score_milli(milli);
  }
  return absl::OkStatus();
}

struct SubmitFlags {
  std::string score_id;
  std::string employee_id;
  std::string cycle_id;
  std::string reviewer_id;
  std::string source;
  std::vector<std::string> dims;
  std::string comment;
  MetaFlags meta;
};

absl::StatusOr<v1::SubmitScoreRequest> BuildSubmit(const SubmitFlags& flags) {
  v1::SubmitScoreRequest request;
  const std::string id = flags.score_id.empty() ? GenerateId("sc") : flags.score_id;
  PERFCTL_RETURN_IF_ERROR(ValidateId("--score-id", id));
  PERFCTL_RETURN_IF_ERROR(ValidateId("--employee", flags.employee_id));
  PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", flags.cycle_id));
  PERFCTL_RETURN_IF_ERROR(ValidateId("--reviewer", flags.reviewer_id));
  request.set_score_id(id);
  request.set_employee_id(flags.employee_id);
  request.set_cycle_id(flags.cycle_id);
  request.set_reviewer_id(flags.reviewer_id);
  PERFCTL_ASSIGN_OR_RETURN(v1::ScoreSource source, ParseScoreSource("--source", flags.source));
  request.set_source(source);
  PERFCTL_RETURN_IF_ERROR(ParseDimensions(flags.dims, request.mutable_scores()));
  request.set_comment(flags.comment);
  PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags.meta));
  return request;
}

void AddScore(CLI::App& app, Session& session) {
  CLI::App* score = app.add_subcommand("score", "Submit or amend review scores");
  score->require_subcommand(1);

  auto submit = std::make_shared<SubmitFlags>();
  CLI::App* sub = score->add_subcommand("submit", "Submit a reviewer's scores, per dimension");
  sub->add_option("--score-id", submit->score_id,
                  "Score id (default: generated, e.g. sc-20260131T090000-3fa9c1)");
  sub->add_option("--employee", submit->employee_id, "Employee reviewed")->required();
  sub->add_option("--cycle", submit->cycle_id, "Cycle id")->required();
  sub->add_option("--reviewer", submit->reviewer_id, "Reviewer's employee id")->required();
  sub->add_option("--source", submit->source, "self, manager or peer")
      ->required()
      ->check(CLI::IsMember({"self", "manager", "peer"}));
  sub->add_option("--dim", submit->dims, "name=score_milli (3.5 = 3500). Repeatable")->required();
  sub->add_option("--comment", submit->comment, "Comment");
  AddMetaFlags(sub, &submit->meta);
  sub->footer(Examples({"perfctl score submit --employee E7 --cycle 2026H1 --reviewer E2 "
                        "--source manager \\\n      --dim quality=4200 --dim teamwork=3800 "
                        "--comment 'strong half'"}));
  sub->callback([&session, submit] {
    session.Select(absl::StrCat("submit score for ", submit->employee_id),
                   [&session, submit]() -> absl::Status {
                     PERFCTL_ASSIGN_OR_RETURN(v1::SubmitScoreRequest request, BuildSubmit(*submit));
                     Extras extras;
                     if (submit->score_id.empty()) extras.emplace_back("score_id", request.score_id());
                     return SendCommand<v1::Reviews>(session, &v1::Reviews::Stub::SubmitScore,
                                                     request, extras);
                   });
  });

  struct AmendFlags {
    std::string score_id;
    std::string employee_id;
    std::vector<std::string> dims;
    std::string reason;
    MetaFlags meta;
  };
  auto amend = std::make_shared<AmendFlags>();
  CLI::App* am = score->add_subcommand(
      "amend", "Correct a submitted score (the original stays in the log)");
  am->add_option("SCORE_ID", amend->score_id, "Score id")->required();
  am->add_option("--employee", amend->employee_id, "Employee reviewed")->required();
  am->add_option("--dim", amend->dims, "name=score_milli. Repeatable")->required();
  am->add_option("--reason", amend->reason, "Why the score changed")->required();
  AddMetaFlags(am, &amend->meta);
  am->footer(Examples({"perfctl score amend sc-20260131T090000-3fa9c1 --employee E7 "
                       "--dim quality=4000 --reason 'typo in quality'"}));
  am->callback([&session, amend] {
    session.Select(absl::StrCat("amend score ", amend->score_id), [&session, amend]() -> absl::Status {
      v1::AmendScoreRequest request;
      PERFCTL_RETURN_IF_ERROR(ValidateId("SCORE_ID", amend->score_id));
      PERFCTL_RETURN_IF_ERROR(ValidateId("--employee", amend->employee_id));
      request.set_score_id(amend->score_id);
      request.set_employee_id(amend->employee_id);
      PERFCTL_RETURN_IF_ERROR(ParseDimensions(amend->dims, request.mutable_scores()));
      request.set_reason(amend->reason);
      PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(amend->meta));
      return SendCommand<v1::Reviews>(session, &v1::Reviews::Stub::AmendScore, request);
    });
  });
}

struct GradeFlags {
  std::string employee_id;
  std::string cycle_id;
  std::string grade;
  int64_t score_milli = 0;
  std::string dispute_id;
  CLI::Option* score_option = nullptr;
  MetaFlags meta;
};

void AddGrade(CLI::App& app, Session& session) {
  CLI::App* grade = app.add_subcommand("grade", "Finalize grades");
  grade->require_subcommand(1);
  auto flags = std::make_shared<GradeFlags>();
  CLI::App* sub = grade->add_subcommand(
      "finalize", "Finalize an employee's grade for a cycle (computed by the policy, or explicit)");
  sub->add_option("--employee", flags->employee_id, "Employee id")->required();
  sub->add_option("--cycle", flags->cycle_id, "Cycle id")->required();
  auto* grade_option =
      sub->add_option("--grade", flags->grade, "Explicit grade from the cycle's scale, e.g. A");
  flags->score_option =
      sub->add_option("--score-milli", flags->score_milli, "Overall score; required with --grade");
  flags->score_option->needs(grade_option);
  grade_option->needs(flags->score_option);
  sub->add_option("--dispute", flags->dispute_id,
                  "The open dispute this grade corrects (then it cannot be rejected)");
  AddMetaFlags(sub, &flags->meta);
  sub->footer(Examples({"perfctl grade finalize --employee E7 --cycle 2026H1",
                        "perfctl grade finalize --employee E7 --cycle 2026H1 --grade B "
                        "--score-milli 3650"}));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("finalize grade of ", flags->employee_id, " in ", flags->cycle_id),
                   [&session, flags]() -> absl::Status {
                     v1::FinalizeGradeRequest request;
                     PERFCTL_RETURN_IF_ERROR(ValidateId("--employee", flags->employee_id));
                     PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", flags->cycle_id));
                     request.set_employee_id(flags->employee_id);
                     request.set_cycle_id(flags->cycle_id);
                     request.set_grade(flags->grade);
                     request.set_score_milli(flags->score_milli);
                     if (!flags->dispute_id.empty()) {
                       PERFCTL_RETURN_IF_ERROR(ValidateId("--dispute", flags->dispute_id));
                       request.set_dispute_id(flags->dispute_id);
                     }
                     PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags->meta));
                     return SendCommand<v1::Reviews>(session, &v1::Reviews::Stub::FinalizeGrade,
                                                     request);
                   });
  });
}

struct CalibrateFlags {
  std::string employee_id;
  std::string cycle_id;
  int64_t score_milli = 0;
  std::string reason;
  std::string committee;
  MetaFlags meta;
};

void AddCalibrate(CLI::App& app, Session& session) {
  auto flags = std::make_shared<CalibrateFlags>();
  CLI::App* sub = app.add_subcommand(
      "calibrate", "Record a calibration committee's adjusted overall score");
  sub->add_option("--employee", flags->employee_id, "Employee id")->required();
  sub->add_option("--cycle", flags->cycle_id, "Cycle id")->required();
  sub->add_option("--score-milli", flags->score_milli, "Calibrated overall score")->required();
  sub->add_option("--reason", flags->reason, "Why the committee moved the score")->required();
  sub->add_option("--committee", flags->committee, "Committee name");
  AddMetaFlags(sub, &flags->meta);
  sub->footer(Examples({"perfctl calibrate --employee E7 --cycle 2026H1 --score-milli 3900 "
                        "--reason 'peer evidence' --committee prod-2026H1"}));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("calibrate ", flags->employee_id, " in ", flags->cycle_id),
                   [&session, flags]() -> absl::Status {
                     v1::AdjustCalibrationRequest request;
                     PERFCTL_RETURN_IF_ERROR(ValidateId("--employee", flags->employee_id));
                     PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", flags->cycle_id));
                     request.set_employee_id(flags->employee_id);
                     request.set_cycle_id(flags->cycle_id);
                     request.set_calibrated_score_milli(flags->score_milli);
                     request.set_reason(flags->reason);
                     request.set_committee(flags->committee);
                     PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags->meta));
                     return SendCommand<v1::Reviews>(session, &v1::Reviews::Stub::AdjustCalibration,
                                                     request);
                   });
  });
}

struct FeedbackFlags {
  std::string employee_id;
  std::string cycle_id;
  std::string text;
  bool disputed = false;
  MetaFlags meta;
};

void AddFeedback(CLI::App& app, Session& session) {
  auto flags = std::make_shared<FeedbackFlags>();
  CLI::App* sub = app.add_subcommand("feedback", "Record an employee's response to their review");
  sub->add_option("--employee", flags->employee_id, "Employee id")->required();
  sub->add_option("--cycle", flags->cycle_id, "Cycle id")->required();
  sub->add_option("--text", flags->text, "The response")->required();
  sub->add_flag("--disputed", flags->disputed, "The employee disputes the review");
  AddMetaFlags(sub, &flags->meta);
  sub->footer(Examples({"perfctl feedback --employee E7 --cycle 2026H1 --text 'I disagree with "
                        "the quality score' --disputed"}));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("record feedback of ", flags->employee_id),
                   [&session, flags]() -> absl::Status {
                     v1::RecordFeedbackRequest request;
                     PERFCTL_RETURN_IF_ERROR(ValidateId("--employee", flags->employee_id));
                     PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", flags->cycle_id));
                     request.set_employee_id(flags->employee_id);
                     request.set_cycle_id(flags->cycle_id);
                     request.set_feedback(flags->text);
                     request.set_disputed(flags->disputed);
                     PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags->meta));
                     return SendCommand<v1::Reviews>(session, &v1::Reviews::Stub::RecordFeedback,
                                                     request);
                   });
  });
}

}  // namespace

void AddReviewCommands(CLI::App& app, Session& session) {
  AddScore(app, session);
  AddGrade(app, session);
  AddCalibrate(app, session);
  AddFeedback(app, session);
}

}  // namespace perfctl
