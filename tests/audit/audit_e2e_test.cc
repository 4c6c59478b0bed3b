// The auditor's workflow end to end: the REAL perfledgerd loaded with the manufacturing
// scenario through perfctl, then `perfctl explain` of a raise, `audit verify|digest|export`,
// a grade forged on disk while the server is down, and `audit verify|prove` naming it.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ledger/embedded_log.h"
#include "perfledger/v1/audit.grpc.pb.h"
#include "tests/scenario/scenario_support.h"
#include "tests/support/embedded_log_peer.h"
#include "tests/support/log_values.h"

namespace perfledger::scenario {
namespace {

struct FailureListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  bool assertionEnded(const Catch::AssertionStats& stats) override {
    if (!stats.assertionResult.isOk()) MarkFailed();
    return true;
  }
};
CATCH_REGISTER_LISTENER(FailureListener)

const std::string kScenarioDir =
    std::string(PERFLEDGER_SOURCE_DIR) + "/deploy/examples/manufacturing";

const v1::RecordedEvent* Find(const std::vector<v1::RecordedEvent>& events,
                              const std::string& id) {
  for (const auto& e : events) {
    if (e.envelope().event_id() == id) return &e;
  }
  return nullptr;
}

TEST_CASE("audit e2e: explain a raise, verify, forge a grade on disk, verify and prove fail",
          "[audit][e2e]") {
  TempDir dir{"audit-e2e"};
  auto server = std::make_unique<Server>(dir);
  server->Start();
  auto perfctl = [&](const std::vector<std::string>& args) {
    return RunPerfctl(dir, server->address(), args);
  };
  const CommandOutput load = perfctl({"scenario", "load", kScenarioDir});
  REQUIRE(load.code() == 0);
  WaitQuiescent(server->channel());
  const std::vector<v1::RecordedEvent> events = ReadAll(server->channel());

  // The first raise (salary adjustment) the reactor decided.
  const v1::RecordedEvent* raise = nullptr;
  for (const auto& e : events) {
    if (e.event().has_action_triggered() &&
        e.event().action_triggered().kind() == v1::ACTION_KIND_SALARY_ADJUSTMENT) {
      raise = &e;
      break;
    }
  }
  REQUIRE(raise != nullptr);
  const v1::ActionTriggered& action = raise->event().action_triggered();
  REQUIRE(action.cause_event_ids_size() >= 1);
  const v1::RecordedEvent* grade = Find(events, action.cause_event_ids(0));
  REQUIRE(grade != nullptr);
  REQUIRE(grade->event().has_grade_finalized());

  SECTION("explain names the grade, its inputs and the policy version, with content") {
    auto stub = v1::Audit::NewStub(server->channel());
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(std::chrono::seconds(30)));
    v1::ExplainRequest request;
    request.set_action_id(action.action_id());
    v1::ExplainResponse response;
    const grpc::Status status = stub->Explain(&context, request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
    CHECK(response.missing_event_ids_size() == 0);
    REQUIRE(response.steps_size() >= 3);
    CHECK(response.steps(0).role() == "action");
    CHECK(response.steps(0).event().envelope().event_id() == raise->envelope().event_id());
    std::map<std::string, const v1::ExplainStep*> by_id;
    for (const auto& s : response.steps()) by_id[s.event().envelope().event_id()] = &s;
    REQUIRE(by_id.count(grade->envelope().event_id()) == 1);
    const v1::ExplainStep& g = *by_id[grade->envelope().event_id()];
    CHECK(g.role() == "cause");
    CHECK(g.explains_event_id() == raise->envelope().event_id());
    CHECK(g.event().event().grade_finalized().grade() == grade->event().grade_finalized().grade());
    // Every input the grade read (the worker's defect-rate metrics) is there, with content.
    int named_inputs = 0;
    for (const auto& input : grade->event().grade_finalized().inputs()) {
      if (input.event_id().empty()) continue;  // an aggregate names no single event
      named_inputs++;
      INFO("input " << input.event_id());
      REQUIRE(by_id.count(input.event_id()) == 1);
      CHECK(by_id[input.event_id()]->role() == "input");
      CHECK(by_id[input.event_id()]->explains_event_id() == grade->envelope().event_id());
      CHECK(by_id[input.event_id()]->event().event().body_case() != v1::Event::BODY_NOT_SET);
    }
    CHECK(named_inputs >= 1);
    const v1::ExplainStep& last = response.steps(response.steps_size() - 1);
    CHECK(last.role() == "policy");
    CHECK(last.event().event().policy_published().version() == action.policy_version());
    CHECK_FALSE(last.event().event().policy_published().document_json().empty());

    const CommandOutput out = perfctl({"explain", action.action_id()});
    INFO(out.Describe());
    REQUIRE(out.code() == 0);
    CHECK(absl::StrContains(out.out, grade->envelope().event_id()));
    CHECK(absl::StrContains(out.out, "PolicyPublished"));
    CHECK(absl::StrContains(out.out, "GradeFinalized"));
  }

  SECTION("verify, digest, export, then a forged grade is named by verify and prove") {
    CommandOutput out = perfctl({"audit", "verify"});
    INFO(out.Describe());
    REQUIRE(out.code() == 0);
    CHECK(absl::StrContains(out.out, "chain: OK"));
    const std::string digest_file = dir.Sub("digest.json");
    out = perfctl({"audit", "digest", "--save", digest_file});
    REQUIRE(out.code() == 0);
    out = perfctl({"audit", "prove", digest_file});
    REQUIRE(out.code() == 0);

    const std::string employee = grade->event().grade_finalized().employee_id();
    const std::string export_file = dir.Sub("export.jsonl");
    out = perfctl({"audit", "export", "--employee", employee, "--output-file", export_file});
    REQUIRE(out.code() == 0);
    std::ifstream in(export_file);
    std::string line;
    size_t lines = 0;
    bool has_grade = false;
    while (std::getline(in, line)) {
      const nlohmann::json j = nlohmann::json::parse(line);
      REQUIRE(j["envelope"].contains("position"));
      REQUIRE(j["envelope"]["hash"].get<std::string>().size() == 64);  // hex
      has_grade = has_grade || j["envelope"]["event_id"] == grade->envelope().event_id();
      lines++;
    }
    CHECK(has_grade);
    CHECK(lines >= 3);

    // The server stops; someone with disk access changes the grade.
    server.reset();
    const uint32_t partition = grade->envelope().position().partition();
    const uint64_t offset = grade->envelope().position().offset();
    {
      EmbeddedLogOptions options;
      options.dir = dir.Sub("data") + "/log";
      auto log = EmbeddedLog::Open(options);
      REQUIRE(log.ok());
      auto stored = (*log)->Read(PartitionId(partition), Offset(offset), 1);
      REQUIRE(stored.ok());
      REQUIRE(stored->size() == 1);
      v1::Envelope forged = stored->front();
      v1::Event event;
      REQUIRE(event.ParseFromString(forged.payload()));
      const std::string was = event.grade_finalized().grade();
      event.mutable_grade_finalized()->set_grade(was == "A" ? "D" : "A");
      forged.set_payload(event.SerializeAsString());
      REQUIRE(EmbeddedLogTestPeer::Tamper(**log, PositionAt(partition, offset), forged).ok());
      (*log)->Close();
    }
    server = std::make_unique<Server>(dir);
    server->Start();
    const std::string where = absl::StrCat("partition ", partition, " offset ", offset);
    out = perfctl({"audit", "verify"});
    INFO(out.Describe());
    CHECK(out.code() == 1);
    CHECK(absl::StrContains(out.out, where));
    CHECK(absl::StrContains(out.out, grade->envelope().event_id()));
    CHECK(absl::StrContains(out.err, where));
    out = perfctl({"audit", "prove", digest_file});
    CHECK(out.code() == 1);
    CHECK(absl::StrContains(out.out, where));
  }
}

}  // namespace
}  // namespace perfledger::scenario
