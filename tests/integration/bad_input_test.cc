// Every command RPC against bad input, table-driven. Each row starts from a request that is
// valid in the seeded state and breaks one thing. For each row: the gRPC code, the message
// starting with the field path (after "batch 0: " on the client stream), and the log end (the
// sum of Status end_offsets) unchanged, so nothing was written. Each RPC's test then sends its
// valid request to prove the server still serves.
#include "tests/integration/helpers.h"

#include <functional>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "ledger/limits.h"

namespace perfledger::testing {
namespace {

using grpc::StatusCode;
using v1::CommandMeta;

// Names the seeded state gives (beyond the fixture's).
constexpr char kDeparted[] = "EX";        // registered, then departed
constexpr char kClosedCycle[] = "CX";     // opened, then closed
constexpr char kGoal[] = "G1";            // E1's open goal in C1
constexpr char kChildGoal[] = "G2";       // E2's goal aligned to G1
constexpr char kClosedGoal[] = "GX";      // E1's goal in C1, closed
constexpr char kGoalOfClosedCycle[] = "GCX";
constexpr char kScore[] = "S1";           // M1's manager score of E1 in C1
constexpr char kScoreOfClosedCycle[] = "SCX";
constexpr char kUsedEventId[] = "used-ev-1";    // a command's meta.event_id
constexpr char kUsedObservationId[] = "used-obs-1";  // an observation's event_id in a batch
constexpr char kUsedKey[] = "used-key-1";        // an idempotency key
constexpr char kDispute[] = "DS1";               // E1's open dispute of their C1 grade (B)
constexpr char kPraise[] = "PR1";                // E1's praise of E2
constexpr char kCase[] = "K1";                   // a case about E1

const std::string kLongId(limits::kIdBytesMax + 1, 'i');
const std::string kLongName(limits::kNameBytesMax + 1, 'n');
const std::string kLongText(limits::kTextBytesMax + 1, 't');
const std::string kBadUtf8 = "caf\xc3";  // truncated sequence
constexpr int64_t kYear10000 = 253'402'300'800;  // 10000-01-01T00:00:00Z
constexpr int64_t kMetricTooBig = limits::kMetricMilliAbsMax + 1;

void Seed(TestServer& s) {
  SeedFixture(s);
  auto must = [](const grpc::Status& status, const std::string& what) { ExpectOk(status, what); };
  using P = v1::People::Stub;
  using C = v1::Cycles::Stub;
  using G = v1::Goals::Stub;
  using R = v1::Reviews::Stub;
  must(s.Call(s.people(), &P::RegisterEmployee, RegisterEmployeeReq(kDeparted)).status, "EX");
  must(s.Call(s.people(), &P::RecordDeparture, RecordDepartureReq(kDeparted)).status, "EX left");
  must(s.Call(s.cycles(), &C::OpenCycle, OpenCycleReq(kClosedCycle)).status, "CX");
  must(s.Call(s.goals(), &G::SetGoal, SetGoalReq(kGoalOfClosedCycle, fx::kEmployee, kClosedCycle))
           .status, "GCX");
  auto scx = SubmitScoreReq(kScoreOfClosedCycle);
  scx.set_cycle_id(kClosedCycle);
  must(s.Call(s.reviews(), &R::SubmitScore, scx).status, "SCX");
  must(s.Call(s.cycles(), &C::CloseCycle, CloseCycleReq(kClosedCycle)).status, "CX closed");
  must(s.Call(s.goals(), &G::SetGoal, SetGoalReq(kGoal)).status, "G1");
  auto child = SetGoalReq(kChildGoal, fx::kEmployee2);
  child.set_parent_goal_id(kGoal);
  must(s.Call(s.goals(), &G::SetGoal, child).status, "G2");
  must(s.Call(s.goals(), &G::SetGoal, SetGoalReq(kClosedGoal)).status, "GX");
  must(s.Call(s.goals(), &G::CloseGoal, CloseGoalReq(kClosedGoal)).status, "GX closed");
  must(s.Call(s.reviews(), &R::SubmitScore, SubmitScoreReq(kScore)).status, "S1");
  auto used = ObserveMetricReq(fx::kEmployee, 777);  // differs from every row's request
  used.mutable_meta()->set_event_id(kUsedEventId);
  must(s.Call(s.metrics(), &v1::Metrics::Stub::ObserveMetric, used).status, "used event id");
  auto batch = ObserveMetricsReq(2, fx::kEmployee2);
  batch.mutable_observations(1)->set_event_id(kUsedObservationId);
  must(s.Call(s.metrics(), &v1::Metrics::Stub::ObserveMetrics, batch).status, "used obs id");
  auto keyed = FeedbackReq(fx::kEmployee2);
  keyed.mutable_meta()->set_idempotency_key(kUsedKey);
  must(s.Call(s.reviews(), &R::RecordFeedback, keyed).status, "used key");
  must(s.Call(s.reviews(), &R::FinalizeGrade, FinalizeGradeReq(fx::kEmployee)).status, "E1's B");
  must(s.Call(s.reviews(), &R::FinalizeGrade, FinalizeGradeReq(fx::kEmployee2)).status, "E2's B");
  v1::RaiseDisputeRequest dispute;
  dispute.set_dispute_id(kDispute);
  dispute.set_employee_id(fx::kEmployee);
  dispute.set_cycle_id(fx::kCycle);
  dispute.set_grounds("the launch is missing");
  must(s.Call(s.reviews(), &R::RaiseDispute, dispute).status, "DS1");
  must(s.Call(s.recognition(), &v1::Recognition::Stub::GivePraise,
              PraiseReq(kPraise, fx::kEmployee, {fx::kEmployee2}))
           .status,
       "PR1");
  must(s.Call(s.recognition(), &v1::Recognition::Stub::NominateCase,
              NominateCaseReq(kCase, {fx::kEmployee}))
           .status,
       "K1");
}

// How a row's message must name its field.
enum class Names { kFirst, kSomewhere };

struct Case {
  std::string rpc;
  std::string what;
  std::function<grpc::Status(TestServer&)> call;
  std::set<StatusCode> codes;  // the accepted codes (one, except where the contract allows two)
  std::string field;
  Names names = Names::kFirst;
};

struct Table {
  std::vector<Case> cases;
  std::map<std::string, std::function<grpc::Status(TestServer&)>> valid;
};

// Rows for one RPC: a valid request, a sender, and mutations of the request.
template <typename Req>
class Rows {
 public:
  using Send = std::function<grpc::Status(TestServer&, const Req&)>;
  Rows(Table& table, std::string rpc, std::function<Req()> valid, Send send)
      : table_(table), rpc_(std::move(rpc)), valid_(std::move(valid)), send_(std::move(send)) {
    table_.valid[rpc_] = [valid = valid_, send = send_](TestServer& s) { return send(s, valid()); };
    Generic();
  }

  Rows& Bad(std::string what, std::function<void(Req&)> mutate, StatusCode code,
            std::string field) {
    return Bad(std::move(what), std::move(mutate), std::set<StatusCode>{code}, std::move(field));
  }
  Rows& Bad(std::string what, std::function<void(Req&)> mutate, std::set<StatusCode> codes,
            std::string field, Names names = Names::kFirst) {
    table_.cases.push_back(
        {rpc_, std::move(what),
         [valid = valid_, send = send_, mutate = std::move(mutate)](TestServer& s) {
           Req r = valid();
           mutate(r);
           return send(s, r);
         },
         std::move(codes), std::move(field), names});
    return *this;
  }
  // A row whose message names the field somewhere, not necessarily first.
  Rows& BadSomewhere(std::string what, std::function<void(Req&)> mutate, StatusCode code,
                     std::string field) {
    return Bad(std::move(what), std::move(mutate), std::set<StatusCode>{code}, std::move(field),
               Names::kSomewhere);
  }

 private:
  // Rows every command shares through its CommandMeta.
  void Generic() {
    Bad("meta.occurred_at nanos out of range",
        [](Req& r) { *r.mutable_meta()->mutable_occurred_at() = Ts(1'767'225'600, -1); },
        StatusCode::INVALID_ARGUMENT, "meta.occurred_at");
    Bad("meta.occurred_at nanos of 1e9",
        [](Req& r) { *r.mutable_meta()->mutable_occurred_at() = Ts(1'767'225'600, 1'000'000'000); },
        StatusCode::INVALID_ARGUMENT, "meta.occurred_at");
    Bad("meta.occurred_at in the year 10000",
        [](Req& r) { *r.mutable_meta()->mutable_occurred_at() = Ts(kYear10000); },
        StatusCode::INVALID_ARGUMENT, "meta.occurred_at");
    Bad("oversized meta.idempotency_key",
        [](Req& r) { r.mutable_meta()->set_idempotency_key(kLongId); },
        StatusCode::INVALID_ARGUMENT, "meta.idempotency_key");
    Bad("malformed meta.correlation_id",
        [](Req& r) { r.mutable_meta()->set_correlation_id("not an id"); },
        StatusCode::INVALID_ARGUMENT, "meta.correlation_id");
    Bad("reserved meta.event_id prefix", [](Req& r) { r.mutable_meta()->set_event_id("pl-1"); },
        StatusCode::INVALID_ARGUMENT, "meta.event_id");
    Bad("reused meta.event_id", [](Req& r) { r.mutable_meta()->set_event_id(kUsedEventId); },
        StatusCode::ALREADY_EXISTS, "meta.event_id");
    Bad("reused meta.event_id under a new idempotency key",
        [](Req& r) {
          r.mutable_meta()->set_event_id(kUsedEventId);
          r.mutable_meta()->set_idempotency_key("fresh-key");
        },
        StatusCode::ALREADY_EXISTS, "meta.event_id");
    Bad("idempotency key of a different command",
        [](Req& r) { r.mutable_meta()->set_idempotency_key(kUsedKey); },
        StatusCode::ALREADY_EXISTS, "meta.idempotency_key");
    Bad("wrong meta.expected_version",
        [](Req& r) { r.mutable_meta()->set_expected_version(999); }, StatusCode::ABORTED,
        "meta.expected_version");
  }

  Table& table_;
  std::string rpc_;
  std::function<Req()> valid_;
  Send send_;
};

template <typename Stub, typename Req>
std::function<grpc::Status(TestServer&, const Req&)> Unary(
    Stub& (TestServer::*stub)(),
    grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, v1::CommandResult*)) {
  return [stub, method](TestServer& s, const Req& r) { return s.Call((s.*stub)(), method, r).status; };
}

// One batch over a client stream.
grpc::Status StreamOne(TestServer& s, const v1::ObserveMetricsRequest& r) {
  grpc::ClientContext context;
  s.Prepare(context);
  v1::ObserveMetricsSummary summary;
  auto writer = s.metrics().StreamMetrics(&context, &summary);
  writer->Write(r);
  writer->WritesDone();
  return writer->Finish();
}

// Rows shared by the two batch RPCs (ObserveMetrics and StreamMetrics).
void BatchRows(Rows<v1::ObserveMetricsRequest>& rows) {
  using Req = v1::ObserveMetricsRequest;
  rows.Bad("no observations", [](Req& r) { r.clear_observations(); },
           StatusCode::INVALID_ARGUMENT, "observations")
      .Bad("more than kObservationsPerRequestMax observations",
           [](Req& r) {
             while (r.observations_size() <= static_cast<int>(limits::kObservationsPerRequestMax)) {
               *r.add_observations() = Obs();
             }
           },
           {StatusCode::INVALID_ARGUMENT, StatusCode::RESOURCE_EXHAUSTED}, "observations")
      .Bad("unknown subject", [](Req& r) { r.mutable_observations(1)->set_subject_id("NOPE"); },
           StatusCode::NOT_FOUND, "observations[1].subject_id")
      .Bad("departed subject",
           [](Req& r) { r.mutable_observations(2)->set_subject_id(kDeparted); },
           StatusCode::FAILED_PRECONDITION, "observations[2].subject_id")
      .Bad("unknown org unit subject",
           [](Req& r) {
             r.mutable_observations(0)->set_subject_kind(v1::OWNER_KIND_ORG_UNIT);
             r.mutable_observations(0)->set_subject_id("ORG-NOPE");
           },
           StatusCode::NOT_FOUND, "observations[0].subject_id")
      .Bad("subject_kind outside the enum",
           [](Req& r) { r.mutable_observations(0)->set_subject_kind(static_cast<v1::OwnerKind>(7)); },
           StatusCode::INVALID_ARGUMENT, "observations[0].subject_kind")
      .Bad("missing metric", [](Req& r) { r.mutable_observations(1)->clear_metric(); },
           StatusCode::INVALID_ARGUMENT, "observations[1].metric")
      .Bad("oversized unit", [](Req& r) { r.mutable_observations(0)->set_unit(kLongName); },
           StatusCode::INVALID_ARGUMENT, "observations[0].unit")
      .Bad("value out of range",
           [](Req& r) { r.mutable_observations(2)->set_value_milli(-kMetricTooBig); },
           StatusCode::INVALID_ARGUMENT, "observations[2].value_milli")
      .Bad("observed_at nanos out of range",
           [](Req& r) { *r.mutable_observations(1)->mutable_observed_at() = Ts(0, 1'000'000'000); },
           StatusCode::INVALID_ARGUMENT, "observations[1].observed_at")
      .Bad("observed_at in the year 10000",
           [](Req& r) { *r.mutable_observations(1)->mutable_observed_at() = Ts(kYear10000); },
           StatusCode::INVALID_ARGUMENT, "observations[1].observed_at")
      .Bad("unknown cycle", [](Req& r) { r.mutable_observations(0)->set_cycle_id("C-NOPE"); },
           StatusCode::NOT_FOUND, "observations[0].cycle_id")
      .Bad("malformed event id", [](Req& r) { r.mutable_observations(0)->set_event_id("a b"); },
           StatusCode::INVALID_ARGUMENT, "observations[0].event_id")
      .Bad("duplicate event ids within the batch",
           [](Req& r) {
             r.mutable_observations(0)->set_event_id("dup-1");
             r.mutable_observations(2)->set_event_id("dup-1");
           },
           StatusCode::INVALID_ARGUMENT, "event_id")
      .Bad("reused observation event id with other content",
           [](Req& r) { r.mutable_observations(1)->set_event_id(kUsedObservationId); },
           StatusCode::ALREADY_EXISTS, "observations[1].event_id")
      .Bad("expected_version over several subjects",
           [](Req& r) {
             r.mutable_meta()->set_expected_version(0);
             r.mutable_observations(1)->set_subject_id(fx::kEmployee2);
           },
           StatusCode::INVALID_ARGUMENT, "meta.expected_version");
}

Table BuildTable() {
  Table t;
  using Code = StatusCode;
  {
    using Req = v1::DefineOrgUnitRequest;
    Rows<Req>(t, "DefineOrgUnit", [] { return DefineOrgUnitReq("ORG9", fx::kOrg, fx::kManager); },
              Unary(&TestServer::people, &v1::People::Stub::DefineOrgUnit))
        .Bad("oversized org_unit_id", [](Req& r) { r.set_org_unit_id(kLongId); },
             Code::INVALID_ARGUMENT, "org_unit_id")
        .Bad("missing name", [](Req& r) { r.clear_name(); }, Code::INVALID_ARGUMENT, "name")
        .Bad("oversized name", [](Req& r) { r.set_name(kLongName); }, Code::INVALID_ARGUMENT,
             "name")
        .Bad("unknown parent", [](Req& r) { r.set_parent_id("ORG-NOPE"); }, Code::NOT_FOUND,
             "parent_id")
        .Bad("its own parent", [](Req& r) { r.set_parent_id("ORG9"); }, Code::INVALID_ARGUMENT,
             "parent_id")
        .Bad("a cycle in the hierarchy",
             [](Req& r) {
               r.set_org_unit_id(fx::kOrg);
               r.set_parent_id(fx::kSubOrg);
             },
             Code::INVALID_ARGUMENT, "parent_id")
        .Bad("unknown manager", [](Req& r) { r.set_manager_id("M-NOPE"); }, Code::NOT_FOUND,
             "manager_id")
        .Bad("departed manager", [](Req& r) { r.set_manager_id(kDeparted); },
             Code::FAILED_PRECONDITION, "manager_id");
  }
  {
    using Req = v1::RegisterEmployeeRequest;
    Rows<Req>(t, "RegisterEmployee", [] { return RegisterEmployeeReq("E9"); },
              Unary(&TestServer::people, &v1::People::Stub::RegisterEmployee))
        .Bad("malformed employee_id", [](Req& r) { r.set_employee_id("E 9"); },
             Code::INVALID_ARGUMENT, "employee_id")
        .Bad("oversized name", [](Req& r) { r.set_name(kLongName); }, Code::INVALID_ARGUMENT,
             "name")
        .Bad("oversized email", [](Req& r) { r.set_email(kLongName); }, Code::INVALID_ARGUMENT,
             "email")
        .Bad("missing base_salary", [](Req& r) { r.clear_base_salary(); },
             Code::INVALID_ARGUMENT, "base_salary")
        .Bad("negative base_salary", [](Req& r) { r.mutable_base_salary()->set_amount_minor(-1); },
             Code::INVALID_ARGUMENT, "base_salary.amount_minor")
        .Bad("base_salary over the money limit",
             [](Req& r) { r.mutable_base_salary()->set_amount_minor(limits::kMoneyMinorMax + 1); },
             Code::INVALID_ARGUMENT, "base_salary.amount_minor")
        .Bad("lower-case currency", [](Req& r) { r.mutable_base_salary()->set_currency("eur"); },
             Code::INVALID_ARGUMENT, "base_salary.currency")
        .Bad("four-letter currency",
             [](Req& r) { r.mutable_band_midpoint()->set_currency("EURO"); },
             Code::INVALID_ARGUMENT, "band_midpoint.currency")
        .Bad("band midpoint in another currency",
             [](Req& r) { r.mutable_band_midpoint()->set_currency("USD"); },
             Code::INVALID_ARGUMENT, "band_midpoint.currency")
        .Bad("negative band_midpoint",
             [](Req& r) { r.mutable_band_midpoint()->set_amount_minor(-5); },
             Code::INVALID_ARGUMENT, "band_midpoint.amount_minor")
        .Bad("hired_at nanos out of range", [](Req& r) { r.mutable_hired_at()->set_nanos(-1); },
             Code::INVALID_ARGUMENT, "hired_at")
        .Bad("hired_at in the year 10000", [](Req& r) { *r.mutable_hired_at() = Ts(kYear10000); },
             Code::INVALID_ARGUMENT, "hired_at")
        .Bad("unknown org unit", [](Req& r) { r.set_org_unit_id("ORG-NOPE"); }, Code::NOT_FOUND,
             "org_unit_id")
        .Bad("unknown manager", [](Req& r) { r.set_manager_id("M-NOPE"); }, Code::NOT_FOUND,
             "manager_id")
        .Bad("departed manager", [](Req& r) { r.set_manager_id(kDeparted); },
             Code::FAILED_PRECONDITION, "manager_id")
        .Bad("managing themselves", [](Req& r) { r.set_manager_id("E9"); },
             Code::INVALID_ARGUMENT, "manager_id")
        .Bad("already registered", [](Req& r) { r.set_employee_id(fx::kEmployee); },
             Code::ALREADY_EXISTS, "employee_id");
  }
  {
    using Req = v1::UpdateEmployeeRequest;
    Rows<Req>(t, "UpdateEmployee", [] { return UpdateEmployeeReq(fx::kEmployee2); },
              Unary(&TestServer::people, &v1::People::Stub::UpdateEmployee))
        .Bad("unknown employee", [](Req& r) { r.set_employee_id("E-NOPE"); }, Code::NOT_FOUND,
             "employee_id")
        .Bad("departed employee", [](Req& r) { r.set_employee_id(kDeparted); },
             Code::FAILED_PRECONDITION, "employee_id")
        .Bad("empty update_mask", [](Req& r) { r.clear_update_mask(); }, Code::INVALID_ARGUMENT,
             "update_mask")
        .Bad("too many update_mask entries",
             [](Req& r) {
               for (size_t i = 0; i <= limits::kListItemsMax; i++) r.add_update_mask("name");
             },
             Code::INVALID_ARGUMENT, "update_mask")
        .Bad("unknown field in update_mask", [](Req& r) { r.add_update_mask("salary"); },
             Code::INVALID_ARGUMENT, "update_mask[2]")
        .Bad("negative base_salary", [](Req& r) { r.mutable_base_salary()->set_amount_minor(-1); },
             Code::INVALID_ARGUMENT, "base_salary.amount_minor")
        .Bad("bad currency", [](Req& r) { r.mutable_base_salary()->set_currency("E1R"); },
             Code::INVALID_ARGUMENT, "base_salary.currency")
        .Bad("oversized job_level", [](Req& r) { r.set_job_level(kLongName); },
             Code::INVALID_ARGUMENT, "job_level")
        .Bad("oversized reason", [](Req& r) { r.set_reason(kLongText); }, Code::INVALID_ARGUMENT,
             "reason")
        .Bad("unknown org unit",
             [](Req& r) {
               r.add_update_mask("org_unit_id");
               r.set_org_unit_id("ORG-NOPE");
             },
             Code::NOT_FOUND, "org_unit_id")
        .Bad("managing themselves",
             [](Req& r) {
               r.add_update_mask("manager_id");
               r.set_manager_id(fx::kEmployee2);
             },
             Code::INVALID_ARGUMENT, "manager_id")
        .Bad("departed manager",
             [](Req& r) {
               r.add_update_mask("manager_id");
               r.set_manager_id(kDeparted);
             },
             Code::FAILED_PRECONDITION, "manager_id");
  }
  {
    using Req = v1::RecordDepartureRequest;
    Rows<Req>(t, "RecordDeparture", [] { return RecordDepartureReq(fx::kEmployee2); },
              Unary(&TestServer::people, &v1::People::Stub::RecordDeparture))
        .Bad("missing employee_id", [](Req& r) { r.clear_employee_id(); },
             Code::INVALID_ARGUMENT, "employee_id")
        .Bad("unknown employee", [](Req& r) { r.set_employee_id("E-NOPE"); }, Code::NOT_FOUND,
             "employee_id")
        .Bad("departed already", [](Req& r) { r.set_employee_id(kDeparted); },
             Code::FAILED_PRECONDITION, "employee_id")
        .Bad("oversized reason", [](Req& r) { r.set_reason(kLongText); }, Code::INVALID_ARGUMENT,
             "reason");
  }
  {
    using Req = v1::OpenCycleRequest;
    Rows<Req>(t, "OpenCycle", [] { return OpenCycleReq("C9"); },
              Unary(&TestServer::cycles, &v1::Cycles::Stub::OpenCycle))
        .Bad("oversized cycle_id", [](Req& r) { r.set_cycle_id(kLongId); },
             Code::INVALID_ARGUMENT, "cycle_id")
        .Bad("oversized name", [](Req& r) { r.set_name(kLongName); }, Code::INVALID_ARGUMENT,
             "name")
        .Bad("missing period_start", [](Req& r) { r.clear_period_start(); },
             Code::INVALID_ARGUMENT, "period_start")
        .Bad("period_start in the year 10000",
             [](Req& r) { *r.mutable_period_start() = Ts(kYear10000); }, Code::INVALID_ARGUMENT,
             "period_start")
        .Bad("period_end nanos out of range",
             [](Req& r) { r.mutable_period_end()->set_nanos(1'000'000'000); },
             Code::INVALID_ARGUMENT, "period_end")
        .Bad("period_end before period_start",
             [](Req& r) { *r.mutable_period_end() = Ts(1'700'000'000); }, Code::INVALID_ARGUMENT,
             "period_end")
        .Bad("too many grades",
             [](Req& r) {
               for (size_t i = 0; i <= limits::kGradesMax; i++) r.add_grades("G" + std::to_string(i));
             },
             Code::INVALID_ARGUMENT, "grades")
        .Bad("duplicate grade",
             [](Req& r) {
               r.add_grades("A");
               r.add_grades("A");
             },
             Code::INVALID_ARGUMENT, "grades[1]")
        .Bad("malformed grade", [](Req& r) { r.add_grades("A B"); }, Code::INVALID_ARGUMENT,
             "grades[0]")
        .Bad("existing cycle", [](Req& r) { r.set_cycle_id(fx::kCycle); }, Code::ALREADY_EXISTS,
             "cycle_id");
  }
  {
    using Req = v1::CloseCycleRequest;
    Rows<Req>(t, "CloseCycle", [] { return CloseCycleReq(fx::kCycle); },
              Unary(&TestServer::cycles, &v1::Cycles::Stub::CloseCycle))
        .Bad("malformed cycle_id", [](Req& r) { r.set_cycle_id("C/1"); }, Code::INVALID_ARGUMENT,
             "cycle_id")
        .Bad("unknown cycle", [](Req& r) { r.set_cycle_id("C-NOPE"); }, Code::NOT_FOUND,
             "cycle_id")
        .Bad("closed cycle", [](Req& r) { r.set_cycle_id(kClosedCycle); },
             Code::FAILED_PRECONDITION, "cycle_id");
  }
  {
    using Req = v1::SetGoalRequest;
    Rows<Req>(t, "SetGoal", [] { return SetGoalReq("G9"); },
              Unary(&TestServer::goals, &v1::Goals::Stub::SetGoal))
        .Bad("oversized goal_id", [](Req& r) { r.set_goal_id(kLongId); }, Code::INVALID_ARGUMENT,
             "goal_id")
        .Bad("missing title", [](Req& r) { r.clear_title(); }, Code::INVALID_ARGUMENT, "title")
        .Bad("oversized title", [](Req& r) { r.set_title(kLongName); }, Code::INVALID_ARGUMENT,
             "title")
        .Bad("oversized description", [](Req& r) { r.set_description(kLongText); },
             Code::INVALID_ARGUMENT, "description")
        .Bad("weight over 100 %", [](Req& r) { r.set_weight_bp(10'001); },
             Code::INVALID_ARGUMENT, "weight_bp")
        .Bad("key result weight over 100 %",
             [](Req& r) { r.mutable_key_results(0)->set_weight_bp(10'001); },
             Code::INVALID_ARGUMENT, "key_results[0].weight_bp")
        .Bad("key result weights not summing to 100 %",
             [](Req& r) { r.mutable_key_results(1)->set_weight_bp(3'000); },
             Code::INVALID_ARGUMENT, "key_results")
        .Bad("duplicate key result id",
             [](Req& r) { r.mutable_key_results(1)->set_key_result_id("KR1"); },
             Code::INVALID_ARGUMENT, "key_results[1].key_result_id")
        .Bad("key result target equal to start",
             [](Req& r) { r.mutable_key_results(0)->set_target_milli(0); },
             Code::INVALID_ARGUMENT, "key_results[0].target_milli")
        .Bad("key result start out of range",
             [](Req& r) { r.mutable_key_results(1)->set_start_milli(kMetricTooBig); },
             Code::INVALID_ARGUMENT, "key_results[1].start_milli")
        .Bad("too many key results",
             [](Req& r) {
               r.clear_key_results();
               for (size_t i = 0; i <= limits::kListItemsMax; i++) {
                 auto* kr = r.add_key_results();
                 kr->set_key_result_id("KR" + std::to_string(i));
                 kr->set_description("d");
                 kr->set_target_milli(1);
               }
             },
             Code::INVALID_ARGUMENT, "key_results")
        .Bad("unknown cycle", [](Req& r) { r.set_cycle_id("C-NOPE"); }, Code::NOT_FOUND,
             "cycle_id")
        .Bad("closed cycle", [](Req& r) { r.set_cycle_id(kClosedCycle); },
             Code::FAILED_PRECONDITION, "cycle_id")
        .Bad("unknown owner", [](Req& r) { r.set_owner_id("E-NOPE"); }, Code::NOT_FOUND,
             "owner_id")
        .Bad("departed owner", [](Req& r) { r.set_owner_id(kDeparted); },
             Code::FAILED_PRECONDITION, "owner_id")
        .Bad("unknown org unit owner",
             [](Req& r) {
               r.set_owner_kind(v1::OWNER_KIND_ORG_UNIT);
               r.set_owner_id("ORG-NOPE");
             },
             Code::NOT_FOUND, "owner_id")
        .Bad("unspecified owner kind", [](Req& r) { r.clear_owner_kind(); },
             Code::INVALID_ARGUMENT, "owner_kind")
        .Bad("unknown parent goal", [](Req& r) { r.set_parent_goal_id("G-NOPE"); },
             Code::NOT_FOUND, "parent_goal_id")
        .Bad("aligned to itself", [](Req& r) { r.set_parent_goal_id("G9"); },
             Code::INVALID_ARGUMENT, "parent_goal_id")
        .Bad("existing goal", [](Req& r) { r.set_goal_id(kGoal); }, Code::ALREADY_EXISTS,
             "goal_id");
  }
  {
    using Req = v1::ReviseGoalRequest;
    Rows<Req>(t, "ReviseGoal", [] { return ReviseGoalReq(kGoal); },
              Unary(&TestServer::goals, &v1::Goals::Stub::ReviseGoal))
        .Bad("unknown goal", [](Req& r) { r.set_goal_id("G-NOPE"); }, Code::NOT_FOUND, "goal_id")
        .Bad("closed goal", [](Req& r) { r.set_goal_id(kClosedGoal); },
             Code::FAILED_PRECONDITION, "goal_id")
        .Bad("goal of a closed cycle", [](Req& r) { r.set_goal_id(kGoalOfClosedCycle); },
             Code::FAILED_PRECONDITION, "goal_id")
        .Bad("missing reason", [](Req& r) { r.clear_reason(); }, Code::INVALID_ARGUMENT, "reason")
        .Bad("oversized reason", [](Req& r) { r.set_reason(kLongText); }, Code::INVALID_ARGUMENT,
             "reason")
        .Bad("oversized title", [](Req& r) { r.set_title(kLongName); }, Code::INVALID_ARGUMENT,
             "title")
        .Bad("duplicate key result id",
             [](Req& r) { r.mutable_key_results(0)->set_key_result_id("KR2"); },
             Code::INVALID_ARGUMENT, "key_results[1].key_result_id")
        .Bad("aligned to itself", [](Req& r) { r.set_parent_goal_id(kGoal); },
             Code::INVALID_ARGUMENT, "parent_goal_id")
        .Bad("a cycle in the alignment", [](Req& r) { r.set_parent_goal_id(kChildGoal); },
             Code::INVALID_ARGUMENT, "parent_goal_id");
  }
  {
    using Req = v1::RecordKeyResultProgressRequest;
    Rows<Req>(t, "RecordKeyResultProgress", [] { return ProgressReq(kGoal); },
              Unary(&TestServer::goals, &v1::Goals::Stub::RecordKeyResultProgress))
        .Bad("unknown goal", [](Req& r) { r.set_goal_id("G-NOPE"); }, Code::NOT_FOUND, "goal_id")
        .Bad("closed goal", [](Req& r) { r.set_goal_id(kClosedGoal); },
             Code::FAILED_PRECONDITION, "goal_id")
        .Bad("unknown key result", [](Req& r) { r.set_key_result_id("KR9"); }, Code::NOT_FOUND,
             "key_result_id")
        .Bad("malformed key_result_id", [](Req& r) { r.set_key_result_id("KR#1"); },
             Code::INVALID_ARGUMENT, "key_result_id")
        .Bad("value out of range", [](Req& r) { r.set_value_milli(kMetricTooBig); },
             Code::INVALID_ARGUMENT, "value_milli")
        .Bad("oversized note", [](Req& r) { r.set_note(kLongText); }, Code::INVALID_ARGUMENT,
             "note");
  }
  {
    using Req = v1::CloseGoalRequest;
    Rows<Req>(t, "CloseGoal", [] { return CloseGoalReq(kGoal); },
              Unary(&TestServer::goals, &v1::Goals::Stub::CloseGoal))
        .Bad("unknown goal", [](Req& r) { r.set_goal_id("G-NOPE"); }, Code::NOT_FOUND, "goal_id")
        .Bad("closed goal", [](Req& r) { r.set_goal_id(kClosedGoal); },
             Code::FAILED_PRECONDITION, "goal_id")
        .Bad("OKR grade over 1.0", [](Req& r) { r.set_okr_grade_milli(1'001); },
             Code::INVALID_ARGUMENT, "okr_grade_milli")
        .Bad("oversized reason", [](Req& r) { r.set_reason(kLongText); }, Code::INVALID_ARGUMENT,
             "reason");
  }
  {
    using Req = v1::RecordCheckInRequest;
    Rows<Req>(t, "RecordCheckIn", [] { return CheckInReq(fx::kEmployee, kGoal); },
              Unary(&TestServer::check_ins, &v1::CheckIns::Stub::RecordCheckIn))
        .Bad("unknown employee", [](Req& r) { r.set_employee_id("E-NOPE"); }, Code::NOT_FOUND,
             "employee_id")
        .Bad("departed employee", [](Req& r) { r.set_employee_id(kDeparted); },
             Code::FAILED_PRECONDITION, "employee_id")
        .Bad("unknown manager", [](Req& r) { r.set_manager_id("M-NOPE"); }, Code::NOT_FOUND,
             "manager_id")
        .Bad("departed manager", [](Req& r) { r.set_manager_id(kDeparted); },
             Code::FAILED_PRECONDITION, "manager_id")
        .Bad("the employee as their own manager",
             [](Req& r) { r.set_manager_id(fx::kEmployee); }, Code::INVALID_ARGUMENT,
             "manager_id")
        .Bad("no manager given or on record", [](Req& r) { r.set_employee_id(fx::kManager); },
             Code::INVALID_ARGUMENT, "manager_id")
        .Bad("unknown cycle", [](Req& r) { r.set_cycle_id("C-NOPE"); }, Code::NOT_FOUND,
             "cycle_id")
        .Bad("closed cycle", [](Req& r) { r.set_cycle_id(kClosedCycle); },
             Code::FAILED_PRECONDITION, "cycle_id")
        .Bad("unknown goal in progress",
             [](Req& r) { r.mutable_progress(0)->set_goal_id("G-NOPE"); }, Code::NOT_FOUND,
             "progress[0].goal_id")
        .Bad("progress over 100 %", [](Req& r) { r.mutable_progress(0)->set_progress_bp(10'001); },
             Code::INVALID_ARGUMENT, "progress[0].progress_bp")
        .Bad("too many blockers",
             [](Req& r) {
               for (size_t i = 0; i <= limits::kListItemsMax; i++) r.add_blockers("b");
             },
             Code::INVALID_ARGUMENT, "blockers")
        .Bad("empty blocker", [](Req& r) { r.add_blockers(""); }, Code::INVALID_ARGUMENT,
             "blockers[1]")
        .Bad("oversized notes", [](Req& r) { r.set_notes(kLongText); }, Code::INVALID_ARGUMENT,
             "notes")
        .Bad("oversized support_requested", [](Req& r) { r.set_support_requested(kLongText); },
             Code::INVALID_ARGUMENT, "support_requested");
  }
  {
    using Req = v1::ObserveMetricRequest;
    Rows<Req>(t, "ObserveMetric", [] { return ObserveMetricReq(); },
              Unary(&TestServer::metrics, &v1::Metrics::Stub::ObserveMetric))
        .Bad("missing observation", [](Req& r) { r.clear_observation(); },
             Code::INVALID_ARGUMENT, "observation")
        .Bad("unknown subject",
             [](Req& r) { r.mutable_observation()->set_subject_id("E-NOPE"); }, Code::NOT_FOUND,
             "observation.subject_id")
        .Bad("departed subject",
             [](Req& r) { r.mutable_observation()->set_subject_id(kDeparted); },
             Code::FAILED_PRECONDITION, "observation.subject_id")
        .Bad("missing metric", [](Req& r) { r.mutable_observation()->clear_metric(); },
             Code::INVALID_ARGUMENT, "observation.metric")
        .Bad("oversized metric", [](Req& r) { r.mutable_observation()->set_metric(kLongName); },
             Code::INVALID_ARGUMENT, "observation.metric")
        .Bad("oversized source", [](Req& r) { r.mutable_observation()->set_source(kLongName); },
             Code::INVALID_ARGUMENT, "observation.source")
        .Bad("value out of range",
             [](Req& r) { r.mutable_observation()->set_value_milli(kMetricTooBig); },
             Code::INVALID_ARGUMENT, "observation.value_milli")
        .Bad("observed_at nanos out of range",
             [](Req& r) { *r.mutable_observation()->mutable_observed_at() = Ts(0, -5); },
             Code::INVALID_ARGUMENT, "observation.observed_at")
        .Bad("observed_at in the year 10000",
             [](Req& r) { *r.mutable_observation()->mutable_observed_at() = Ts(kYear10000); },
             Code::INVALID_ARGUMENT, "observation.observed_at")
        .Bad("unknown cycle", [](Req& r) { r.mutable_observation()->set_cycle_id("C-NOPE"); },
             Code::NOT_FOUND, "observation.cycle_id")
        // The observation's event id stands in for meta.event_id, and the messages name that
        // field instead of observation.event_id (see known_bugs_test.cc).
        .BadSomewhere("reused observation event id",
                      [](Req& r) { r.mutable_observation()->set_event_id(kUsedObservationId); },
                      Code::ALREADY_EXISTS, "event_id")
        .BadSomewhere("reserved observation event id prefix",
                      [](Req& r) { r.mutable_observation()->set_event_id("pl-x"); },
                      Code::INVALID_ARGUMENT, "event_id");
  }
  {
    Rows<v1::ObserveMetricsRequest> rows(
        t, "ObserveMetrics", [] { return ObserveMetricsReq(3); },
        Unary(&TestServer::metrics, &v1::Metrics::Stub::ObserveMetrics));
    BatchRows(rows);
  }
  {
    Rows<v1::ObserveMetricsRequest> rows(t, "StreamMetrics", [] { return ObserveMetricsReq(3); },
                                         StreamOne);
    BatchRows(rows);
  }
  {
    using Req = v1::SubmitScoreRequest;
    Rows<Req>(t, "SubmitScore", [] { return SubmitScoreReq("S9"); },
              Unary(&TestServer::reviews, &v1::Reviews::Stub::SubmitScore))
        .Bad("oversized score_id", [](Req& r) { r.set_score_id(kLongId); },
             Code::INVALID_ARGUMENT, "score_id")
        .Bad("no scores", [](Req& r) { r.clear_scores(); }, Code::INVALID_ARGUMENT, "scores")
        .Bad("negative score", [](Req& r) { r.mutable_scores(0)->set_score_milli(-1); },
             Code::INVALID_ARGUMENT, "scores[0].score_milli")
        .Bad("score over the maximum",
             [](Req& r) { r.mutable_scores(1)->set_score_milli(limits::kScoreMilliMax + 1); },
             Code::INVALID_ARGUMENT, "scores[1].score_milli")
        .Bad("duplicate dimension", [](Req& r) { r.mutable_scores(1)->set_dimension("delivery"); },
             Code::INVALID_ARGUMENT, "scores[1].dimension")
        .Bad("oversized dimension", [](Req& r) { r.mutable_scores(0)->set_dimension(kLongName); },
             Code::INVALID_ARGUMENT, "scores[0].dimension")
        .Bad("oversized comment", [](Req& r) { r.set_comment(kLongText); },
             Code::INVALID_ARGUMENT, "comment")
        .Bad("unknown employee", [](Req& r) { r.set_employee_id("E-NOPE"); }, Code::NOT_FOUND,
             "employee_id")
        .Bad("departed employee", [](Req& r) { r.set_employee_id(kDeparted); },
             Code::FAILED_PRECONDITION, "employee_id")
        .Bad("unknown cycle", [](Req& r) { r.set_cycle_id("C-NOPE"); }, Code::NOT_FOUND,
             "cycle_id")
        .Bad("closed cycle", [](Req& r) { r.set_cycle_id(kClosedCycle); },
             Code::FAILED_PRECONDITION, "cycle_id")
        .Bad("unknown reviewer", [](Req& r) { r.set_reviewer_id("M-NOPE"); }, Code::NOT_FOUND,
             "reviewer_id")
        .Bad("departed peer reviewer",
             [](Req& r) {
               r.set_source(v1::SCORE_SOURCE_PEER);
               r.set_reviewer_id(kDeparted);
             },
             Code::FAILED_PRECONDITION, "reviewer_id")
        .Bad("manager score by someone who is not the manager",
             [](Req& r) { r.set_reviewer_id(fx::kEmployee2); }, Code::FAILED_PRECONDITION,
             "reviewer_id")
        .Bad("self review by someone else",
             [](Req& r) { r.set_source(v1::SCORE_SOURCE_SELF); }, Code::INVALID_ARGUMENT,
             "reviewer_id")
        .Bad("peer review by the employee",
             [](Req& r) {
               r.set_source(v1::SCORE_SOURCE_PEER);
               r.set_reviewer_id(fx::kEmployee);
             },
             Code::INVALID_ARGUMENT, "reviewer_id")
        .Bad("unspecified source", [](Req& r) { r.clear_source(); }, Code::INVALID_ARGUMENT,
             "source")
        .Bad("existing score", [](Req& r) { r.set_score_id(kScore); }, Code::ALREADY_EXISTS,
             "score_id");
  }
  {
    using Req = v1::AmendScoreRequest;
    Rows<Req>(t, "AmendScore", [] { return AmendScoreReq(kScore); },
              Unary(&TestServer::reviews, &v1::Reviews::Stub::AmendScore))
        .Bad("unknown score", [](Req& r) { r.set_score_id("S-NOPE"); }, Code::NOT_FOUND,
             "score_id")
        .Bad("score of another employee", [](Req& r) { r.set_employee_id(fx::kEmployee2); },
             Code::INVALID_ARGUMENT, "employee_id")
        .Bad("score of a closed cycle", [](Req& r) { r.set_score_id(kScoreOfClosedCycle); },
             Code::FAILED_PRECONDITION, "score_id")
        .Bad("missing reason", [](Req& r) { r.clear_reason(); }, Code::INVALID_ARGUMENT, "reason")
        .Bad("no scores", [](Req& r) { r.clear_scores(); }, Code::INVALID_ARGUMENT, "scores")
        .Bad("score over the maximum",
             [](Req& r) { r.mutable_scores(0)->set_score_milli(limits::kScoreMilliMax + 1); },
             Code::INVALID_ARGUMENT, "scores[0].score_milli");
  }
  {
    using Req = v1::AdjustCalibrationRequest;
    Rows<Req>(t, "AdjustCalibration", [] { return CalibrationReq(); },
              Unary(&TestServer::reviews, &v1::Reviews::Stub::AdjustCalibration))
        .Bad("unknown employee", [](Req& r) { r.set_employee_id("E-NOPE"); }, Code::NOT_FOUND,
             "employee_id")
        .Bad("unknown cycle", [](Req& r) { r.set_cycle_id("C-NOPE"); }, Code::NOT_FOUND,
             "cycle_id")
        .Bad("closed cycle", [](Req& r) { r.set_cycle_id(kClosedCycle); },
             Code::FAILED_PRECONDITION, "cycle_id")
        .Bad("negative score", [](Req& r) { r.set_calibrated_score_milli(-1); },
             Code::INVALID_ARGUMENT, "calibrated_score_milli")
        .Bad("missing reason", [](Req& r) { r.clear_reason(); }, Code::INVALID_ARGUMENT, "reason")
        .Bad("oversized committee", [](Req& r) { r.set_committee(kLongName); },
             Code::INVALID_ARGUMENT, "committee");
  }
  {
    using Req = v1::FinalizeGradeRequest;
    Rows<Req>(t, "FinalizeGrade", [] { return FinalizeGradeReq(); },
              Unary(&TestServer::reviews, &v1::Reviews::Stub::FinalizeGrade))
        .Bad("unknown dispute", [](Req& r) { r.set_dispute_id("DS-NOPE"); }, Code::NOT_FOUND,
             "dispute_id")
        .Bad("a dispute of another employee's grade",
             [](Req& r) {
               r.set_employee_id(fx::kEmployee2);
               r.set_dispute_id(kDispute);
             },
             Code::INVALID_ARGUMENT, "dispute_id")
        .Bad("unknown employee", [](Req& r) { r.set_employee_id("E-NOPE"); }, Code::NOT_FOUND,
             "employee_id")
        .Bad("unknown cycle", [](Req& r) { r.set_cycle_id("C-NOPE"); }, Code::NOT_FOUND,
             "cycle_id")
        .Bad("closed cycle", [](Req& r) { r.set_cycle_id(kClosedCycle); },
             Code::FAILED_PRECONDITION, "cycle_id")
        .Bad("grade outside the cycle's scale", [](Req& r) { r.set_grade("E"); },
             Code::INVALID_ARGUMENT, "grade")
        // Without a grade, the policy in force computes it; there is none here.
        .Bad("no grade and no policy", [](Req& r) { r.clear_grade(); },
             Code::FAILED_PRECONDITION, "grade")
        .Bad("no grade and no employee",
             [](Req& r) {
               r.clear_grade();
               r.clear_employee_id();
             },
             Code::INVALID_ARGUMENT, "employee_id")
        .Bad("negative score", [](Req& r) { r.set_score_milli(-1); }, Code::INVALID_ARGUMENT,
             "score_milli");
  }
  {
    using Req = v1::RecordFeedbackRequest;
    Rows<Req>(t, "RecordFeedback", [] { return FeedbackReq(); },
              Unary(&TestServer::reviews, &v1::Reviews::Stub::RecordFeedback))
        .Bad("unknown employee", [](Req& r) { r.set_employee_id("E-NOPE"); }, Code::NOT_FOUND,
             "employee_id")
        .Bad("unknown cycle", [](Req& r) { r.set_cycle_id("C-NOPE"); }, Code::NOT_FOUND,
             "cycle_id")
        .Bad("missing feedback", [](Req& r) { r.clear_feedback(); }, Code::INVALID_ARGUMENT,
             "feedback")
        .Bad("oversized feedback", [](Req& r) { r.set_feedback(kLongText); },
             Code::INVALID_ARGUMENT, "feedback");
  }
  {
    using Req = v1::AcknowledgeGradeRequest;
    Rows<Req>(t, "AcknowledgeGrade",
              [] {
                Req r;
                r.set_employee_id(fx::kEmployee);
                r.set_cycle_id(fx::kCycle);
                r.set_response(v1::ACKNOWLEDGEMENT_RESPONSE_AGREE);
                r.set_comment("fair");
                return r;
              },
              Unary(&TestServer::reviews, &v1::Reviews::Stub::AcknowledgeGrade))
        .Bad("unknown employee", [](Req& r) { r.set_employee_id("E-NOPE"); }, Code::NOT_FOUND,
             "employee_id")
        .Bad("departed employee", [](Req& r) { r.set_employee_id(kDeparted); },
             Code::FAILED_PRECONDITION, "employee_id")
        .Bad("unknown cycle", [](Req& r) { r.set_cycle_id("C-NOPE"); }, Code::NOT_FOUND,
             "cycle_id")
        .Bad("no grade in the cycle", [](Req& r) { r.set_cycle_id(kClosedCycle); },
             Code::FAILED_PRECONDITION, "cycle_id")
        .Bad("missing response",
             [](Req& r) { r.set_response(v1::ACKNOWLEDGEMENT_RESPONSE_UNSPECIFIED); },
             Code::INVALID_ARGUMENT, "response")
        .Bad("oversized comment", [](Req& r) { r.set_comment(kLongText); },
             Code::INVALID_ARGUMENT, "comment");
  }
  {
    using Req = v1::RaiseDisputeRequest;
    Rows<Req>(t, "RaiseDispute",
              [] {
                Req r;
                r.set_dispute_id("DS2");
                r.set_employee_id(fx::kEmployee2);
                r.set_cycle_id(fx::kCycle);
                r.set_grounds("the score misses the launch");
                return r;
              },
              Unary(&TestServer::reviews, &v1::Reviews::Stub::RaiseDispute))
        .Bad("missing dispute_id", [](Req& r) { r.clear_dispute_id(); }, Code::INVALID_ARGUMENT,
             "dispute_id")
        .Bad("malformed dispute_id", [](Req& r) { r.set_dispute_id("a b"); },
             Code::INVALID_ARGUMENT, "dispute_id")
        .Bad("existing dispute_id", [](Req& r) { r.set_dispute_id(kDispute); },
             Code::ALREADY_EXISTS, "dispute_id")
        .Bad("unknown employee", [](Req& r) { r.set_employee_id("E-NOPE"); }, Code::NOT_FOUND,
             "employee_id")
        .Bad("missing grounds", [](Req& r) { r.clear_grounds(); }, Code::INVALID_ARGUMENT,
             "grounds")
        .Bad("oversized grounds", [](Req& r) { r.set_grounds(kLongText); },
             Code::INVALID_ARGUMENT, "grounds")
        .Bad("a dimension named twice",
             [](Req& r) {
               r.add_dimensions("delivery");
               r.add_dimensions("delivery");
             },
             Code::INVALID_ARGUMENT, "dimensions[1]")
        .Bad("a dimension the employee was not scored on",
             [](Req& r) { r.add_dimensions("charisma"); }, Code::INVALID_ARGUMENT,
             "dimensions[0]")
        .Bad("no grade in the cycle", [](Req& r) { r.set_cycle_id(kClosedCycle); },
             Code::FAILED_PRECONDITION, "cycle_id")
        .Bad("a dispute of the grade is open", [](Req& r) { r.set_employee_id(fx::kEmployee); },
             Code::FAILED_PRECONDITION, "cycle_id")
        .Bad("after the window",
             [](Req& r) { *r.mutable_meta()->mutable_occurred_at() = Ts(4'102'444'800); },
             Code::FAILED_PRECONDITION, "cycle_id")
        .Bad("before the grade",
             [](Req& r) { *r.mutable_meta()->mutable_occurred_at() = Ts(1'000'000'000); },
             Code::INVALID_ARGUMENT, "meta.occurred_at");
  }
  {
    using Req = v1::ResolveDisputeRequest;
    Rows<Req>(t, "ResolveDispute",
              [] {
                Req r;
                r.set_dispute_id(kDispute);
                r.set_outcome(v1::DISPUTE_OUTCOME_REJECTED);
                r.set_reason("the launch slipped to the next half");
                return r;
              },
              Unary(&TestServer::reviews, &v1::Reviews::Stub::ResolveDispute))
        .Bad("unknown dispute", [](Req& r) { r.set_dispute_id("DS-NOPE"); }, Code::NOT_FOUND,
             "dispute_id")
        .Bad("malformed dispute_id", [](Req& r) { r.set_dispute_id("a b"); },
             Code::INVALID_ARGUMENT, "dispute_id")
        .Bad("missing outcome", [](Req& r) { r.clear_outcome(); }, Code::INVALID_ARGUMENT,
             "outcome")
        .Bad("unknown outcome", [](Req& r) { r.set_outcome(static_cast<v1::DisputeOutcome>(9)); },
             Code::INVALID_ARGUMENT, "outcome")
        .Bad("missing reason", [](Req& r) { r.clear_reason(); }, Code::INVALID_ARGUMENT,
             "reason")
        .Bad("oversized reason", [](Req& r) { r.set_reason(kLongText); },
             Code::INVALID_ARGUMENT, "reason");
  }
  {
    using Req = v1::RecordTrainingRequest;
    Rows<Req>(t, "RecordTraining", [] { return TrainingReq(); },
              Unary(&TestServer::training, &v1::Training::Stub::RecordTraining))
        .Bad("unknown employee", [](Req& r) { r.set_employee_id("E-NOPE"); }, Code::NOT_FOUND,
             "employee_id")
        .Bad("missing course_id", [](Req& r) { r.clear_course_id(); }, Code::INVALID_ARGUMENT,
             "course_id")
        .Bad("malformed action_id", [](Req& r) { r.set_action_id("a b"); },
             Code::INVALID_ARGUMENT, "action_id")
        .Bad("oversized lms_reference", [](Req& r) { r.set_lms_reference(kLongName); },
             Code::INVALID_ARGUMENT, "lms_reference")
        .Bad("unknown verb", [](Req& r) { r.set_verb("attempted"); }, Code::INVALID_ARGUMENT,
             "verb")
        .Bad("score over 100 %", [](Req& r) { r.set_score_milli(100'001); },
             Code::INVALID_ARGUMENT, "score_milli");
  }
  {
    using Req = v1::GivePraiseRequest;
    Rows<Req>(t, "GivePraise", [] { return PraiseReq("PR9", fx::kEmployee, {fx::kEmployee2}); },
              Unary(&TestServer::recognition, &v1::Recognition::Stub::GivePraise))
        .Bad("oversized praise_id", [](Req& r) { r.set_praise_id(kLongId); },
             Code::INVALID_ARGUMENT, "praise_id")
        .Bad("missing giver_id", [](Req& r) { r.clear_giver_id(); }, Code::INVALID_ARGUMENT,
             "giver_id")
        .Bad("no recipients", [](Req& r) { r.clear_recipient_ids(); }, Code::INVALID_ARGUMENT,
             "recipient_ids")
        .Bad("more than kPraiseRecipientsMax recipients",
             [](Req& r) {
               while (r.recipient_ids_size() <= static_cast<int>(limits::kPraiseRecipientsMax)) {
                 r.add_recipient_ids(absl::StrCat("R", r.recipient_ids_size()));
               }
             },
             Code::RESOURCE_EXHAUSTED, "recipient_ids")
        .Bad("malformed recipient", [](Req& r) { r.set_recipient_ids(0, "a b"); },
             Code::INVALID_ARGUMENT, "recipient_ids[0]")
        .Bad("recipient named twice", [](Req& r) { r.add_recipient_ids(fx::kEmployee2); },
             Code::INVALID_ARGUMENT, "recipient_ids[1]")
        .Bad("self-praise", [](Req& r) { r.add_recipient_ids(fx::kEmployee); },
             Code::INVALID_ARGUMENT, "recipient_ids[1]")
        .Bad("unknown recipient", [](Req& r) { r.set_recipient_ids(0, "E-NOPE"); },
             Code::NOT_FOUND, "recipient_ids[0]")
        .Bad("departed recipient", [](Req& r) { r.set_recipient_ids(0, kDeparted); },
             Code::FAILED_PRECONDITION, "recipient_ids[0]")
        .Bad("unknown giver", [](Req& r) { r.set_giver_id("E-NOPE"); }, Code::NOT_FOUND,
             "giver_id")
        .Bad("departed giver", [](Req& r) { r.set_giver_id(kDeparted); },
             Code::FAILED_PRECONDITION, "giver_id")
        .Bad("no values", [](Req& r) { r.clear_values(); }, Code::INVALID_ARGUMENT, "values")
        .Bad("malformed value tag", [](Req& r) { r.set_values(0, "Customer First"); },
             Code::INVALID_ARGUMENT, "values[0]")
        .Bad("oversized value tag",
             [](Req& r) { r.set_values(0, std::string(limits::kPraiseValueBytesMax + 1, 'v')); },
             Code::INVALID_ARGUMENT, "values[0]")
        .Bad("more than kPraiseValuesMax values",
             [](Req& r) {
               while (r.values_size() <= static_cast<int>(limits::kPraiseValuesMax)) {
                 r.add_values(absl::StrCat("value-", r.values_size()));
               }
             },
             Code::INVALID_ARGUMENT, "values")
        .Bad("value named twice", [](Req& r) { r.add_values("customer-first"); },
             Code::INVALID_ARGUMENT, "values[1]")
        .Bad("missing message", [](Req& r) { r.clear_message(); }, Code::INVALID_ARGUMENT,
             "message")
        .Bad("oversized message", [](Req& r) { r.set_message(kLongText); },
             Code::INVALID_ARGUMENT, "message")
        .Bad("unspecified visibility", [](Req& r) { r.clear_visibility(); },
             Code::INVALID_ARGUMENT, "visibility")
        .Bad("existing praise", [](Req& r) { r.set_praise_id(kPraise); }, Code::ALREADY_EXISTS,
             "praise_id");
  }
  {
    using Req = v1::NominateCaseRequest;
    Rows<Req>(t, "NominateCase",
              [] {
                auto r = NominateCaseReq("K9", {fx::kEmployee});
                r.mutable_evidence()->add_goal_ids(kGoal);
                return r;
              },
              Unary(&TestServer::recognition, &v1::Recognition::Stub::NominateCase))
        .Bad("oversized case_id", [](Req& r) { r.set_case_id(kLongId); },
             Code::INVALID_ARGUMENT, "case_id")
        .Bad("no subjects", [](Req& r) { r.clear_subject_ids(); }, Code::INVALID_ARGUMENT,
             "subject_ids")
        .Bad("more than kCaseSubjectsMax subjects",
             [](Req& r) {
               while (r.subject_ids_size() <= static_cast<int>(limits::kCaseSubjectsMax)) {
                 r.add_subject_ids(absl::StrCat("S", r.subject_ids_size()));
               }
             },
             Code::INVALID_ARGUMENT, "subject_ids")
        .Bad("malformed subject", [](Req& r) { r.set_subject_ids(0, "a b"); },
             Code::INVALID_ARGUMENT, "subject_ids[0]")
        .Bad("subject named twice", [](Req& r) { r.add_subject_ids(fx::kEmployee); },
             Code::INVALID_ARGUMENT, "subject_ids[1]")
        .Bad("unknown subject", [](Req& r) { r.set_subject_ids(0, "E-NOPE"); }, Code::NOT_FOUND,
             "subject_ids[0]")
        .Bad("departed subject", [](Req& r) { r.add_subject_ids(kDeparted); },
             Code::FAILED_PRECONDITION, "subject_ids[1]")
        .Bad("missing title", [](Req& r) { r.clear_title(); }, Code::INVALID_ARGUMENT, "title")
        .Bad("oversized title", [](Req& r) { r.set_title(kLongName); }, Code::INVALID_ARGUMENT,
             "title")
        .Bad("missing story", [](Req& r) { r.clear_story(); }, Code::INVALID_ARGUMENT, "story")
        .Bad("unknown goal", [](Req& r) { r.mutable_evidence()->set_goal_ids(0, "G-NOPE"); },
             Code::NOT_FOUND, "evidence.goal_ids[0]")
        .Bad("goal of someone else",
             [](Req& r) { r.mutable_evidence()->set_goal_ids(0, kChildGoal); },
             Code::INVALID_ARGUMENT, "evidence.goal_ids[0]")
        .Bad("unknown key result",
             [](Req& r) {
               auto* kr = r.mutable_evidence()->add_key_results();
               kr->set_goal_id(kGoal);
               kr->set_key_result_id("KR-NOPE");
             },
             Code::NOT_FOUND, "evidence.key_results[0].key_result_id")
        .Bad("unknown metric event",
             [](Req& r) { r.mutable_evidence()->add_metric_event_ids("ev-nope"); },
             Code::NOT_FOUND, "evidence.metric_event_ids[0]")
        .Bad("a metric observation named as a grade",
             [](Req& r) { r.mutable_evidence()->add_grade_event_ids(kUsedEventId); },
             Code::INVALID_ARGUMENT, "evidence.grade_event_ids[0]")
        .Bad("unknown action", [](Req& r) { r.mutable_evidence()->add_action_ids("A-NOPE"); },
             Code::NOT_FOUND, "evidence.action_ids[0]")
        .Bad("more than kCaseEvidenceMax evidence ids",
             [](Req& r) {
               for (size_t i = 0; i < limits::kCaseEvidenceMax; i++) {
                 r.mutable_evidence()->add_goal_ids(absl::StrCat("G-", i));
               }
             },
             Code::INVALID_ARGUMENT, "evidence")
        .Bad("existing case", [](Req& r) { r.set_case_id(kCase); }, Code::ALREADY_EXISTS,
             "case_id");
  }
  return t;
}

const Table& AllRows() {
  static const Table* kTable = new Table(BuildTable());
  return *kTable;
}

const std::vector<std::string> kCommandRpcs = {
    "DefineOrgUnit", "RegisterEmployee", "UpdateEmployee", "RecordDeparture",
    "OpenCycle", "CloseCycle", "SetGoal", "ReviseGoal", "RecordKeyResultProgress", "CloseGoal",
    "RecordCheckIn", "ObserveMetric", "ObserveMetrics", "StreamMetrics", "SubmitScore",
    "AmendScore", "AdjustCalibration", "FinalizeGrade", "RecordFeedback", "AcknowledgeGrade",
    "RaiseDispute", "ResolveDispute", "RecordTraining", "GivePraise", "NominateCase"};

void RunRows(const std::string& rpc) {
  TestServer server;
  Seed(server);
  const uint64_t end = server.LogEnd();
  int rows = 0;
  for (const Case& c : AllRows().cases) {
    if (c.rpc != rpc) continue;
    rows++;
    const grpc::Status status = c.call(server);
    std::string message = status.error_message();
    INFO(rpc << " with " << c.what << " -> " << CodeName(status.error_code()) << ": "
             << message);
    CHECK(c.codes.count(status.error_code()) == 1);
    if (rpc == "StreamMetrics") {
      // The stream names the failing batch first.
      CHECK(absl::StartsWith(message, "batch 0: "));
      if (absl::StartsWith(message, "batch 0: ")) message = message.substr(9);
    }
    if (c.names == Names::kFirst) {
      CHECK(absl::StartsWith(message, c.field + ": "));
    } else {
      CHECK(absl::StrContains(message, c.field));
    }
    CHECK(server.LogEnd() == end);  // nothing written
  }
  REQUIRE(rows > 10);
  // The server still serves the good request.
  const grpc::Status good = AllRows().valid.at(rpc)(server);
  INFO(good.error_message());
  CHECK(good.ok());
  CHECK(server.LogEnd() > end);
  RequireChainsVerify(server);
}

TEST_CASE("bad input: the table covers every command RPC", "[bad_input]") {
  std::set<std::string> covered;
  for (const Case& c : AllRows().cases) covered.insert(c.rpc);
  CHECK(covered == std::set<std::string>(kCommandRpcs.begin(), kCommandRpcs.end()));
  CHECK(AllRows().valid.size() == kCommandRpcs.size());
  // The categories every command is checked for, beyond its own rows.
  for (const std::string& rpc : kCommandRpcs) {
    std::set<StatusCode> codes;
    for (const Case& c : AllRows().cases) {
      if (c.rpc == rpc) codes.insert(c.codes.begin(), c.codes.end());
    }
    INFO(rpc);
    CHECK(codes.count(StatusCode::INVALID_ARGUMENT) == 1);
    CHECK(codes.count(StatusCode::ALREADY_EXISTS) == 1);
    CHECK(codes.count(StatusCode::ABORTED) == 1);
  }
}

// Invalid UTF-8 in a proto3 string field never reaches the ledger's validation: the protobuf
// runtime refuses to parse the request. The server's parse-error interceptor
// (services/status_map.h) answers INVALID_ARGUMENT naming the field; nothing is written.
TEST_CASE("bad input: invalid UTF-8 is refused before the ledger", "[bad_input]") {
  TestServer server;
  Seed(server);
  const uint64_t end = server.LogEnd();
  auto org = DefineOrgUnitReq("ORG9");
  org.set_name(kBadUtf8);
  auto departure = RecordDepartureReq(fx::kEmployee2);
  departure.set_reason(kBadUtf8);
  auto check_in = CheckInReq();
  check_in.set_notes(kBadUtf8);
  auto feedback = FeedbackReq();
  feedback.set_feedback(kBadUtf8);
  auto metric = ObserveMetricReq();
  metric.mutable_observation()->set_metric(kBadUtf8);
  const std::vector<std::pair<std::string, grpc::Status>> replies = {
      {"DefineOrgUnit name", server.Call(server.people(), &v1::People::Stub::DefineOrgUnit, org)
                                 .status},
      {"RecordDeparture reason",
       server.Call(server.people(), &v1::People::Stub::RecordDeparture, departure).status},
      {"RecordCheckIn notes",
       server.Call(server.check_ins(), &v1::CheckIns::Stub::RecordCheckIn, check_in).status},
      {"RecordFeedback feedback",
       server.Call(server.reviews(), &v1::Reviews::Stub::RecordFeedback, feedback).status},
      {"ObserveMetric metric",
       server.Call(server.metrics(), &v1::Metrics::Stub::ObserveMetric, metric).status},
  };
  for (const auto& [what, status] : replies) {
    INFO(what << " -> " << CodeName(status.error_code()) << ": " << status.error_message());
    CHECK(status.error_code() == StatusCode::INVALID_ARGUMENT);
    // The field's own name ("name", "reason", ..., "metric" of the nested observation).
    const std::string field = what.substr(what.find(' ') + 1);
    CHECK(absl::StartsWith(status.error_message(), field + ": not valid UTF-8"));
  }
  CHECK(server.LogEnd() == end);
  CHECK(server.Call(server.reviews(), &v1::Reviews::Stub::RecordFeedback, FeedbackReq()).ok());
}

TEST_CASE("bad input: DefineOrgUnit", "[bad_input]") { RunRows("DefineOrgUnit"); }
TEST_CASE("bad input: RegisterEmployee", "[bad_input]") { RunRows("RegisterEmployee"); }
TEST_CASE("bad input: UpdateEmployee", "[bad_input]") { RunRows("UpdateEmployee"); }
TEST_CASE("bad input: RecordDeparture", "[bad_input]") { RunRows("RecordDeparture"); }
TEST_CASE("bad input: OpenCycle", "[bad_input]") { RunRows("OpenCycle"); }
TEST_CASE("bad input: CloseCycle", "[bad_input]") { RunRows("CloseCycle"); }
TEST_CASE("bad input: SetGoal", "[bad_input]") { RunRows("SetGoal"); }
TEST_CASE("bad input: ReviseGoal", "[bad_input]") { RunRows("ReviseGoal"); }
TEST_CASE("bad input: RecordKeyResultProgress", "[bad_input]") {
  RunRows("RecordKeyResultProgress");
}
TEST_CASE("bad input: CloseGoal", "[bad_input]") { RunRows("CloseGoal"); }
TEST_CASE("bad input: RecordCheckIn", "[bad_input]") { RunRows("RecordCheckIn"); }
TEST_CASE("bad input: ObserveMetric", "[bad_input]") { RunRows("ObserveMetric"); }
TEST_CASE("bad input: ObserveMetrics", "[bad_input]") { RunRows("ObserveMetrics"); }
TEST_CASE("bad input: StreamMetrics", "[bad_input]") { RunRows("StreamMetrics"); }
TEST_CASE("bad input: SubmitScore", "[bad_input]") { RunRows("SubmitScore"); }
TEST_CASE("bad input: AmendScore", "[bad_input]") { RunRows("AmendScore"); }
TEST_CASE("bad input: AdjustCalibration", "[bad_input]") { RunRows("AdjustCalibration"); }
TEST_CASE("bad input: FinalizeGrade", "[bad_input]") { RunRows("FinalizeGrade"); }
TEST_CASE("bad input: RecordFeedback", "[bad_input]") { RunRows("RecordFeedback"); }
TEST_CASE("bad input: AcknowledgeGrade", "[bad_input]") { RunRows("AcknowledgeGrade"); }
TEST_CASE("bad input: RaiseDispute", "[bad_input]") { RunRows("RaiseDispute"); }
TEST_CASE("bad input: ResolveDispute", "[bad_input]") { RunRows("ResolveDispute"); }
TEST_CASE("bad input: RecordTraining", "[bad_input]") { RunRows("RecordTraining"); }
TEST_CASE("bad input: GivePraise", "[bad_input]") { RunRows("GivePraise"); }
TEST_CASE("bad input: NominateCase", "[bad_input]") { RunRows("NominateCase"); }

}  // namespace
}  // namespace perfledger::testing
