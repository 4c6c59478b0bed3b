// praise give|feed and case nominate|consent|review|publish|withdraw|show: recognition and the
// case library (Recognition service, Views.GetRecognitionFeed / GetCase; docs/RECOGNITION.md).

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "perfledger/v1/ledger.grpc.pb.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "tools/perfctl/commands.h"
#include "tools/perfctl/parse.h"

namespace perfctl {
namespace {

namespace v1 = perfledger::v1;

// The server's page size cap (views.proto).
constexpr uint32_t kPageSizeMax = 1000;

absl::Status ValidateIds(const std::string& flag, const std::vector<std::string>& ids) {
  for (const auto& id : ids) PERFCTL_RETURN_IF_ERROR(ValidateId(flag, id));
  return absl::OkStatus();
}

// ---------------------------------------------------------------- praise

struct PraiseFlags {
  std::string praise_id;
  std::string giver;
  std::vector<std::string> recipients;
  std::vector<std::string> values;
  std::string message;
  std::string visibility = "public";
  std::string org_unit;
  uint32_t limit = 50;
  MetaFlags meta;
};

v1::PraiseVisibility Visibility(const std::string& word) {
  if (word == "private") return v1::PRAISE_VISIBILITY_PRIVATE;
  if (word == "manager-only") return v1::PRAISE_VISIBILITY_MANAGER_ONLY;
  return v1::PRAISE_VISIBILITY_PUBLIC;
}

void AddGive(CLI::App& praise, Session& session) {
  auto f = std::make_shared<PraiseFlags>();
  CLI::App* sub = praise.add_subcommand(
      "give", "Praise 1..6 people for company values (Recognition.GivePraise)");
  sub->add_option("--praise-id", f->praise_id, "Praise id (default: generated, e.g. pr-2026...)");
  sub->add_option("--from", f->giver, "The giver: the caller's own employee id")->required();
  sub->add_option("--to", f->recipients, "A person praised. Repeatable, 1..6")->required();
  sub->add_option("--value", f->values, "A company value tag, e.g. customer-first. Repeatable")
      ->required();
  sub->add_option("--message", f->message, "What they did (sealed in the log)")->required();
  sub->add_option("--visibility", f->visibility, "public, private or manager-only")
      ->check(CLI::IsMember({"public", "private", "manager-only"}));
  AddMetaFlags(sub, &f->meta);
  sub->footer(Examples({"perfctl praise give --from E1 --to E2 --to E7 --value customer-first "
                        "--message 'stayed late to ship the fix'",
                        "perfctl praise give --from E1 --to E2 --value ownership --message "
                        "'thanks' --visibility manager-only"}));
  sub->callback([&session, f] {
    session.Select(absl::StrCat("praise from ", f->giver), [&session, f]() -> absl::Status {
      v1::GivePraiseRequest q;
      const std::string id = f->praise_id.empty() ? GenerateId("pr") : f->praise_id;
      PERFCTL_RETURN_IF_ERROR(ValidateId("--praise-id", id));
      PERFCTL_RETURN_IF_ERROR(ValidateId("--from", f->giver));
      PERFCTL_RETURN_IF_ERROR(ValidateIds("--to", f->recipients));
      q.set_praise_id(id);
      q.set_giver_id(f->giver);
      for (const auto& r : f->recipients) q.add_recipient_ids(r);
      for (const auto& v : f->values) q.add_values(v);
      q.set_message(f->message);
      q.set_visibility(Visibility(f->visibility));
      PERFCTL_ASSIGN_OR_RETURN(*q.mutable_meta(), BuildMeta(f->meta));
      Extras extras;
      if (f->praise_id.empty()) extras.emplace_back("praise_id", id);
      return SendCommand<v1::Recognition>(session, &v1::Recognition::Stub::GivePraise, q, extras);
    });
  });
}

void AddFeed(CLI::App& praise, Session& session) {
  auto f = std::make_shared<PraiseFlags>();
  CLI::App* sub = praise.add_subcommand(
      "feed", "Praise and published cases in an org unit and below, newest first, as far as "
              "the caller may see them (Views.GetRecognitionFeed)");
  sub->add_option("ORG_UNIT", f->org_unit, "Org unit id")->required();
  sub->add_option("--limit", f->limit, "Items to show at most (default 50)")
      ->check(CLI::Range(1u, 100'000u));
  sub->footer(
      Examples({"perfctl praise feed ORG1", "perfctl praise feed ORG1 --limit 200 -o json"}));
  sub->callback([&session, f] {
    session.Select(absl::StrCat("the feed of ", f->org_unit), [&session, f]() -> absl::Status {
      PERFCTL_RETURN_IF_ERROR(ValidateId("ORG_UNIT", f->org_unit));
      v1::RecognitionFeedRequest q;
      q.set_org_unit_id(f->org_unit);
      v1::RecognitionFeedResponse all;
      do {
        q.set_page_size(std::min<uint32_t>(kPageSizeMax, f->limit - all.items_size()));
        PERFCTL_ASSIGN_OR_RETURN(
            v1::RecognitionFeedResponse page,
            (CallUnary<v1::Views>(session, &v1::Views::Stub::GetRecognitionFeed, q)));
        for (auto& item : *page.mutable_items()) *all.add_items() = std::move(item);
        q.set_page_token(page.next_page_token());
      } while (!q.page_token().empty() && static_cast<uint32_t>(all.items_size()) < f->limit);
      if (session.format() == OutputFormat::kJson) {
        PrintJson(all);
        return absl::OkStatus();
      }
      Table table({"when", "kind", "id", "from", "about", "visibility", "values", "text"});
      for (const auto& item : all.items()) {
        if (item.has_praise()) {
          const v1::PraiseEntry& p = item.praise();
          table.AddRow({FormatTimestamp(p.occurred_at()), "praise", p.praise_id(), p.giver_id(),
                        absl::StrJoin(p.recipient_ids(), ","),
                        EnumWord(v1::PraiseVisibility_Name(p.visibility()), "PRAISE_VISIBILITY_"),
                        absl::StrJoin(p.values(), ","), p.message()});
        } else {
          const v1::CaseFile& c = item.case_file();
          table.AddRow({FormatTimestamp(c.published_at()), "case", c.case_id(),
                        c.nominator_id().empty() ? "-" : c.nominator_id(),
                        absl::StrJoin(c.subject_ids(), ","), "public", "-", c.title()});
        }
      }
      table.Print(std::cout);
      return absl::OkStatus();
    });
  });
}

// ---------------------------------------------------------------- cases

struct CaseFlags {
  std::string case_id;
  std::vector<std::string> subjects;
  std::string subject;
  std::string title;
  std::string story;
  std::vector<std::string> goals;
  std::vector<std::string> key_results;
  std::vector<std::string> metric_events;
  std::vector<std::string> grade_events;
  std::vector<std::string> actions;
  bool withdraw = false;
  std::string decision;
  MetaFlags meta;
};

void AddNominate(CLI::App& cases, Session& session) {
  auto f = std::make_shared<CaseFlags>();
  CLI::App* sub = cases.add_subcommand(
      "nominate", "Nominate a case for the case library: a manager about their reports, or hr "
                  "(Recognition.NominateCase)");
  sub->add_option("--case-id", f->case_id, "Case id (default: generated, e.g. case-2026...)");
  sub->add_option("--subject", f->subjects, "A person the case is about. Repeatable")->required();
  sub->add_option("--title", f->title, "Title (sealed in the log)")->required();
  sub->add_option("--story", f->story, "What happened (sealed in the log)")->required();
  sub->add_option("--goal", f->goals, "Evidence: a goal id. Repeatable");
  sub->add_option("--key-result", f->key_results, "Evidence: GOAL:KEY_RESULT. Repeatable");
  sub->add_option("--metric-event", f->metric_events,
                  "Evidence: a metric observation's event id. Repeatable");
  sub->add_option("--grade-event", f->grade_events, "Evidence: a grade's event id. Repeatable");
  sub->add_option("--action", f->actions,
                  "Evidence: a training or promotion nomination action id (never pay). "
                  "Repeatable");
  AddMetaFlags(sub, &f->meta);
  sub->footer(Examples({"perfctl case nominate --subject W7 --subject W9 --title 'Zero-defect "
                        "quarter' --story '...' --goal G-LINE2 --key-result G-LINE2:KR1"}));
  sub->callback([&session, f] {
    session.Select("nominate a case", [&session, f]() -> absl::Status {
      v1::NominateCaseRequest q;
      const std::string id = f->case_id.empty() ? GenerateId("case") : f->case_id;
      PERFCTL_RETURN_IF_ERROR(ValidateId("--case-id", id));
      PERFCTL_RETURN_IF_ERROR(ValidateIds("--subject", f->subjects));
      PERFCTL_RETURN_IF_ERROR(ValidateIds("--goal", f->goals));
      PERFCTL_RETURN_IF_ERROR(ValidateIds("--metric-event", f->metric_events));
      PERFCTL_RETURN_IF_ERROR(ValidateIds("--grade-event", f->grade_events));
      PERFCTL_RETURN_IF_ERROR(ValidateIds("--action", f->actions));
      q.set_case_id(id);
      for (const auto& s : f->subjects) q.add_subject_ids(s);
      q.set_title(f->title);
      q.set_story(f->story);
      v1::CaseEvidence& ev = *q.mutable_evidence();
      for (const auto& g : f->goals) ev.add_goal_ids(g);
      for (const auto& kr : f->key_results) {
        const std::vector<std::string> parts = absl::StrSplit(kr, ':');
        if (parts.size() != 2) {
          return absl::InvalidArgumentError(
              absl::StrCat("--key-result: expected GOAL:KEY_RESULT, got '", kr, "'"));
        }
        PERFCTL_RETURN_IF_ERROR(ValidateId("--key-result", parts[0]));
        PERFCTL_RETURN_IF_ERROR(ValidateId("--key-result", parts[1]));
        auto* ref = ev.add_key_results();
        ref->set_goal_id(parts[0]);
        ref->set_key_result_id(parts[1]);
      }
      for (const auto& e : f->metric_events) ev.add_metric_event_ids(e);
      for (const auto& e : f->grade_events) ev.add_grade_event_ids(e);
      for (const auto& a : f->actions) ev.add_action_ids(a);
      PERFCTL_ASSIGN_OR_RETURN(*q.mutable_meta(), BuildMeta(f->meta));
      Extras extras;
      if (f->case_id.empty()) extras.emplace_back("case_id", id);
      return SendCommand<v1::Recognition>(session, &v1::Recognition::Stub::NominateCase, q,
                                          extras);
    });
  });
}

void AddConsent(CLI::App& cases, Session& session) {
  auto f = std::make_shared<CaseFlags>();
  CLI::App* sub = cases.add_subcommand(
      "consent", "A subject gives (or with --withdraw takes back) consent to publication "
                 "(Recognition.RecordCaseConsent)");
  sub->add_option("CASE_ID", f->case_id, "Case id")->required();
  sub->add_option("--subject", f->subject, "The subject: the caller's own employee id")
      ->required();
  sub->add_flag("--withdraw", f->withdraw,
                "Withdraw consent (a published case then leaves the library for good)");
  AddMetaFlags(sub, &f->meta);
  sub->footer(Examples({"perfctl case consent case-7 --subject W7",
                        "perfctl case consent case-7 --subject W7 --withdraw"}));
  sub->callback([&session, f] {
    session.Select(absl::StrCat("consent to ", f->case_id), [&session, f]() -> absl::Status {
      PERFCTL_RETURN_IF_ERROR(ValidateId("CASE_ID", f->case_id));
      PERFCTL_RETURN_IF_ERROR(ValidateId("--subject", f->subject));
      v1::RecordCaseConsentRequest q;
      q.set_case_id(f->case_id);
      q.set_subject_id(f->subject);
      q.set_consent(f->withdraw ? v1::CASE_CONSENT_WITHDRAWN : v1::CASE_CONSENT_GIVEN);
      PERFCTL_ASSIGN_OR_RETURN(*q.mutable_meta(), BuildMeta(f->meta));
      return SendCommand<v1::Recognition>(session, &v1::Recognition::Stub::RecordCaseConsent, q);
    });
  });
}

void AddReview(CLI::App& cases, Session& session) {
  auto f = std::make_shared<CaseFlags>();
  CLI::App* sub =
      cases.add_subcommand("review", "hr approves or rejects a case (Recognition.ReviewCase)");
  sub->add_option("CASE_ID", f->case_id, "Case id")->required();
  sub->add_option("--decision", f->decision, "approved or rejected")
      ->required()
      ->check(CLI::IsMember({"approved", "rejected"}));
  AddMetaFlags(sub, &f->meta);
  sub->footer(Examples({"perfctl case review case-7 --decision approved"}));
  sub->callback([&session, f] {
    session.Select(absl::StrCat("review ", f->case_id), [&session, f]() -> absl::Status {
      PERFCTL_RETURN_IF_ERROR(ValidateId("CASE_ID", f->case_id));
      v1::ReviewCaseRequest q;
      q.set_case_id(f->case_id);
      q.set_decision(f->decision == "approved" ? v1::CASE_REVIEW_DECISION_APPROVED
                                               : v1::CASE_REVIEW_DECISION_REJECTED);
      PERFCTL_ASSIGN_OR_RETURN(*q.mutable_meta(), BuildMeta(f->meta));
      return SendCommand<v1::Recognition>(session, &v1::Recognition::Stub::ReviewCase, q);
    });
  });
}

template <typename Request>
void AddCaseAction(CLI::App& cases, Session& session, const char* name, const char* help,
                   const char* example,
                   grpc::Status (v1::Recognition::Stub::*method)(grpc::ClientContext*,
                                                                 const Request&,
                                                                 v1::CommandResult*)) {
  auto f = std::make_shared<CaseFlags>();
  CLI::App* sub = cases.add_subcommand(name, help);
  sub->add_option("CASE_ID", f->case_id, "Case id")->required();
  AddMetaFlags(sub, &f->meta);
  sub->footer(Examples({example}));
  sub->callback([&session, f, name, method] {
    session.Select(absl::StrCat(name, " ", f->case_id), [&session, f, method]() -> absl::Status {
      PERFCTL_RETURN_IF_ERROR(ValidateId("CASE_ID", f->case_id));
      Request q;
      q.set_case_id(f->case_id);
      PERFCTL_ASSIGN_OR_RETURN(*q.mutable_meta(), BuildMeta(f->meta));
      return SendCommand<v1::Recognition>(session, method, q);
    });
  });
}

std::string Consents(const v1::CaseFile& c) {
  std::vector<std::string> out;
  for (const auto& k : c.consents()) {
    out.push_back(absl::StrCat(k.subject_id(), " ",
                               k.consent() == v1::CASE_CONSENT_UNSPECIFIED
                                   ? "pending"
                                   : EnumWord(v1::CaseConsent_Name(k.consent()), "CASE_CONSENT_")));
  }
  return absl::StrJoin(out, ", ");
}

std::string Evidence(const v1::CaseEvidence& e) {
  std::vector<std::string> out;
  for (const auto& g : e.goal_ids()) out.push_back(absl::StrCat("goal ", g));
  for (const auto& kr : e.key_results()) {
    out.push_back(absl::StrCat("key result ", kr.goal_id(), ":", kr.key_result_id()));
  }
  for (const auto& m : e.metric_event_ids()) out.push_back(absl::StrCat("metric event ", m));
  for (const auto& g : e.grade_event_ids()) out.push_back(absl::StrCat("grade event ", g));
  for (const auto& a : e.action_ids()) out.push_back(absl::StrCat("action ", a));
  return out.empty() ? "-" : absl::StrJoin(out, "; ");
}

std::string When(const google::protobuf::Timestamp& t) {
  return t.seconds() == 0 && t.nanos() == 0 ? "-" : FormatTimestamp(t);
}

void AddShow(CLI::App& cases, Session& session) {
  auto f = std::make_shared<CaseFlags>();
  CLI::App* sub = cases.add_subcommand(
      "show", "One case: subjects, consents, review, publication (Views.GetCase)");
  sub->add_option("CASE_ID", f->case_id, "Case id")->required();
  sub->footer(Examples({"perfctl case show case-7", "perfctl case show case-7 -o json"}));
  sub->callback([&session, f] {
    session.Select(absl::StrCat("show ", f->case_id), [&session, f]() -> absl::Status {
      PERFCTL_RETURN_IF_ERROR(ValidateId("CASE_ID", f->case_id));
      v1::GetCaseRequest q;
      q.set_case_id(f->case_id);
      PERFCTL_ASSIGN_OR_RETURN(v1::CaseFile c,
                               (CallUnary<v1::Views>(session, &v1::Views::Stub::GetCase, q)));
      if (session.format() == OutputFormat::kJson) {
        PrintJson(c);
        return absl::OkStatus();
      }
      std::string withdrawn = When(c.withdrawn_at());
      if (c.withdrawn_by() != v1::CASE_WITHDRAWN_BY_UNSPECIFIED) {
        absl::StrAppend(&withdrawn, " by ",
                        EnumWord(v1::CaseWithdrawnBy_Name(c.withdrawn_by()),
                                 "CASE_WITHDRAWN_BY_"),
                        c.withdrawn_subject_id().empty() ? "" : " " + c.withdrawn_subject_id());
      }
      PrintFields(std::cout,
                  {{"case", c.case_id()},
                   {"status", EnumWord(v1::CaseStatus_Name(c.status()), "CASE_STATUS_")},
                   {"title", c.title()},
                   {"subjects", absl::StrJoin(c.subject_ids(), ", ")},
                   {"nominated by", c.nominator_id().empty() ? "hr or admin" : c.nominator_id()},
                   {"nominated", When(c.nominated_at())},
                   {"consents", Consents(c)},
                   {"review", c.review() == v1::CASE_REVIEW_DECISION_UNSPECIFIED
                                  ? "pending"
                                  : absl::StrCat(EnumWord(v1::CaseReviewDecision_Name(c.review()),
                                                          "CASE_REVIEW_DECISION_"),
                                                 " ", When(c.reviewed_at()))},
                   {"published", When(c.published_at())},
                   {"withdrawn", withdrawn},
                   {"evidence", Evidence(c.evidence())},
                   {"story", c.story()}});
      return absl::OkStatus();
    });
  });
}

}  // namespace

void AddRecognitionCommands(CLI::App& app, Session& session) {
  CLI::App* praise = app.add_subcommand("praise", "Recognise colleagues; read the feed");
  praise->require_subcommand(1);
  AddGive(*praise, session);
  AddFeed(*praise, session);
  CLI::App* cases = app.add_subcommand("case", "The case library: nominate, consent, review, "
                                               "publish, withdraw, show");
  cases->require_subcommand(1);
  AddNominate(*cases, session);
  AddConsent(*cases, session);
  AddReview(*cases, session);
  AddCaseAction<v1::PublishCaseRequest>(
      *cases, session, "publish",
      "Publish a case every subject consented to and hr approved (Recognition.PublishCase)",
      "perfctl case publish case-7", &v1::Recognition::Stub::PublishCase);
  AddCaseAction<v1::WithdrawCaseRequest>(
      *cases, session, "withdraw",
      "Withdraw a case for good: the nominator, hr or admin (Recognition.WithdrawCase)",
      "perfctl case withdraw case-7", &v1::Recognition::Stub::WithdrawCase);
  AddShow(*cases, session);
}

}  // namespace perfctl
