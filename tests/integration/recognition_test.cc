// Recognition and the case library through the real server: praise to six people and not
// seven, the giver's rolling rate, the feed each role sees (private and manager-only items
// only for those allowed), a case that cannot be published without every consent and hr's
// approval, withdrawn cases leaving the feed, and evidence about compensation refused. Bad
// input names the field and writes nothing.
#include "tests/integration/helpers.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ledger/limits.h"
#include "ledger/types.h"
#include "perfledger/v1/policies.grpc.pb.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace perfledger::testing {
namespace {

constexpr char kTokens[] = R"(admin-token   alice   admin
hr-token      hank    hr
hr3-token     hilda   hr       -   ORG3
payroll-token paula   payroll
emp-token     eve     employee E1
emp2-token    eric    employee E2
mgr-token     mike    manager  M1
mgr2-token    mona    manager  M2
)";

struct Recognition {
  TempDir dir{"recognition"};
  std::unique_ptr<TestServer> server;
  std::unique_ptr<v1::Views::Stub> views;

  Recognition() {
    TestServerOptions options;
    options.tokens_file = dir.WriteFile("tokens.txt", kTokens);
    options.default_token = "admin-token";
    server = std::make_unique<TestServer>(options);
    views = v1::Views::NewStub(server->NewChannel());
    SeedFixture(*server);
    SeedSecondLine(*server);
  }

  TestServer& s() { return *server; }

  v1::CommandResult Praise(const v1::GivePraiseRequest& q, const std::string& token = "") {
    return MustOk(s().Call(s().recognition(), &v1::Recognition::Stub::GivePraise, q, token),
                  "praise " + q.praise_id());
  }

  // The feed of `unit` as `token` sees it, once the views applied the whole log.
  v1::RecognitionFeedResponse Feed(const std::string& unit, const std::string& token,
                                   uint32_t page_size = 0, const std::string& page_token = "") {
    WaitForViews();
    v1::RecognitionFeedRequest q;
    q.set_org_unit_id(unit);
    q.set_page_size(page_size);
    q.set_page_token(page_token);
    return MustOk(s().Call(*views, &v1::Views::Stub::GetRecognitionFeed, q, token), "feed");
  }

  Reply<v1::CaseFile> Case(const std::string& case_id, const std::string& token) {
    WaitForViews();
    v1::GetCaseRequest q;
    q.set_case_id(case_id);
    return s().Call(*views, &v1::Views::Stub::GetCase, q, token);
  }

  void WaitForViews() {
    const uint64_t end = s().LogEnd();
    REQUIRE(WaitUntil([&] {
      auto st = s().Call(*views, &v1::Views::Stub::GetProjectionStatus,
                         v1::ProjectionStatusRequest());
      uint64_t applied = 0;
      for (const auto& p : st.response.applied()) applied += p.offset();
      return applied >= end;
    }));
  }

  // Waits until the log stops growing (the policy reactor's actions included) and the views
  // applied it.
  void Settle() {
    uint64_t end = s().LogEnd();
    for (int quiet = 0, i = 0; quiet < 3 && i < 500; i++) {
      WaitForViews();
      absl::SleepFor(absl::Milliseconds(20));
      const uint64_t now = s().LogEnd();
      quiet = now == end ? quiet + 1 : 0;
      end = now;
    }
  }

  Reply<v1::CommandResult> Publish(const std::string& case_id, const std::string& token) {
    v1::PublishCaseRequest q;
    q.set_case_id(case_id);
    return s().Call(s().recognition(), &v1::Recognition::Stub::PublishCase, q, token);
  }

  Reply<v1::CommandResult> Review(const std::string& case_id, v1::CaseReviewDecision decision,
                                  const std::string& token = "hr-token") {
    v1::ReviewCaseRequest q;
    q.set_case_id(case_id);
    q.set_decision(decision);
    return s().Call(s().recognition(), &v1::Recognition::Stub::ReviewCase, q, token);
  }
};

// The ids of a feed page's items, in order.
std::vector<std::string> Ids(const v1::RecognitionFeedResponse& feed) {
  std::vector<std::string> out;
  for (const auto& item : feed.items()) {
    out.push_back(item.has_praise() ? item.praise().praise_id() : item.case_file().case_id());
  }
  return out;
}

std::set<std::string> IdSet(const v1::RecognitionFeedResponse& feed) {
  const auto ids = Ids(feed);
  return {ids.begin(), ids.end()};
}

TEST_CASE("recognition: praise to six people and not seven, bad input names the field",
          "[recognition]") {
  Recognition r;
  TestServer& s = r.s();
  std::vector<std::string> six = {fx::kManager, fx::kEmployee2};
  for (int i = 4; i <= 8; i++) {
    const std::string id = absl::StrCat("E", i);
    MustOk(s.Call(s.people(), &v1::People::Stub::RegisterEmployee, RegisterEmployeeReq(id)), id);
    if (six.size() < 6) six.push_back(id);
  }
  REQUIRE(six.size() == limits::kPraiseRecipientsMax);
  r.Praise(PraiseReq("P-SIX", fx::kEmployee, six), "emp-token");

  const uint64_t end = s.LogEnd();
  std::vector<std::string> seven = six;
  seven.push_back("E8");
  auto call = [&](const v1::GivePraiseRequest& q, const std::string& token = "emp-token") {
    return s.Call(s.recognition(), &v1::Recognition::Stub::GivePraise, q, token);
  };
  RequireError(call(PraiseReq("P-SEVEN", fx::kEmployee, seven)),
               grpc::StatusCode::RESOURCE_EXHAUSTED, "recipient_ids");
  RequireError(call(PraiseReq("P-SELF", fx::kEmployee, {fx::kEmployee2, fx::kEmployee})),
               grpc::StatusCode::INVALID_ARGUMENT, "recipient_ids[1]");
  RequireError(call(PraiseReq("P-UNKNOWN", fx::kEmployee, {fx::kEmployee2, "E2", "E99"})),
               grpc::StatusCode::INVALID_ARGUMENT, "recipient_ids[1]");
  RequireError(call(PraiseReq("P-UNKNOWN", fx::kEmployee, {fx::kEmployee2, fx::kManager, "E99"})),
               grpc::StatusCode::NOT_FOUND, "recipient_ids[2]");
  RequireError(call(PraiseReq("P-NONE", fx::kEmployee, {})), grpc::StatusCode::INVALID_ARGUMENT,
               "recipient_ids");
  auto bad_value = PraiseReq("P-VALUE", fx::kEmployee, {fx::kEmployee2});
  bad_value.add_values("Customer First!");
  RequireError(call(bad_value), grpc::StatusCode::INVALID_ARGUMENT, "values[1]");
  auto no_message = PraiseReq("P-MESSAGE", fx::kEmployee, {fx::kEmployee2});
  no_message.clear_message();
  RequireError(call(no_message), grpc::StatusCode::INVALID_ARGUMENT, "message");
  auto no_visibility = PraiseReq("P-VIS", fx::kEmployee, {fx::kEmployee2});
  no_visibility.clear_visibility();
  RequireError(call(no_visibility), grpc::StatusCode::INVALID_ARGUMENT, "visibility");
  RequireError(call(PraiseReq("P-SIX", fx::kEmployee, {fx::kEmployee2})),
               grpc::StatusCode::ALREADY_EXISTS, "praise_id");
  // The giver is the caller: eve cannot praise in E2's name; payroll praises nobody.
  RequireError(call(PraiseReq("P-AS", fx::kEmployee2, {fx::kManager})),
               grpc::StatusCode::PERMISSION_DENIED, "giver_id");
  RequireError(call(PraiseReq("P-PAY", fx::kEmployee2, {fx::kManager}), "payroll-token"),
               grpc::StatusCode::PERMISSION_DENIED, "ROLE_PAYROLL");
  CHECK(s.LogEnd() == end);

  // The message is sealed in the log; the ledger's reactor decides nothing about praise.
  const auto events = s.ReadAllEvents();
  const auto praise = EventsOfType(events, "PraiseGiven");
  REQUIRE(praise.size() == 1);
  CHECK(praise[0].envelope().has_sealed());
  CHECK(praise[0].envelope().sealed().subject() == fx::kEmployee);
  r.WaitForViews();
  CHECK(EventsOfType(s.ReadAllEvents(), "ActionTriggered").empty());
  CHECK(s.ReadAllEvents().size() == events.size());
}

TEST_CASE("recognition: each giver's praise is limited per rolling 24 h of receive time",
          "[recognition]") {
  Recognition r;
  TestServer& s = r.s();
  for (uint32_t i = 0; i < limits::kPraisePerGiverPerDayMax; i++) {
    auto q = PraiseReq(absl::StrCat("RATE-", i), fx::kEmployee2, {fx::kEmployee});
    r.Praise(q, "emp2-token");
  }
  const uint64_t end = s.LogEnd();
  auto over = PraiseReq("RATE-OVER", fx::kEmployee2, {fx::kEmployee});
  RequireError(s.Call(s.recognition(), &v1::Recognition::Stub::GivePraise, over, "emp2-token"),
               grpc::StatusCode::RESOURCE_EXHAUSTED, "kPraisePerGiverPerDayMax");
  // A business time two days back does not escape the limit: receive time counts.
  *over.mutable_meta()->mutable_occurred_at() = ToTimestamp(absl::Now() - absl::Hours(48));
  RequireError(s.Call(s.recognition(), &v1::Recognition::Stub::GivePraise, over, "emp2-token"),
               grpc::StatusCode::RESOURCE_EXHAUSTED, "giver_id");
  // Nor does hr acting for the same giver.
  RequireError(s.Call(s.recognition(), &v1::Recognition::Stub::GivePraise, over, "hr-token"),
               grpc::StatusCode::RESOURCE_EXHAUSTED, "giver_id");
  CHECK(s.LogEnd() == end);
  // Another giver has their own budget.
  r.Praise(PraiseReq("RATE-OTHER", fx::kEmployee, {fx::kEmployee2}), "emp-token");
}

TEST_CASE("recognition: the feed shows each caller what it may see, newest first",
          "[recognition]") {
  Recognition r;
  TestServer& s = r.s();
  int64_t t = 1'780'000'000;
  auto give = [&](const std::string& id, const std::string& giver, const std::string& to,
                  v1::PraiseVisibility visibility) {
    auto q = PraiseReq(id, giver, {to}, visibility);
    *q.mutable_meta()->mutable_occurred_at() = Ts(t++);
    r.Praise(q);  // admin, for the giver
  };
  give("A-PUB", "E1", "E2", v1::PRAISE_VISIBILITY_PUBLIC);
  give("B-PRIV", "E1", "E2", v1::PRAISE_VISIBILITY_PRIVATE);
  give("C-MGR", "E2", "E1", v1::PRAISE_VISIBILITY_MANAGER_ONLY);
  give("D-E3", "M2", "E3", v1::PRAISE_VISIBILITY_PUBLIC);
  give("E-E3PRIV", "E1", "E3", v1::PRAISE_VISIBILITY_PRIVATE);
  give("F-E3MGR", "E1", "E3", v1::PRAISE_VISIBILITY_MANAGER_ONLY);

  // ORG3 lies under ORG1: its items are in ORG1's feed too. Newest first.
  const auto all = r.Feed(fx::kOrg, "admin-token");
  CHECK(Ids(all) == std::vector<std::string>{"F-E3MGR", "E-E3PRIV", "D-E3", "C-MGR", "B-PRIV",
                                             "A-PUB"});
  using Set = std::set<std::string>;
  CHECK(IdSet(r.Feed(fx::kOrg, "hr-token")) == IdSet(all));
  // A recipient sees what they were given, public items of their units, nothing private of
  // others; a manager also what is about their reports (manager-only), never private praise.
  CHECK(IdSet(r.Feed(fx::kOrg, "emp2-token")) == Set{"A-PUB", "B-PRIV", "C-MGR", "D-E3"});
  CHECK(IdSet(r.Feed(fx::kOrg, "mgr-token")) == Set{"A-PUB", "C-MGR", "D-E3"});
  CHECK(IdSet(r.Feed(fx::kOrg, "mgr2-token")) == Set{"A-PUB", "D-E3", "F-E3MGR"});
  CHECK(IdSet(r.Feed(fx::kOrg, "hr3-token")) == Set{"D-E3", "E-E3PRIV", "F-E3MGR"});
  CHECK(IdSet(r.Feed("ORG3", "admin-token")) == Set{"D-E3", "E-E3PRIV", "F-E3MGR"});
  CHECK(IdSet(r.Feed("ORG3", "emp2-token")) == Set{"D-E3"});
  CHECK(IdSet(r.Feed("ORG3", "mgr2-token")) == Set{"D-E3", "F-E3MGR"});
  CHECK(r.Feed(fx::kSubOrg, "admin-token").items().empty());

  // Messages are opened for those who see the item.
  const auto seen_by_manager = r.Feed(fx::kOrg, "mgr-token");
  for (const auto& item : seen_by_manager.items()) {
    REQUIRE(item.has_praise());
    CHECK(item.praise().message() ==
          absl::StrCat("Thank you for the night shift, from ", item.praise().giver_id()));
    CHECK_FALSE(item.praise().has_sealed());
  }

  // Pages follow the same order.
  const auto first = r.Feed(fx::kOrg, "admin-token", 4);
  REQUIRE(first.items_size() == 4);
  REQUIRE_FALSE(first.next_page_token().empty());
  const auto second = r.Feed(fx::kOrg, "admin-token", 4, first.next_page_token());
  CHECK(Ids(second) == std::vector<std::string>{"B-PRIV", "A-PUB"});
  CHECK(second.next_page_token().empty());

  // Payroll reads no recognition; an unknown unit is NOT_FOUND.
  v1::RecognitionFeedRequest q;
  q.set_org_unit_id(fx::kOrg);
  RequireError(s.Call(*r.views, &v1::Views::Stub::GetRecognitionFeed, q, "payroll-token"),
               grpc::StatusCode::PERMISSION_DENIED, "recognition");
  q.set_org_unit_id("ORG-NOPE");
  RequireError(s.Call(*r.views, &v1::Views::Stub::GetRecognitionFeed, q),
               grpc::StatusCode::NOT_FOUND, "org_unit_id");
}

TEST_CASE("recognition: a case is published only with every consent and hr's approval",
          "[recognition]") {
  Recognition r;
  TestServer& s = r.s();
  MustOk(s.Call(s.goals(), &v1::Goals::Stub::SetGoal, SetGoalReq("G-E1")), "goal");
  const auto grade = MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::FinalizeGrade,
                                   FinalizeGradeReq(fx::kEmployee, "B")),
                            "grade");
  auto nominate = NominateCaseReq("K1", {fx::kEmployee, fx::kEmployee2});
  nominate.mutable_evidence()->add_goal_ids("G-E1");
  auto* kr = nominate.mutable_evidence()->add_key_results();
  kr->set_goal_id("G-E1");
  kr->set_key_result_id("KR1");
  nominate.mutable_evidence()->add_grade_event_ids(grade.events(0).event_id());
  MustOk(s.Call(s.recognition(), &v1::Recognition::Stub::NominateCase, nominate, "mgr-token"),
         "nominate");

  // No consent yet: refused, naming who is missing.
  const uint64_t end = s.LogEnd();
  auto publish = r.Publish("K1", "mgr-token");
  RequireError(publish, grpc::StatusCode::FAILED_PRECONDITION, "consent");
  CHECK(absl::StrContains(publish.status.error_message(), "E1, E2"));
  CHECK(s.LogEnd() == end);
  MustOk(s.Call(s.recognition(), &v1::Recognition::Stub::RecordCaseConsent,
                ConsentReq("K1", fx::kEmployee), "emp-token"),
         "E1 consents");
  publish = r.Publish("K1", "mgr-token");
  RequireError(publish, grpc::StatusCode::FAILED_PRECONDITION, "consent: E2 has not consented");
  // Consent is the subject's own.
  RequireError(s.Call(s.recognition(), &v1::Recognition::Stub::RecordCaseConsent,
                      ConsentReq("K1", fx::kEmployee2), "emp-token"),
               grpc::StatusCode::PERMISSION_DENIED, "subject_id");
  MustOk(s.Call(s.recognition(), &v1::Recognition::Stub::RecordCaseConsent,
                ConsentReq("K1", fx::kEmployee2), "emp2-token"),
         "E2 consents");
  // Every consent, no review yet; a rejection; the manager cannot review.
  RequireError(r.Publish("K1", "mgr-token"), grpc::StatusCode::FAILED_PRECONDITION,
               "review: case K1 is not approved");
  RequireError(r.Review("K1", v1::CASE_REVIEW_DECISION_APPROVED, "mgr-token"),
               grpc::StatusCode::PERMISSION_DENIED, "decision");
  MustOk(r.Review("K1", v1::CASE_REVIEW_DECISION_REJECTED), "reject");
  RequireError(r.Publish("K1", "mgr-token"), grpc::StatusCode::FAILED_PRECONDITION, "rejected");

  // Before publication: the subjects, their managers and hr see it; another line does not.
  auto before = MustOk(r.Case("K1", "emp-token"), "case as E1");
  CHECK(before.status() == v1::CASE_STATUS_NOMINATED);
  CHECK(before.title() == "Case K1");
  CHECK(before.story() == nominate.story());
  CHECK_FALSE(before.has_sealed());
  CHECK(before.nominator_id() == fx::kManager);
  REQUIRE(before.consents_size() == 2);
  CHECK(before.consents(0).consent() == v1::CASE_CONSENT_GIVEN);
  CHECK(before.consents(1).consent() == v1::CASE_CONSENT_GIVEN);
  CHECK(before.review() == v1::CASE_REVIEW_DECISION_REJECTED);
  CHECK(before.evidence().grade_event_ids(0) == grade.events(0).event_id());
  RequireError(r.Case("K1", "mgr2-token"), grpc::StatusCode::PERMISSION_DENIED, "case_id");
  RequireError(r.Case("K1", "payroll-token"), grpc::StatusCode::PERMISSION_DENIED,
               "recognition");
  CHECK(r.Feed(fx::kOrg, "admin-token").items().empty());

  MustOk(r.Review("K1", v1::CASE_REVIEW_DECISION_APPROVED), "approve");
  MustOk(r.Publish("K1", "mgr-token"), "publish");
  RequireError(r.Publish("K1", "hr-token"), grpc::StatusCode::FAILED_PRECONDITION,
               "already published");

  // Published: in the feed of ORG1 for everyone in it, M2 included; its text opened.
  const auto feed = r.Feed(fx::kOrg, "mgr2-token");
  REQUIRE(feed.items_size() == 1);
  REQUIRE(feed.items(0).has_case_file());
  CHECK(feed.items(0).case_file().story() == nominate.story());
  CHECK(feed.items(0).case_file().status() == v1::CASE_STATUS_PUBLISHED);
  CHECK(MustOk(r.Case("K1", "mgr2-token"), "case as M2").status() == v1::CASE_STATUS_PUBLISHED);

  // A subject withdraws consent: the case leaves the library for good; the events remain.
  MustOk(s.Call(s.recognition(), &v1::Recognition::Stub::RecordCaseConsent,
                ConsentReq("K1", fx::kEmployee2, v1::CASE_CONSENT_WITHDRAWN), "emp2-token"),
         "E2 withdraws");
  CHECK(r.Feed(fx::kOrg, "admin-token").items().empty());
  const auto after = MustOk(r.Case("K1", "emp-token"), "case after");
  CHECK(after.status() == v1::CASE_STATUS_WITHDRAWN);
  CHECK(after.withdrawn_by() == v1::CASE_WITHDRAWN_BY_SUBJECT);
  CHECK(after.withdrawn_subject_id() == fx::kEmployee2);
  CHECK(after.consents(1).consent() == v1::CASE_CONSENT_WITHDRAWN);
  RequireError(r.Case("K1", "mgr2-token"), grpc::StatusCode::PERMISSION_DENIED, "case_id");
  const auto events = s.ReadAllEvents();
  CHECK(EventsOfType(events, "CasePublished").size() == 1);
  CHECK(EventsOfType(events, "CaseWithdrawn").size() == 1);
  RequireError(s.Call(s.recognition(), &v1::Recognition::Stub::RecordCaseConsent,
                      ConsentReq("K1", fx::kEmployee2), "emp2-token"),
               grpc::StatusCode::FAILED_PRECONDITION, "withdrawn");

  // The nominator withdraws a published case: it leaves the feed too.
  MustOk(s.Call(s.recognition(), &v1::Recognition::Stub::NominateCase,
                NominateCaseReq("K2", {fx::kEmployee}), "mgr-token"),
         "K2");
  MustOk(s.Call(s.recognition(), &v1::Recognition::Stub::RecordCaseConsent,
                ConsentReq("K2", fx::kEmployee), "emp-token"),
         "K2 consent");
  MustOk(r.Review("K2", v1::CASE_REVIEW_DECISION_APPROVED), "K2 approve");
  MustOk(r.Publish("K2", "hr-token"), "K2 publish");
  CHECK(Ids(r.Feed(fx::kOrg, "emp2-token")) == std::vector<std::string>{"K2"});
  v1::WithdrawCaseRequest withdraw;
  withdraw.set_case_id("K2");
  RequireError(s.Call(s.recognition(), &v1::Recognition::Stub::WithdrawCase, withdraw,
                      "emp-token"),
               grpc::StatusCode::PERMISSION_DENIED, "case_id");
  MustOk(s.Call(s.recognition(), &v1::Recognition::Stub::WithdrawCase, withdraw, "mgr-token"),
         "withdraw K2");
  CHECK(r.Feed(fx::kOrg, "emp2-token").items().empty());
  CHECK(MustOk(r.Case("K2", "hr-token"), "K2").withdrawn_by() ==
        v1::CASE_WITHDRAWN_BY_NOMINATOR);
}

TEST_CASE("recognition: evidence about compensation is refused, bad cases write nothing",
          "[recognition]") {
  Recognition r;
  TestServer& s = r.s();
  auto policies = v1::Policies::NewStub(s.NewChannel());
  v1::PublishPolicyRequest publish;
  publish.set_document(kGradeActionsPolicy);
  MustOk(s.Call(*policies, &v1::Policies::Stub::PublishPolicy, publish), "policy");
  // Grade A: a raise (compensation) and a training recommendation.
  v1::FinalizeGradeRequest grade = FinalizeGradeReq(fx::kEmployee, "A", 4500);
  grade.mutable_meta()->set_event_id("EV-GRADE-E1");
  MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::FinalizeGrade, grade), "grade A");
  MustOk(s.Call(s.goals(), &v1::Goals::Stub::SetGoal, SetGoalReq("G-E3", "E3")), "E3's goal");
  std::string raise;
  REQUIRE(WaitUntil([&] {
    auto items = s.Call(*r.views, &v1::Views::Stub::ListPayrollItems,
                        v1::ListPayrollItemsRequest());
    for (const auto& item : items.response.items()) raise = item.action_id();
    return !raise.empty();
  }));
  r.Settle();

  const uint64_t end = s.LogEnd();
  auto nominate = [&](const v1::NominateCaseRequest& q, const std::string& token = "mgr-token") {
    return s.Call(s.recognition(), &v1::Recognition::Stub::NominateCase, q, token);
  };
  auto with_raise = NominateCaseReq("K-PAY", {fx::kEmployee});
  with_raise.mutable_evidence()->add_action_ids(raise);
  auto refused = nominate(with_raise);
  RequireError(refused, grpc::StatusCode::INVALID_ARGUMENT, "evidence.action_ids[0]");
  CHECK(absl::StrContains(refused.status.error_message(), "compensation never appears"));
  // The grade's event is a grade, not a metric observation.
  auto wrong_kind = NominateCaseReq("K-KIND", {fx::kEmployee});
  wrong_kind.mutable_evidence()->add_metric_event_ids("EV-GRADE-E1");
  RequireError(nominate(wrong_kind), grpc::StatusCode::INVALID_ARGUMENT,
               "evidence.metric_event_ids[0]");
  auto unknown_goal = NominateCaseReq("K-GOAL", {fx::kEmployee});
  unknown_goal.mutable_evidence()->add_goal_ids("G-NOPE");
  RequireError(nominate(unknown_goal), grpc::StatusCode::NOT_FOUND, "evidence.goal_ids[0]");
  auto others_goal = NominateCaseReq("K-OTHER", {fx::kEmployee});
  others_goal.mutable_evidence()->add_goal_ids("G-E3");
  RequireError(nominate(others_goal, "hr-token"), grpc::StatusCode::INVALID_ARGUMENT,
               "evidence.goal_ids[0]");
  // Who: an employee never; a manager only about their scope, never about themselves.
  RequireError(nominate(NominateCaseReq("K-EMP", {fx::kEmployee2}), "emp-token"),
               grpc::StatusCode::PERMISSION_DENIED, "subject_ids");
  RequireError(nominate(NominateCaseReq("K-OUT", {"E3"})), grpc::StatusCode::PERMISSION_DENIED,
               "subject_ids[0]");
  RequireError(nominate(NominateCaseReq("K-SELF", {fx::kEmployee, fx::kManager})),
               grpc::StatusCode::INVALID_ARGUMENT, "subject_ids[1]");
  auto no_story = NominateCaseReq("K-STORY", {fx::kEmployee});
  no_story.clear_story();
  RequireError(nominate(no_story), grpc::StatusCode::INVALID_ARGUMENT, "story");
  CHECK(s.LogEnd() == end);

  // The grade itself is evidence; the case carries its id, never an amount.
  auto good = NominateCaseReq("K-OK", {fx::kEmployee});
  good.mutable_evidence()->add_grade_event_ids("EV-GRADE-E1");
  MustOk(nominate(good), "nominate");
  const auto k = MustOk(r.Case("K-OK", "hr-token"), "case");
  CHECK(k.evidence().grade_event_ids(0) == "EV-GRADE-E1");
  // Consent for someone who is not a subject names the field.
  RequireError(s.Call(s.recognition(), &v1::Recognition::Stub::RecordCaseConsent,
                      ConsentReq("K-OK", fx::kEmployee2), "emp2-token"),
               grpc::StatusCode::INVALID_ARGUMENT, "subject_id");
  RequireError(s.Call(s.recognition(), &v1::Recognition::Stub::RecordCaseConsent,
                      ConsentReq("K-NOPE", fx::kEmployee), "emp-token"),
               grpc::StatusCode::NOT_FOUND, "case_id");
}

}  // namespace
}  // namespace perfledger::testing
