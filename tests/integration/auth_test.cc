// Bearer tokens and roles (ARCHITECTURE §9) through the real server with a tokens file.
#include "tests/integration/helpers.h"

namespace perfledger::testing {
namespace {

using v1::Metrics;
using v1::People;

constexpr char kTokens[] = R"(# token principal role [employee]
admin-token   alice     admin
hr-token      hank      hr
auditor-token audrey    auditor
lms-token     moodle    lms
emp-token     eve       employee E1
mgr-token     mike      manager  M1
payroll-token paula     payroll
system-token  reactor   system
)";

struct AuthServer {
  TempDir dir{"auth"};
  std::unique_ptr<TestServer> server;
  AuthServer() {
    TestServerOptions options;
    options.tokens_file = dir.WriteFile("tokens.txt", kTokens);
    options.default_token = "admin-token";
    server = std::make_unique<TestServer>(options);
    SeedFixture(*server);
  }
};

grpc::StatusCode ReadCode(TestServer& server, const std::string& token) {
  grpc::ClientContext context;
  server.Prepare(context, token);
  v1::ReadEventsRequest request;
  request.set_partition(0);
  auto reader = server.log().ReadEvents(&context, request);
  v1::RecordedEvent e;
  while (reader->Read(&e)) {
  }
  return reader->Finish().error_code();
}

// One call of each command family (valid requests that would otherwise succeed).
std::vector<std::pair<std::string, grpc::Status>> EveryFamily(TestServer& s,
                                                              const std::string& token) {
  return {
      {"People", s.Call(s.people(), &People::Stub::RegisterEmployee, RegisterEmployeeReq("E5"),
                        token).status},
      {"Cycles", s.Call(s.cycles(), &v1::Cycles::Stub::OpenCycle, OpenCycleReq("C5"), token)
                     .status},
      {"Goals", s.Call(s.goals(), &v1::Goals::Stub::SetGoal, SetGoalReq("G5"), token).status},
      {"CheckIns", s.Call(s.check_ins(), &v1::CheckIns::Stub::RecordCheckIn, CheckInReq(), token)
                       .status},
      {"Metrics", s.Call(s.metrics(), &Metrics::Stub::ObserveMetric, ObserveMetricReq(), token)
                      .status},
      {"Reviews", s.Call(s.reviews(), &v1::Reviews::Stub::RecordFeedback, FeedbackReq(), token)
                      .status},
      {"Training", s.Call(s.training(), &v1::Training::Stub::RecordTraining, TrainingReq(), token)
                       .status},
  };
}

TEST_CASE("auth: a call without a valid token is UNAUTHENTICATED", "[auth]") {
  AuthServer a;
  TestServer& s = *a.server;
  const uint64_t end = s.LogEnd();
  for (const std::string& token : {kNoToken, std::string("wrong-token")}) {
    INFO("token " << token);
    for (const auto& [family, status] : EveryFamily(s, token)) {
      INFO(family << ": " << status.error_message());
      CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
      CHECK(absl::StartsWith(status.error_message(), "authorization"));
    }
    CHECK(s.Call(s.log(), &v1::Log::Stub::Status, v1::StatusRequest(), token).status.error_code() ==
          grpc::StatusCode::UNAUTHENTICATED);
    CHECK(ReadCode(s, token) == grpc::StatusCode::UNAUTHENTICATED);
  }
  // Not a bearer token at all.
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Basic YWxpY2U6c2VjcmV0");
  v1::CommandResult response;
  const grpc::Status basic = s.people().RegisterEmployee(&context, RegisterEmployeeReq("E5"),
                                                         &response);
  CHECK(basic.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(absl::StrContains(basic.error_message(), "Bearer"));
  // A client stream is checked before it reads anything.
  grpc::ClientContext stream_context;
  s.Prepare(stream_context, kNoToken);
  v1::ObserveMetricsSummary summary;
  auto writer = s.metrics().StreamMetrics(&stream_context, &summary);
  writer->Write(ObserveMetricsReq(2));
  writer->WritesDone();
  CHECK(writer->Finish().error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(s.LogEnd() == end);
}

TEST_CASE("auth: an auditor reads everything and writes nothing", "[auth]") {
  AuthServer a;
  TestServer& s = *a.server;
  const uint64_t end = s.LogEnd();
  for (const auto& [family, status] : EveryFamily(s, "auditor-token")) {
    INFO(family << ": " << status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(absl::StrContains(status.error_message(), "ROLE_AUDITOR"));
  }
  CHECK(s.LogEnd("auditor-token") == end);
  CHECK(ReadCode(s, "auditor-token") == grpc::StatusCode::OK);
  CHECK(s.ReadAllEvents("auditor-token").size() == end);
  const auto status = s.Status("auditor-token");
  CHECK(status.caller().principal() == "audrey");
  CHECK(status.caller().role() == v1::ROLE_AUDITOR);
  RequireChainsVerify(s, "auditor-token");
}

TEST_CASE("auth: the LMS records training and nothing else", "[auth]") {
  AuthServer a;
  TestServer& s = *a.server;
  const uint64_t end = s.LogEnd();
  for (const auto& [family, status] : EveryFamily(s, "lms-token")) {
    INFO(family << ": " << status.error_message());
    if (family == "Training") {
      CHECK(status.ok());
    } else {
      CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    }
  }
  CHECK(s.LogEnd() == end + 1);
  CHECK(ReadCode(s, "lms-token") == grpc::StatusCode::PERMISSION_DENIED);
  // The event names who reported it.
  const auto training = EventsOfType(s.ReadAllEvents(), "TrainingCompleted");
  REQUIRE(training.size() == 1);
  CHECK(training[0].envelope().actor().principal() == "moodle");
  CHECK(training[0].envelope().actor().role() == v1::ROLE_LMS);
}

TEST_CASE("auth: roles and their operations", "[auth]") {
  AuthServer a;
  TestServer& s = *a.server;
  // HR writes people; an employee and a manager write reviews, goals and check-ins but not
  // people; payroll reads status only; the system role writes metrics.
  CHECK(s.Call(s.people(), &People::Stub::RegisterEmployee, RegisterEmployeeReq("E6"),
               "hr-token").ok());
  CHECK(s.Call(s.people(), &People::Stub::RegisterEmployee, RegisterEmployeeReq("E7"),
               "emp-token").status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(s.Call(s.reviews(), &v1::Reviews::Stub::SubmitScore,
               SubmitScoreReq("S-self", fx::kEmployee, fx::kEmployee, v1::SCORE_SOURCE_SELF),
               "emp-token").ok());
  CHECK(s.Call(s.reviews(), &v1::Reviews::Stub::SubmitScore, SubmitScoreReq("S-mgr"),
               "mgr-token").ok());
  // Goals are set by the manager; the employee records progress on them.
  CHECK(s.Call(s.goals(), &v1::Goals::Stub::SetGoal, SetGoalReq("G-emp"), "emp-token")
            .status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(s.Call(s.goals(), &v1::Goals::Stub::SetGoal, SetGoalReq("G-emp"), "mgr-token").ok());
  CHECK(s.Call(s.goals(), &v1::Goals::Stub::RecordKeyResultProgress, ProgressReq("G-emp"),
               "emp-token").ok());
  CHECK(s.Call(s.cycles(), &v1::Cycles::Stub::OpenCycle, OpenCycleReq("C-mgr"), "mgr-token")
            .status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  for (const auto& [family, status] : EveryFamily(s, "payroll-token")) {
    INFO(family);
    CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  }
  CHECK(s.Status("payroll-token").caller().role() == v1::ROLE_PAYROLL);
  CHECK(s.Call(s.metrics(), &Metrics::Stub::ObserveMetric, ObserveMetricReq(), "system-token")
            .ok());
  CHECK(s.Call(s.people(), &People::Stub::RecordDeparture, RecordDepartureReq(), "system-token")
            .status.error_code() == grpc::StatusCode::PERMISSION_DENIED);

  const auto events = s.ReadAllEvents();
  const auto scores = EventsOfType(events, "ScoreSubmitted");
  REQUIRE(scores.size() == 2);
  CHECK(scores[0].envelope().actor().principal() == "eve");
  CHECK(scores[0].envelope().actor().role() == v1::ROLE_EMPLOYEE);
  CHECK(scores[1].envelope().actor().principal() == "mike");
  CHECK(EventsOfType(events, "OrgUnitDefined")[0].envelope().actor().principal() == "alice");
}

TEST_CASE("auth: a malformed tokens file keeps the server from starting", "[auth]") {
  TempDir dir("auth");
  TestServerOptions options;
  options.tokens_file = dir.WriteFile("bad.txt", "tok someone wizard\n");
  REQUIRE_THROWS_WITH(TestServer(options), Catch::Contains("tokens_file"));
  options.tokens_file = dir.WriteFile("short.txt", "only-a-token\n");
  REQUIRE_THROWS_WITH(TestServer(options), Catch::Contains("tokens_file"));
  options.tokens_file = dir.Sub("missing.txt");
  REQUIRE_THROWS_WITH(TestServer(options), Catch::Contains("tokens_file"));
  // Scope comes from the employee id: employee and manager tokens must name one.
  options.tokens_file = dir.WriteFile("noid.txt", "# people\nok admin-person admin\ntok eve employee\n");
  REQUIRE_THROWS_WITH(TestServer(options), Catch::Contains("noid.txt:3"));
  options.tokens_file = dir.WriteFile("mgr.txt", "tok mike manager -\n");
  REQUIRE_THROWS_WITH(TestServer(options), Catch::Contains("employee id"));
  // Only hr tokens are limited to org units.
  options.tokens_file = dir.WriteFile("units.txt", "tok mike manager M1 ORG1\n");
  REQUIRE_THROWS_WITH(TestServer(options), Catch::Contains("units.txt:1"));
  options.tokens_file = dir.WriteFile("dup.txt", "tok a admin\ntok b admin\n");
  REQUIRE_THROWS_WITH(TestServer(options), Catch::Contains("twice"));
}

}  // namespace
}  // namespace perfledger::testing
