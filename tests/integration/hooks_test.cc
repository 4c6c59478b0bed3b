// The Hooks service (ARCHITECTURE §7) through the real server: delivery, redelivery, acknowledgement
// (idempotent, conflicting, rejected), cancellation notices, resuming after a restart, history
// replay from a cursor, roles, and bad input that writes nothing.
#include <thread>

#include "perfledger/v1/hooks.grpc.pb.h"
#include "perfledger/v1/policies.grpc.pb.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "tests/integration/helpers.h"
#include "tests/support/temp_dir.h"

namespace perfledger::testing {
namespace {

constexpr char kTokens[] = R"(admin-token   alice   admin
payroll-token paula   payroll
lms-token     moodle  lms
auditor-token audrey  auditor
)";

// A: 15 % raise and a course; B: a bonus of 20 % of monthly pay and a course.
constexpr char kPolicy[] = R"(policy_id: hooks-test
grading:
  method: metric_bands
  metric: defect_rate
  direction: lower_is_better
  aggregate: mean
  bands:
    - {grade: A, below_milli: 2000}
    - {grade: B, below_milli: 3000}
    - {grade: C, below_milli: 5001}
    - {grade: D}
actions:
  A:
    raise_bp: 1500
    training: [quality-control]
  B:
    bonus: {percent_of_monthly_bp: 2000, reason_code: quality-bonus}
    training: [operation-skills]
)";

const std::vector<v1::ActionKind> kPayrollKinds = {v1::ACTION_KIND_SALARY_ADJUSTMENT,
                                                    v1::ACTION_KIND_BONUS};

struct HooksServer {
  TempDir dir{"hooks"};
  std::unique_ptr<TestServer> server;
  std::unique_ptr<v1::Hooks::Stub> hooks;
  std::unique_ptr<v1::Views::Stub> views;

  HooksServer() {
    TestServerOptions options;
    options.tokens_file = dir.WriteFile("tokens.txt", kTokens);
    options.default_token = "admin-token";
    server = std::make_unique<TestServer>(options);
    Connect();
    SeedFixture(*server);
    auto policies = v1::Policies::NewStub(server->NewChannel());
    v1::PublishPolicyRequest publish;
    publish.set_document(kPolicy);
    MustOk(server->Call(*policies, &v1::Policies::Stub::PublishPolicy, publish), "publish");
  }

  void Connect() {
    hooks = v1::Hooks::NewStub(server->NewChannel());
    views = v1::Views::NewStub(server->NewChannel());
  }

  void Grade(const std::string& employee, const std::string& grade, const std::string& key) {
    v1::FinalizeGradeRequest r = FinalizeGradeReq(employee, grade);
    r.mutable_meta()->set_idempotency_key(key);
    MustOk(server->Call(server->reviews(), &v1::Reviews::Stub::FinalizeGrade, r), "grade");
  }

  // Reads items from a subscription until `count` arrived or `wait` passed.
  std::vector<v1::HookItem> Receive(const v1::SubscribeRequest& request, size_t count,
                                    absl::Duration wait, const std::string& token = "",
                                    grpc::Status* finish = nullptr) {
    grpc::ClientContext context;
    server->Prepare(context, token, wait);
    auto reader = hooks->Subscribe(&context, request);
    std::vector<v1::HookItem> items;
    v1::HookItem item;
    while (items.size() < count && reader->Read(&item)) items.push_back(item);
    if (items.size() >= count) context.TryCancel();
    grpc::Status status = reader->Finish();
    if (finish != nullptr) *finish = status;
    return items;
  }

  Reply<v1::AcknowledgeResponse> Ack(const v1::AcknowledgeRequest& r,
                                     const std::string& token = "") {
    return server->Call(*hooks, &v1::Hooks::Stub::Acknowledge, r, token);
  }

  // Waits until the payroll view holds `count` items (the reactor works asynchronously).
  v1::ListPayrollItemsResponse WaitPayroll(int count) {
    v1::ListPayrollItemsResponse view;
    for (int i = 0; i < 200; i++) {
      view = Payroll();
      if (view.items_size() >= count) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return view;
  }

  v1::ListPayrollItemsResponse Payroll(const std::vector<v1::Position>& after = {}) {
    v1::ListPayrollItemsRequest q;
    for (const auto& p : after) *q.mutable_consistency()->add_min_position() = p;
    return MustOk(server->Call(*views, &v1::Views::Stub::ListPayrollItems, q), "payroll view");
  }
};

v1::SubscribeRequest Sub(const std::string& consumer, const std::vector<v1::ActionKind>& kinds,
                         uint32_t redeliver_seconds = 0) {
  v1::SubscribeRequest r;
  r.set_consumer(consumer);
  for (auto k : kinds) r.add_kinds(k);
  r.set_redeliver_after_seconds(redeliver_seconds);
  return r;
}

v1::AcknowledgeRequest AckOf(const std::string& consumer, const std::vector<v1::HookItem>& items,
                             const std::string& ref_prefix = "PAY-") {
  v1::AcknowledgeRequest r;
  r.set_consumer(consumer);
  for (const auto& i : items) {
    auto* a = r.add_items();
    a->set_action_id(i.action_id());
    a->set_consumer_reference(ref_prefix + i.action_id());
    a->set_cancellation(i.type() == v1::HOOK_ITEM_TYPE_CANCELLATION);
  }
  return r;
}

const v1::HookItem* Find(const std::vector<v1::HookItem>& items, v1::ActionKind kind,
                         const std::string& employee) {
  for (const auto& i : items) {
    if (i.kind() == kind && i.employee_id() == employee) return &i;
  }
  return nullptr;
}

TEST_CASE("payroll receives raises and bonuses with amounts and causes, once acknowledged never "
          "again", "[hooks]") {
  HooksServer s;
  s.Grade(fx::kEmployee, "A", "g1");
  s.Grade(fx::kEmployee2, "B", "g2");

  auto items = s.Receive(Sub("payroll-1", kPayrollKinds), 2, absl::Seconds(10), "payroll-token");
  REQUIRE(items.size() == 2);
  const v1::HookItem* raise = Find(items, v1::ACTION_KIND_SALARY_ADJUSTMENT, fx::kEmployee);
  const v1::HookItem* bonus = Find(items, v1::ACTION_KIND_BONUS, fx::kEmployee2);
  REQUIRE(raise != nullptr);
  REQUIRE(bonus != nullptr);
  CHECK(raise->type() == v1::HOOK_ITEM_TYPE_ACTION);
  CHECK(raise->amount().amount_minor() == fx::kSalaryMinor * 15 / 100);  // 15 % of the salary
  CHECK(raise->percent_bp() == 1500);
  CHECK(raise->attempt() == 1);
  CHECK(!raise->cause_event_ids().empty());
  CHECK(!raise->triggered_event_id().empty());
  CHECK(absl::StartsWith(raise->cursor(), "c1:"));
  CHECK(bonus->amount().amount_minor() == fx::kSalaryMinor / 12 * 20 / 100);
  CHECK(bonus->reason_code() == "quality-bonus");

  auto acked = MustOk(s.Ack(AckOf("payroll-1", items), "payroll-token"), "ack");
  REQUIRE(acked.outcomes_size() == 2);
  CHECK(acked.outcomes(0) == v1::ACKNOWLEDGE_OUTCOME_RECORDED);
  CHECK(acked.positions_size() == 2);

  // The payroll view shows them applied with the consumer's references.
  auto view = s.Payroll({acked.positions().begin(), acked.positions().end()});
  REQUIRE(view.items_size() == 2);
  for (const auto& item : view.items()) {
    CHECK(item.state() == v1::PAYROLL_STATE_APPLIED);
    CHECK(item.consumer_reference() == "PAY-" + item.action_id());
    CHECK(item.consumer() == "payroll-1");
  }

  // A new subscription has nothing to do.
  CHECK(s.Receive(Sub("payroll-1", kPayrollKinds), 1, absl::Milliseconds(1500), "payroll-token")
            .empty());

  SECTION("a repeated acknowledgement is a duplicate and appends nothing") {
    const uint64_t end = s.server->LogEnd();
    auto again = MustOk(s.Ack(AckOf("payroll-1", items), "payroll-token"), "ack again");
    CHECK(again.outcomes(0) == v1::ACKNOWLEDGE_OUTCOME_DUPLICATE);
    CHECK(again.outcomes(1) == v1::ACKNOWLEDGE_OUTCOME_DUPLICATE);
    CHECK(again.positions().empty());
    CHECK(s.server->LogEnd() == end);
  }
  SECTION("another reference for an acknowledged action is ALREADY_EXISTS, nothing written") {
    const uint64_t end = s.server->LogEnd();
    RequireError(s.Ack(AckOf("payroll-1", items, "OTHER-"), "payroll-token"),
                 grpc::StatusCode::ALREADY_EXISTS, "items[0].consumer_reference");
    CHECK(s.server->LogEnd() == end);
  }
  SECTION("rejecting an acknowledged action is FAILED_PRECONDITION") {
    v1::AcknowledgeRequest r;
    r.set_consumer("payroll-1");
    auto* i = r.add_items();
    i->set_action_id(raise->action_id());
    i->set_reject_reason("no budget");
    RequireError(s.Ack(r, "payroll-token"), grpc::StatusCode::FAILED_PRECONDITION,
                 "items[0].action_id");
  }
  SECTION("include_resolved replays the history after a cursor") {
    auto req = Sub("payroll-audit", kPayrollKinds);
    req.set_include_resolved(true);
    auto replay = s.Receive(req, 2, absl::Seconds(10), "payroll-token");
    REQUIRE(replay.size() == 2);
    CHECK(replay[0].resolved());
    CHECK(replay[1].resolved());
    // From the cursor after both, nothing.
    req.set_cursor(replay[1].cursor());
    if (replay[0].position().partition() != replay[1].position().partition()) {
      // Items of two partitions: the last cursor covers both (it only moves forward).
      CHECK(replay[1].cursor() != replay[0].cursor());
    }
    CHECK(s.Receive(req, 1, absl::Milliseconds(1500), "payroll-token").empty());
  }
}

TEST_CASE("an unacknowledged item is redelivered after the timeout, and after a restart",
          "[hooks]") {
  HooksServer s;
  s.Grade(fx::kEmployee, "A", "g1");
  // One subscription, not acknowledging: the raise comes again after a second.
  auto items = s.Receive(Sub("payroll-1", kPayrollKinds, 1), 2, absl::Seconds(10),
                         "payroll-token");
  REQUIRE(items.size() == 2);
  CHECK(items[0].action_id() == items[1].action_id());
  CHECK(items[0].attempt() == 1);
  CHECK(items[1].attempt() == 2);

  // A consumer that crashed after applying and before acknowledging gets it again after a
  // server restart too, even when it saved the cursor past it.
  const std::string cursor = items[1].cursor();
  s.server->Restart();
  s.Connect();
  auto req = Sub("payroll-1", kPayrollKinds);
  req.set_cursor(cursor);
  auto again = s.Receive(req, 1, absl::Seconds(10), "payroll-token");
  REQUIRE(again.size() == 1);
  CHECK(again[0].action_id() == items[0].action_id());
  MustOk(s.Ack(AckOf("payroll-1", again), "payroll-token"), "ack");
  auto view = s.Payroll();
  REQUIRE(view.items_size() == 1);
}

TEST_CASE("a rejected action is not delivered again and cannot then be acknowledged", "[hooks]") {
  HooksServer s;
  s.Grade(fx::kEmployee, "A", "g1");
  auto items = s.Receive(Sub("payroll-1", kPayrollKinds), 1, absl::Seconds(10), "payroll-token");
  REQUIRE(items.size() == 1);
  v1::AcknowledgeRequest r;
  r.set_consumer("payroll-1");
  auto* i = r.add_items();
  i->set_action_id(items[0].action_id());
  i->set_reject_reason("employee on leave");
  auto rejected = MustOk(s.Ack(r, "payroll-token"), "reject");
  CHECK(rejected.outcomes(0) == v1::ACKNOWLEDGE_OUTCOME_RECORDED);
  CHECK(MustOk(s.Ack(r, "payroll-token"), "reject again").outcomes(0) ==
        v1::ACKNOWLEDGE_OUTCOME_DUPLICATE);
  RequireError(s.Ack(AckOf("payroll-1", items), "payroll-token"),
               grpc::StatusCode::FAILED_PRECONDITION, "items[0].action_id");
  auto view = s.Payroll({rejected.positions().begin(), rejected.positions().end()});
  REQUIRE(view.items_size() == 1);
  CHECK(view.items(0).state() == v1::PAYROLL_STATE_REJECTED);
  CHECK(view.items(0).reason() == "employee on leave");
  CHECK(s.Receive(Sub("payroll-1", kPayrollKinds), 1, absl::Milliseconds(1500), "payroll-token")
            .empty());
}

TEST_CASE("a superseded grade cancels an applied raise: the consumer gets a cancellation notice "
          "and the new action", "[hooks]") {
  HooksServer s;
  s.Grade(fx::kEmployee, "A", "g1");
  auto items = s.Receive(Sub("payroll-1", kPayrollKinds), 1, absl::Seconds(10), "payroll-token");
  REQUIRE(items.size() == 1);
  MustOk(s.Ack(AckOf("payroll-1", items), "payroll-token"), "ack raise");

  s.Grade(fx::kEmployee, "B", "g1-regrade");  // supersedes: the raise is cancelled, a bonus issued
  auto next = s.Receive(Sub("payroll-1", kPayrollKinds), 2, absl::Seconds(10), "payroll-token");
  REQUIRE(next.size() == 2);
  const v1::HookItem* notice = nullptr;
  const v1::HookItem* bonus = nullptr;
  for (const auto& i : next) {
    if (i.type() == v1::HOOK_ITEM_TYPE_CANCELLATION) notice = &i;
    if (i.kind() == v1::ACTION_KIND_BONUS) bonus = &i;
  }
  REQUIRE(notice != nullptr);
  REQUIRE(bonus != nullptr);
  CHECK(notice->action_id() == items[0].action_id());
  CHECK(!notice->cancel_reason().empty());
  CHECK(!notice->cancelled_by_event_id().empty());

  auto acked = MustOk(s.Ack(AckOf("payroll-1", next, "REV-"), "payroll-token"), "ack notice");
  CHECK(acked.outcomes(0) == v1::ACKNOWLEDGE_OUTCOME_RECORDED);
  CHECK(acked.outcomes(1) == v1::ACKNOWLEDGE_OUTCOME_RECORDED);
  CHECK(s.Receive(Sub("payroll-1", kPayrollKinds), 1, absl::Milliseconds(1500), "payroll-token")
            .empty());
  auto view = s.Payroll({acked.positions().begin(), acked.positions().end()});
  REQUIRE(view.items_size() == 2);
  for (const auto& item : view.items()) {
    if (item.action_id() == items[0].action_id()) {
      CHECK(item.state() == v1::PAYROLL_STATE_CANCELLED);
    } else {
      CHECK(item.state() == v1::PAYROLL_STATE_APPLIED);
    }
  }
}

TEST_CASE("an action cancelled before anyone applied it is not delivered", "[hooks]") {
  HooksServer s;
  s.Grade(fx::kEmployee, "A", "g1");
  s.Grade(fx::kEmployee, "B", "g1-regrade");
  auto view = s.WaitPayroll(2);  // the raise (cancelled) and the bonus
  REQUIRE(view.items_size() == 2);
  auto items = s.Receive(Sub("payroll-1", kPayrollKinds), 2, absl::Milliseconds(2500),
                         "payroll-token");
  REQUIRE(items.size() == 1);
  CHECK(items[0].kind() == v1::ACTION_KIND_BONUS);
}

TEST_CASE("roles: payroll takes payroll kinds, the LMS training, auditors none", "[hooks]") {
  HooksServer s;
  s.Grade(fx::kEmployee, "A", "g1");
  grpc::Status status;
  s.Receive(Sub("lms-1", kPayrollKinds), 1, absl::Seconds(5), "lms-token", &status);
  CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(absl::StrContains(status.error_message(), "kinds[0]"));
  s.Receive(Sub("audit", {v1::ACTION_KIND_TRAINING}), 1, absl::Seconds(5), "auditor-token",
            &status);
  CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);

  auto courses = s.Receive(Sub("lms-1", {v1::ACTION_KIND_TRAINING}), 1, absl::Seconds(10),
                           "lms-token");
  REQUIRE(courses.size() == 1);
  CHECK(courses[0].course_id() == "quality-control");
  // Payroll may not answer a training action.
  RequireError(s.Ack(AckOf("payroll-1", courses), "payroll-token"),
               grpc::StatusCode::PERMISSION_DENIED, "items[0].action_id");
  MustOk(s.Ack(AckOf("lms-1", courses, "LMS-"), "lms-token"), "lms ack");
}

TEST_CASE("bad subscriptions and acknowledgements name the field and write nothing", "[hooks]") {
  HooksServer s;
  s.Grade(fx::kEmployee, "A", "g1");
  // The reactor appends the grade's actions (a raise and a course, one append each).
  REQUIRE(s.WaitPayroll(1).items_size() == 1);
  for (int i = 0; i < 200; i++) {
    v1::ListTrainingRequest q;
    auto training = s.server->Call(*s.views, &v1::Views::Stub::ListTraining, q);
    if (training.ok() && training.response.records_size() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const uint64_t end = s.server->LogEnd();

  struct SubCase {
    std::string field;
    std::function<void(v1::SubscribeRequest&)> breakit;
  };
  const std::vector<SubCase> subs = {
      {"consumer", [](auto& r) { r.clear_consumer(); }},
      {"consumer", [](auto& r) { r.set_consumer("has space"); }},
      {"kinds", [](auto& r) { r.clear_kinds(); }},
      {"kinds[2]", [](auto& r) { r.add_kinds(static_cast<v1::ActionKind>(99)); }},
      {"kinds[2]", [](auto& r) { r.add_kinds(v1::ACTION_KIND_UNSPECIFIED); }},
      {"kinds[2]", [](auto& r) { r.add_kinds(v1::ACTION_KIND_BONUS); }},
      {"redeliver_after_seconds", [](auto& r) { r.set_redeliver_after_seconds(100000); }},
      {"max_in_flight", [](auto& r) { r.set_max_in_flight(1000000); }},
      {"cursor", [](auto& r) { r.set_cursor("junk"); }},
      {"cursor", [](auto& r) { r.set_cursor("c1:99=1"); }},
      {"cursor", [](auto& r) { r.set_cursor("c1:1=x"); }},
  };
  for (const auto& c : subs) {
    auto req = Sub("payroll-1", kPayrollKinds);
    c.breakit(req);
    grpc::Status status;
    s.Receive(req, 1, absl::Seconds(5), "payroll-token", &status);
    INFO(c.field << ": " << status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(absl::StrContains(status.error_message(), c.field));
  }

  auto items = s.Receive(Sub("payroll-1", kPayrollKinds), 1, absl::Seconds(10), "payroll-token");
  REQUIRE(items.size() == 1);
  const uint64_t after_delivery = s.server->LogEnd();  // the delivery report
  CHECK(after_delivery == end + 1);

  struct AckCase {
    grpc::StatusCode code;
    std::string field;
    std::function<void(v1::AcknowledgeRequest&)> breakit;
  };
  const std::vector<AckCase> acks = {
      {grpc::StatusCode::INVALID_ARGUMENT, "consumer", [](auto& r) { r.clear_consumer(); }},
      {grpc::StatusCode::INVALID_ARGUMENT, "items", [](auto& r) { r.clear_items(); }},
      {grpc::StatusCode::INVALID_ARGUMENT, "items[0].consumer_reference",
       [](auto& r) { r.mutable_items(0)->clear_consumer_reference(); }},
      {grpc::StatusCode::INVALID_ARGUMENT, "items[0].consumer_reference",
       [](auto& r) { r.mutable_items(0)->set_consumer_reference(std::string(200, 'x')); }},
      {grpc::StatusCode::INVALID_ARGUMENT, "items[0].action_id",
       [](auto& r) { r.mutable_items(0)->set_action_id("bad id!"); }},
      {grpc::StatusCode::INVALID_ARGUMENT, "items[1].action_id",
       [](auto& r) { *r.add_items() = r.items(0); }},
      {grpc::StatusCode::NOT_FOUND, "items[1].action_id",
       [](auto& r) {
         auto* i = r.add_items();
         i->set_action_id("no-such-action");
         i->set_consumer_reference("X");
       }},
      {grpc::StatusCode::FAILED_PRECONDITION, "items[0].cancellation",
       [](auto& r) { r.mutable_items(0)->set_cancellation(true); }},
      {grpc::StatusCode::INVALID_ARGUMENT, "items[0].consumer_reference",
       [](auto& r) { r.mutable_items(0)->set_reject_reason("no"); }},
      {grpc::StatusCode::INVALID_ARGUMENT, "items",
       [](auto& r) {
         for (int i = 0; i < 1001; i++) *r.add_items() = r.items(0);
       }},
  };
  for (const auto& c : acks) {
    auto req = AckOf("payroll-1", items);
    c.breakit(req);
    auto reply = s.Ack(req, "payroll-token");
    INFO(c.field << ": " << reply.status.error_message());
    CHECK(reply.status.error_code() == c.code);
    CHECK(absl::StrContains(reply.status.error_message(), c.field));
  }
  CHECK(s.server->LogEnd() == after_delivery);
  // And the server still serves: the valid acknowledgement goes through.
  MustOk(s.Ack(AckOf("payroll-1", items), "payroll-token"), "ack");
}

}  // namespace
}  // namespace perfledger::testing
