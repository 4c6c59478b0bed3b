// The happy path of every command family through the real gRPC server, with the enrichment the
// events must carry (ARCHITECTURE §3 rule 3) read back from the log.
#include "tests/integration/helpers.h"

#include "ledger/partitioner.h"
#include "ledger/limits.h"
#include "absl/strings/match.h"

namespace perfledger::testing {
namespace {

using v1::Cycles;
using v1::CheckIns;
using v1::Goals;
using v1::Metrics;
using v1::People;
using v1::Reviews;
using v1::Training;

constexpr uint32_t kPartitions = 4;

uint32_t PartitionOf(const std::string& key) {
  return DataPartitionFor(key, kPartitions).value();
}

// Requires a one-event answer on `stream` at `version` and returns its event id.
std::string RequireOneEvent(const v1::CommandResult& r, const std::string& stream,
                            uint64_t version, uint32_t partition) {
  REQUIRE(r.events_size() == 1);
  CHECK_FALSE(r.deduplicated());
  CHECK(r.events(0).stream() == stream);
  CHECK(r.events(0).stream_version() == version);
  CHECK(r.events(0).position().partition() == partition);
  CHECK_FALSE(r.events(0).event_id().empty());
  return r.events(0).event_id();
}

TEST_CASE("commands: people and cycles", "[commands]") {
  TestServer server;
  SeedFixture(server);
  auto events = server.ReadAllEvents();
  REQUIRE(events.size() == 6);

  // Org units live on the control partition, employees on the partition of their id.
  auto r = MustOk(server.Call(server.people(), &People::Stub::DefineOrgUnit,
                              DefineOrgUnitReq("ORG3", fx::kOrg, fx::kManager)));
  const std::string org3 = RequireOneEvent(r, "org/ORG3", 1, 0);
  r = MustOk(server.Call(server.people(), &People::Stub::RegisterEmployee,
                         RegisterEmployeeReq("E3", "ORG3", fx::kManager)));
  const std::string e3 = RequireOneEvent(r, "employee/E3", 1, PartitionOf("E3"));
  r = MustOk(server.Call(server.people(), &People::Stub::UpdateEmployee, UpdateEmployeeReq("E3")));
  const std::string updated = RequireOneEvent(r, "employee/E3", 2, PartitionOf("E3"));
  r = MustOk(server.Call(server.people(), &People::Stub::RecordDeparture,
                         RecordDepartureReq("E3")));
  const std::string departed = RequireOneEvent(r, "employee/E3", 3, PartitionOf("E3"));
  r = MustOk(server.Call(server.cycles(), &Cycles::Stub::OpenCycle, OpenCycleReq("C2")));
  const std::string opened = RequireOneEvent(r, "cycle/C2", 1, 0);
  r = MustOk(server.Call(server.cycles(), &Cycles::Stub::CloseCycle, CloseCycleReq("C2")));
  const std::string closed = RequireOneEvent(r, "cycle/C2", 2, 0);

  events = server.ReadAllEvents();
  REQUIRE(events.size() == 12);
  {
    const auto ev = OneEvent(events, org3);
    CHECK(ev.envelope().type() == "OrgUnitDefined");
    CHECK(ev.envelope().partition_key().empty());
    CHECK(ev.event().org_unit_defined().parent_id() == fx::kOrg);
    CHECK(ev.event().org_unit_defined().manager_id() == fx::kManager);
  }
  {
    const auto ev = OneEvent(events, e3);
    CHECK(ev.envelope().type() == "EmployeeRegistered");
    CHECK(ev.envelope().partition_key() == "E3");
    const auto& p = ev.event().employee_registered();
    CHECK(p.org_unit_id() == "ORG3");
    CHECK(p.base_salary().amount_minor() == fx::kSalaryMinor);
    CHECK(p.base_salary().currency() == "EUR");
    CHECK(p.hired_at().seconds() == 1'700'000'000);
  }
  {
    const auto& p = OneEvent(events, updated).event().employee_updated();
    CHECK(std::vector<std::string>(p.changed().begin(), p.changed().end()) ==
          std::vector<std::string>{"job_level", "base_salary"});
    CHECK(p.job_level() == "L4");
    CHECK(p.base_salary().amount_minor() == fx::kSalaryMinor + 300'000);
    // The rest of the record travels along unchanged, except personal data (the name is not
    // repeated when it did not change).
    CHECK(p.name().empty());
    CHECK(p.org_unit_id() == "ORG3");
    CHECK(p.reason() == "promotion");
  }
  {
    const auto ev = OneEvent(events, departed);
    CHECK(ev.event().employee_departed().reason() == "moved abroad");
    CHECK(ev.event().employee_departed().departed_at().seconds() ==
          ev.envelope().occurred_at().seconds());
  }
  {
    const auto& p = OneEvent(events, opened).event().cycle_opened();
    CHECK(p.name() == "Cycle C2");
    CHECK(std::vector<std::string>(p.scale().grades().begin(), p.scale().grades().end()) ==
          std::vector<std::string>{"A", "B", "C", "D"});
    CHECK(p.period_end().seconds() == 1'782'777'600);
    CHECK(OneEvent(events, closed).event().cycle_closed().cycle_id() == "C2");
  }
  RequireChainsVerify(server);
}

TEST_CASE("commands: envelope metadata", "[commands]") {
  TestServer server;
  SeedFixture(server);
  auto req = RegisterEmployeeReq("E7");
  req.mutable_meta()->set_event_id("client-event-7");
  req.mutable_meta()->set_correlation_id("corr-1");
  req.mutable_meta()->set_causation_id("cause-1");
  *req.mutable_meta()->mutable_occurred_at() = Ts(1'760'000'000, 123'000'000);
  auto r = MustOk(server.Call(server.people(), &People::Stub::RegisterEmployee, req));
  REQUIRE(r.events_size() == 1);
  CHECK(r.events(0).event_id() == "client-event-7");

  const auto status = server.Status();
  const auto ev = OneEvent(server.ReadAllEvents(), "client-event-7");
  const v1::Envelope& e = ev.envelope();
  CHECK(e.type() == "EmployeeRegistered");
  CHECK(e.stream() == "employee/E7");
  CHECK(e.stream_version() == 1);
  CHECK(e.position().partition() == r.events(0).position().partition());
  CHECK(e.position().offset() == r.events(0).position().offset());
  CHECK(e.occurred_at().seconds() == 1'760'000'000);
  CHECK(e.occurred_at().nanos() == 123'000'000);
  CHECK(e.recorded_at().seconds() >= status.started_at().seconds());
  CHECK(e.actor().principal() == "local");
  CHECK(e.actor().role() == v1::ROLE_ADMIN);
  CHECK(e.correlation_id() == "corr-1");
  CHECK(e.causation_id() == "cause-1");
  CHECK(e.schema_version() == 1);
  CHECK(e.command_id() == "event:client-event-7");
  CHECK(e.command_event_count() == 1);
  CHECK(e.command_digest().size() == 32);
  // The fixture put 3 events on the control stream before this decision.
  CHECK(e.control_version() == 3);

  // Without occurred_at the business time is the receive time.
  const absl::Time before = absl::Now() - absl::Seconds(1);
  r = MustOk(server.Call(server.people(), &People::Stub::RegisterEmployee,
                         RegisterEmployeeReq("E8")));
  const auto e8 = OneEvent(server.ReadAllEvents(), r.events(0).event_id());
  CHECK(e8.envelope().occurred_at().seconds() >= absl::ToUnixSeconds(before));
  CHECK(e8.envelope().command_id().empty());  // no key, no event id: not deduplicated
}

TEST_CASE("commands: goals and check-ins with progress enrichment", "[commands]") {
  TestServer server;
  SeedFixture(server);
  const uint32_t p1 = PartitionOf(fx::kEmployee);

  auto r = MustOk(server.Call(server.goals(), &Goals::Stub::SetGoal, SetGoalReq("G1")));
  const std::string set = RequireOneEvent(r, "goal/G1", 1, p1);
  auto child = SetGoalReq("G2", fx::kEmployee2);
  child.set_parent_goal_id("G1");
  r = MustOk(server.Call(server.goals(), &Goals::Stub::SetGoal, child));
  const std::string set_child = RequireOneEvent(r, "goal/G2", 1, PartitionOf(fx::kEmployee2));
  auto unit_goal = SetGoalReq("G3", fx::kSubOrg);
  unit_goal.set_owner_kind(v1::OWNER_KIND_ORG_UNIT);
  r = MustOk(server.Call(server.goals(), &Goals::Stub::SetGoal, unit_goal));
  const std::string set_unit = RequireOneEvent(r, "goal/G3", 1, PartitionOf(fx::kSubOrg));

  // KR1 goes 0 → 20000 after the revision (higher is better); KR2 100000 → 20000 (lower).
  r = MustOk(server.Call(server.goals(), &Goals::Stub::ReviseGoal, ReviseGoalReq("G1")));
  const std::string revised = RequireOneEvent(r, "goal/G1", 2, p1);
  struct Case {
    std::string kr;
    int64_t value;
    uint32_t progress_bp;
  };
  const std::vector<Case> cases = {
      {"KR1", 5'000, 2'500},     // a quarter of the way
      {"KR1", 50'000, 10'000},   // past the target: clamped
      {"KR1", -7'000, 0},        // behind the start: clamped
      {"KR2", 60'000, 5'000},    // lower is better: half way down
      {"KR2", 10'000, 10'000},   // better than the target
      {"KR2", 120'000, 0},       // worse than the start
  };
  std::vector<std::string> progress_ids;
  uint64_t version = 2;
  for (const Case& c : cases) {
    r = MustOk(server.Call(server.goals(), &Goals::Stub::RecordKeyResultProgress,
                           ProgressReq("G1", c.kr, c.value)));
    progress_ids.push_back(RequireOneEvent(r, "goal/G1", ++version, p1));
  }
  r = MustOk(server.Call(server.check_ins(), &CheckIns::Stub::RecordCheckIn,
                         CheckInReq(fx::kEmployee, "G1")));
  const std::string check_in = RequireOneEvent(r, "employee/E1", 2, p1);
  r = MustOk(server.Call(server.goals(), &Goals::Stub::CloseGoal, CloseGoalReq("G1", 850)));
  const std::string goal_closed = RequireOneEvent(r, "goal/G1", ++version, p1);

  const auto events = server.ReadAllEvents();
  {
    const auto ev = OneEvent(events, set);
    CHECK(ev.envelope().type() == "GoalSet");
    CHECK(ev.envelope().partition_key() == fx::kEmployee);
    const auto& p = ev.event().goal_set();
    CHECK(p.org_unit_id() == fx::kOrg);  // enrichment: the owner's unit
    CHECK(p.owner_kind() == v1::OWNER_KIND_EMPLOYEE);
    CHECK(p.key_results_size() == 2);
    CHECK(p.weight_bp() == 5'000);
    CHECK(OneEvent(events, set_child).event().goal_set().parent_goal_id() == "G1");
    CHECK(OneEvent(events, set_unit).event().goal_set().org_unit_id() == fx::kSubOrg);
  }
  {
    const auto& p = OneEvent(events, revised).event().goal_revised();
    CHECK(p.reason() == "scope grew");
    CHECK(std::find(p.changed().begin(), p.changed().end(), "key_results") != p.changed().end());
    CHECK(p.key_results(0).target_milli() == 20'000);
  }
  for (size_t i = 0; i < cases.size(); i++) {
    INFO("progress case " << i << ": " << cases[i].kr << " = " << cases[i].value);
    const auto& p = OneEvent(events, progress_ids[i]).event().key_result_progress_recorded();
    CHECK(p.key_result_id() == cases[i].kr);
    CHECK(p.value_milli() == cases[i].value);
    CHECK(p.progress_bp() == cases[i].progress_bp);
  }
  {
    const auto& p = OneEvent(events, check_in).event().check_in_recorded();
    CHECK(p.manager_id() == fx::kManager);  // defaulted to the employee's manager
    CHECK(p.org_unit_id() == fx::kOrg);
    CHECK(p.cycle_id() == fx::kCycle);
    REQUIRE(p.progress_size() == 1);
    CHECK(p.progress(0).goal_id() == "G1");
    CHECK(p.blockers_size() == 1);
  }
  CHECK(OneEvent(events, goal_closed).event().goal_closed().okr_grade_milli() == 850);
  RequireChainsVerify(server);
}

TEST_CASE("commands: metrics single, batch and client stream", "[commands]") {
  TestServer server;
  SeedFixture(server);

  auto r = MustOk(server.Call(server.metrics(), &Metrics::Stub::ObserveMetric,
                              ObserveMetricReq(fx::kEmployee, 2'500)));
  const std::string single =
      RequireOneEvent(r, "metrics/E1", 1, PartitionOf(fx::kEmployee));

  // A batch over two subjects, one an org unit, appended atomically.
  auto batch = ObserveMetricsReq(3, fx::kEmployee2);
  v1::Observation unit = Obs(fx::kSubOrg, 7'000, "throughput");
  unit.set_subject_kind(v1::OWNER_KIND_ORG_UNIT);
  unit.set_source("IoT");
  *unit.mutable_observed_at() = Ts(1'770'000'000);
  *batch.add_observations() = unit;
  r = MustOk(server.Call(server.metrics(), &Metrics::Stub::ObserveMetrics, batch));
  REQUIRE(r.events_size() == 4);
  for (int i = 0; i < 3; i++) {
    CHECK(r.events(i).stream() == "metrics/E2");
    CHECK(r.events(i).stream_version() == static_cast<uint64_t>(i + 1));
    CHECK(r.events(i).position().partition() == PartitionOf(fx::kEmployee2));
  }
  CHECK(r.events(3).stream() == "metrics/ORG2");
  CHECK(r.events(3).position().partition() == PartitionOf(fx::kSubOrg));

  // Three batches over one client stream.
  grpc::ClientContext context;
  server.Prepare(context);
  v1::ObserveMetricsSummary summary;
  auto writer = server.metrics().StreamMetrics(&context, &summary);
  for (int b = 0; b < 3; b++) REQUIRE(writer->Write(ObserveMetricsReq(4, fx::kEmployee)));
  REQUIRE(writer->WritesDone());
  const grpc::Status status = writer->Finish();
  INFO(status.error_message());
  REQUIRE(status.ok());
  CHECK(summary.batches() == 3);
  CHECK(summary.events() == 12);
  REQUIRE(summary.last_positions_size() == 1);
  CHECK(summary.last_positions(0).partition() == PartitionOf(fx::kEmployee));

  const auto events = server.ReadAllEvents();
  {
    const auto ev = OneEvent(events, single);
    CHECK(ev.envelope().type() == "MetricObserved");
    const auto& p = ev.event().metric_observed();
    CHECK(p.subject_id() == fx::kEmployee);
    CHECK(p.subject_kind() == v1::OWNER_KIND_EMPLOYEE);
    CHECK(p.value_milli() == 2'500);
    CHECK(p.org_unit_id() == fx::kOrg);  // enrichment
    CHECK(p.cycle_id() == fx::kCycle);
    CHECK(p.source() == "ERP");
  }
  {
    const auto ev = OneEvent(events, r.events(3).event_id());
    CHECK(ev.event().metric_observed().org_unit_id() == fx::kSubOrg);  // a unit is its own
    CHECK(ev.envelope().occurred_at().seconds() == 1'770'000'000);    // observed_at wins
  }
  // metrics/E1: 1 single + 12 streamed, versions 1..13, the last at the summary's position.
  uint64_t last_offset = 0, last_version = 0;
  for (const auto& ev : events) {
    if (ev.envelope().stream() != "metrics/E1") continue;
    CHECK(ev.envelope().stream_version() == last_version + 1);
    last_version = ev.envelope().stream_version();
    last_offset = ev.envelope().position().offset();
  }
  CHECK(last_version == 13);
  CHECK(last_offset == summary.last_positions(0).offset());
  RequireChainsVerify(server);
}

TEST_CASE("commands: reviews, grades and training", "[commands]") {
  TestServer server;
  SeedFixture(server);
  // A raise first: the grade must carry the salary in force when it was decided.
  MustOk(server.Call(server.people(), &People::Stub::UpdateEmployee, UpdateEmployeeReq()));
  const uint32_t p1 = PartitionOf(fx::kEmployee);

  auto r = MustOk(server.Call(server.reviews(), &Reviews::Stub::SubmitScore,
                              SubmitScoreReq("S1")));
  const std::string submitted = RequireOneEvent(r, "employee/E1", 3, p1);
  r = MustOk(server.Call(server.reviews(), &Reviews::Stub::SubmitScore,
                         SubmitScoreReq("S2", fx::kEmployee, fx::kEmployee,
                                        v1::SCORE_SOURCE_SELF)));
  const std::string self = RequireOneEvent(r, "employee/E1", 4, p1);
  r = MustOk(server.Call(server.reviews(), &Reviews::Stub::SubmitScore,
                         SubmitScoreReq("S3", fx::kEmployee, fx::kEmployee2,
                                        v1::SCORE_SOURCE_PEER)));
  RequireOneEvent(r, "employee/E1", 5, p1);
  r = MustOk(server.Call(server.reviews(), &Reviews::Stub::AmendScore, AmendScoreReq("S1")));
  const std::string amended = RequireOneEvent(r, "employee/E1", 6, p1);
  r = MustOk(server.Call(server.reviews(), &Reviews::Stub::AmendScore, AmendScoreReq("S1")));
  const std::string amended_again = RequireOneEvent(r, "employee/E1", 7, p1);
  r = MustOk(server.Call(server.reviews(), &Reviews::Stub::AdjustCalibration, CalibrationReq()));
  const std::string calibrated = RequireOneEvent(r, "employee/E1", 8, p1);
  r = MustOk(server.Call(server.reviews(), &Reviews::Stub::FinalizeGrade, FinalizeGradeReq()));
  const std::string grade = RequireOneEvent(r, "employee/E1", 9, p1);
  r = MustOk(server.Call(server.reviews(), &Reviews::Stub::FinalizeGrade,
                         FinalizeGradeReq(fx::kEmployee, "A", 4'100)));
  const std::string regrade = RequireOneEvent(r, "employee/E1", 10, p1);
  r = MustOk(server.Call(server.reviews(), &Reviews::Stub::RecordFeedback, FeedbackReq()));
  const std::string feedback = RequireOneEvent(r, "employee/E1", 11, p1);
  r = MustOk(server.Call(server.training(), &Training::Stub::RecordTraining,
                         TrainingReq(fx::kEmployee, "enrolled")));
  const std::string enrolled = RequireOneEvent(r, "employee/E1", 12, p1);
  r = MustOk(server.Call(server.training(), &Training::Stub::RecordTraining,
                         TrainingReq(fx::kEmployee, "registered")));  // the xAPI verb
  const std::string registered = RequireOneEvent(r, "employee/E1", 13, p1);
  r = MustOk(server.Call(server.training(), &Training::Stub::RecordTraining, TrainingReq()));
  const std::string completed = RequireOneEvent(r, "employee/E1", 14, p1);

  const auto events = server.ReadAllEvents();
  {
    const auto ev = OneEvent(events, submitted);
    CHECK(ev.envelope().type() == "ScoreSubmitted");
    const auto& p = ev.event().score_submitted();
    CHECK(p.org_unit_id() == fx::kOrg);
    CHECK(p.manager_id() == fx::kManager);
    CHECK(p.source() == v1::SCORE_SOURCE_MANAGER);
    CHECK(p.scores_size() == 2);
    CHECK(OneEvent(events, self).event().score_submitted().reviewer_id() == fx::kEmployee);
  }
  {
    // Corrections name what they correct: the submission, then the previous amendment.
    const auto& a1 = OneEvent(events, amended).event().score_amended();
    CHECK(a1.corrects_event_id() == submitted);
    CHECK(a1.cycle_id() == fx::kCycle);
    CHECK(a1.reason() == "missed a shipped project");
    CHECK(OneEvent(events, amended_again).event().score_amended().corrects_event_id() == amended);
  }
  {
    const auto& p = OneEvent(events, calibrated).event().calibration_adjusted();
    CHECK(p.calibrated_score_milli() == 3'200);
    CHECK(p.committee() == "eng-calibration");
  }
  {
    const auto ev = OneEvent(events, grade);
    CHECK(ev.envelope().type() == "GradeFinalized");
    const auto& p = ev.event().grade_finalized();
    CHECK(p.grade() == "B");
    CHECK(p.score_milli() == 3'200);
    CHECK(p.org_unit_id() == fx::kOrg);
    CHECK(p.manager_id() == fx::kManager);
    CHECK(p.base_salary().amount_minor() == fx::kSalaryMinor + 300'000);
    CHECK(p.base_salary().currency() == "EUR");
    CHECK(p.band_midpoint().amount_minor() == fx::kMidpointMinor);
    CHECK(p.job_level() == "L4");
    CHECK(p.policy_version() == 0);  // no policy published yet
    CHECK(p.supersedes_event_id().empty());
    const auto& again = OneEvent(events, regrade).event().grade_finalized();
    CHECK(again.grade() == "A");
    CHECK(again.supersedes_event_id() == grade);
  }
  {
    const auto& p = OneEvent(events, feedback).event().review_feedback_recorded();
    CHECK(p.disputed());
    CHECK(p.cycle_id() == fx::kCycle);
  }
  {
    const auto ev = OneEvent(events, enrolled);
    CHECK(ev.envelope().type() == "TrainingEnrolled");
    CHECK(ev.event().training_enrolled().course_id() == "COURSE-101");
    CHECK(ev.event().training_enrolled().lms_reference() == "lms-42");
    CHECK(OneEvent(events, registered).envelope().type() == "TrainingEnrolled");
    const auto done = OneEvent(events, completed);
    CHECK(done.envelope().type() == "TrainingCompleted");
    CHECK(done.event().training_completed().passed());
    CHECK(done.event().training_completed().score_milli() == 87'000);
  }
  RequireChainsVerify(server);
}

TEST_CASE("commands: a command refused by admission control is UNAVAILABLE and writes nothing",
          "[integration]") {
  TestServer server;
  SeedFixture(server);
  const uint64_t end = server.LogEnd();
  // What the server's backlog gate answers when the views stay too far behind for too long.
  server.server().ledger().SetAdmission([](absl::Time) {
    return absl::UnavailableError("the views are 60000 events behind the log; retry with backoff");
  });
  const auto refused = server.Call(server.metrics(), &v1::Metrics::Stub::ObserveMetric,
                                   ObserveMetricReq());
  CHECK(refused.status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(absl::StrContains(refused.status.error_message(), "views are 60000 events behind"));
  CHECK(server.LogEnd() == end);
  // Bad input is still reported as such (the meta is checked before admission): a client
  // learns what to fix, not to retry.
  auto bad = ObserveMetricReq();
  bad.mutable_meta()->set_idempotency_key(std::string(limits::kIdBytesMax + 1, 'k'));
  const auto invalid = server.Call(server.metrics(), &v1::Metrics::Stub::ObserveMetric, bad);
  CHECK(invalid.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  server.server().ledger().SetAdmission(nullptr);
  const auto admitted = server.Call(server.metrics(), &v1::Metrics::Stub::ObserveMetric,
                                    ObserveMetricReq());
  INFO(admitted.status.error_message());
  CHECK(admitted.ok());
  CHECK(server.LogEnd() == end + 1);
}

}  // namespace
}  // namespace perfledger::testing
