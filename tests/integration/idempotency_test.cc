// Idempotency keys, client event ids and optimistic concurrency (expected_version).
#include "tests/integration/helpers.h"

#include <thread>

#include "absl/synchronization/barrier.h"
#include "perfledger/v1/policies.grpc.pb.h"

namespace perfledger::testing {
namespace {

using v1::Metrics;
using v1::People;
using v1::Reviews;

bool SameEvents(const v1::CommandResult& a, const v1::CommandResult& b) {
  if (a.events_size() != b.events_size()) return false;
  for (int i = 0; i < a.events_size(); i++) {
    const auto& x = a.events(i);
    const auto& y = b.events(i);
    if (x.event_id() != y.event_id() || x.stream() != y.stream() ||
        x.stream_version() != y.stream_version() ||
        x.position().partition() != y.position().partition() ||
        x.position().offset() != y.position().offset()) {
      return false;
    }
  }
  return true;
}

TEST_CASE("idempotency: the same key twice answers the same and appends once", "[idempotency]") {
  TestServer server;
  SeedFixture(server);
  auto req = SubmitScoreReq("S1");
  req.mutable_meta()->set_idempotency_key("score-S1-once");
  const auto first = MustOk(server.Call(server.reviews(), &Reviews::Stub::SubmitScore, req));
  CHECK_FALSE(first.deduplicated());
  const uint64_t end = server.LogEnd();

  const auto second = MustOk(server.Call(server.reviews(), &Reviews::Stub::SubmitScore, req));
  CHECK(second.deduplicated());
  CHECK(SameEvents(first, second));
  CHECK(server.LogEnd() == end);

  SECTION("a different request under the same key is refused") {
    auto other = req;
    other.set_comment("changed my mind");
    const auto reply = server.Call(server.reviews(), &Reviews::Stub::SubmitScore, other);
    RequireError(reply, grpc::StatusCode::ALREADY_EXISTS, "meta.idempotency_key");
    CHECK(absl::StartsWith(reply.status.error_message(), "meta.idempotency_key"));
    CHECK(server.LogEnd() == end);
  }
  SECTION("a multi-event batch is deduplicated whole") {
    auto batch = ObserveMetricsReq(5);
    batch.mutable_meta()->set_idempotency_key("batch-1");
    const auto a = MustOk(server.Call(server.metrics(), &Metrics::Stub::ObserveMetrics, batch));
    REQUIRE(a.events_size() == 5);
    const auto b = MustOk(server.Call(server.metrics(), &Metrics::Stub::ObserveMetrics, batch));
    CHECK(b.deduplicated());
    CHECK(SameEvents(a, b));
    CHECK(server.LogEnd() == end + 5);
  }
  const auto events = server.ReadAllEvents();
  CHECK(EventsWithId(events, first.events(0).event_id()).size() == 1);
}

TEST_CASE("idempotency: a client event id stands in for a key", "[idempotency]") {
  TestServer server;
  SeedFixture(server);
  auto req = CalibrationReq();
  req.mutable_meta()->set_event_id("calib-E1-1");
  const auto first =
      MustOk(server.Call(server.reviews(), &Reviews::Stub::AdjustCalibration, req));
  REQUIRE(first.events_size() == 1);
  CHECK(first.events(0).event_id() == "calib-E1-1");
  const uint64_t end = server.LogEnd();

  // The same request again: the first answer.
  const auto retry = MustOk(server.Call(server.reviews(), &Reviews::Stub::AdjustCalibration, req));
  CHECK(retry.deduplicated());
  CHECK(SameEvents(first, retry));
  CHECK(server.LogEnd() == end);

  // The event id reused by a different request, with or without an idempotency key.
  auto other = CalibrationReq(fx::kEmployee, 4'000);
  other.mutable_meta()->set_event_id("calib-E1-1");
  RequireError(server.Call(server.reviews(), &Reviews::Stub::AdjustCalibration, other),
               grpc::StatusCode::ALREADY_EXISTS, "meta.event_id");
  other.mutable_meta()->set_idempotency_key("another-key");
  RequireError(server.Call(server.reviews(), &Reviews::Stub::AdjustCalibration, other),
               grpc::StatusCode::ALREADY_EXISTS, "meta.event_id");
  // Another command type reusing it is refused too: event ids are global.
  auto feedback = FeedbackReq();
  feedback.mutable_meta()->set_event_id("calib-E1-1");
  RequireError(server.Call(server.reviews(), &Reviews::Stub::RecordFeedback, feedback),
               grpc::StatusCode::ALREADY_EXISTS, "event_id");
  // The generated-id prefix is reserved.
  auto reserved = CalibrationReq();
  reserved.mutable_meta()->set_event_id("pl-mine");
  RequireError(server.Call(server.reviews(), &Reviews::Stub::AdjustCalibration, reserved),
               grpc::StatusCode::INVALID_ARGUMENT, "meta.event_id");
  CHECK(server.LogEnd() == end);
  CHECK(EventsWithId(server.ReadAllEvents(), "calib-E1-1").size() == 1);
}

TEST_CASE("idempotency: observation event ids", "[idempotency]") {
  TestServer server;
  SeedFixture(server);
  auto single = ObserveMetricReq();
  single.mutable_observation()->set_event_id("iot-reading-1");
  const auto first = MustOk(server.Call(server.metrics(), &Metrics::Stub::ObserveMetric, single));
  CHECK(first.events(0).event_id() == "iot-reading-1");
  const uint64_t end = server.LogEnd();
  // A re-sent reading is answered from the first.
  const auto again = MustOk(server.Call(server.metrics(), &Metrics::Stub::ObserveMetric, single));
  CHECK(again.deduplicated());
  CHECK(SameEvents(first, again));

  // A batch naming an id already in the log with other content is refused whole, naming it.
  auto batch = ObserveMetricsReq(3);
  batch.mutable_observations(2)->set_event_id("iot-reading-1");
  batch.mutable_observations(2)->set_value_milli(single.observation().value_milli() + 1);
  RequireError(server.Call(server.metrics(), &Metrics::Stub::ObserveMetrics, batch),
               grpc::StatusCode::ALREADY_EXISTS, "observations[2].event_id: iot-reading-1");
  // A batch naming one id twice is malformed.
  batch.mutable_observations(1)->set_event_id("iot-reading-2");
  batch.mutable_observations(2)->set_event_id("iot-reading-2");
  RequireError(server.Call(server.metrics(), &Metrics::Stub::ObserveMetrics, batch),
               grpc::StatusCode::INVALID_ARGUMENT, "event_id");
  CHECK(server.LogEnd() == end);

  // Client ids inside a batch are kept on their events.
  batch.mutable_observations(2)->set_event_id("iot-reading-3");
  const auto ok = MustOk(server.Call(server.metrics(), &Metrics::Stub::ObserveMetrics, batch));
  CHECK(ok.events(1).event_id() == "iot-reading-2");
  CHECK(ok.events(2).event_id() == "iot-reading-3");
  CHECK(ok.duplicate_event_ids().empty());
  CHECK(server.LogEnd() == end + 3);

  // A gateway re-sends readings already recorded, with the same content, among new ones: those
  // are acknowledged as duplicates and the rest is appended.
  auto resend = ObserveMetricsReq(3);
  *resend.mutable_observations(0) = single.observation();
  *resend.mutable_observations(1) = batch.observations(2);
  resend.mutable_observations(2)->set_event_id("iot-reading-4");
  const auto mixed = MustOk(server.Call(server.metrics(), &Metrics::Stub::ObserveMetrics, resend));
  REQUIRE(mixed.events_size() == 1);
  CHECK(mixed.events(0).event_id() == "iot-reading-4");
  CHECK(std::vector<std::string>(mixed.duplicate_event_ids().begin(),
                                 mixed.duplicate_event_ids().end()) ==
        std::vector<std::string>{"iot-reading-1", "iot-reading-3"});
  CHECK(server.LogEnd() == end + 4);
  // Only re-sends: nothing appended, every item acknowledged.
  resend.mutable_observations()->RemoveLast();
  const auto none = MustOk(server.Call(server.metrics(), &Metrics::Stub::ObserveMetrics, resend));
  CHECK(none.events().empty());
  CHECK(none.duplicate_event_ids_size() == 2);
  CHECK(server.LogEnd() == end + 4);
}

TEST_CASE("idempotency: an answered reading is compared at once and never still in flight",
          "[idempotency]") {
  // A reading is answered once durable, before the write model has folded it: a client that
  // sends its id again right after the answer gets the verdict on the content (a duplicate, or
  // ALREADY_EXISTS), not ABORTED. Many rounds, so the fold rarely wins the race.
  TestServer server;
  SeedFixture(server);
  for (int round = 0; round < 100; round++) {
    INFO("round " << round);
    auto single = ObserveMetricReq();
    single.mutable_observation()->set_event_id(absl::StrCat("answered-", round));
    MustOk(server.Call(server.metrics(), &Metrics::Stub::ObserveMetric, single));
    if (round % 2 == 0) {
      const auto again = MustOk(server.Call(server.metrics(), &Metrics::Stub::ObserveMetric, single));
      CHECK(again.deduplicated());
    } else {
      auto changed = ObserveMetricsReq(1);
      *changed.mutable_observations(0) = single.observation();
      changed.mutable_observations(0)->set_value_milli(single.observation().value_milli() + 1);
      RequireError(server.Call(server.metrics(), &Metrics::Stub::ObserveMetrics, changed),
                   grpc::StatusCode::ALREADY_EXISTS,
                   absl::StrCat("observations[0].event_id: answered-", round));
    }
  }
}

TEST_CASE("read-your-writes: a policy is readable right after it is published", "[idempotency]") {
  TestServer server;
  SeedFixture(server);
  auto policies = v1::Policies::NewStub(server.NewChannel());
  v1::PublishPolicyRequest publish;
  publish.set_document(kGradeActionsPolicy);
  const auto published =
      MustOk(server.Call(*policies, &v1::Policies::Stub::PublishPolicy, publish), "publish");
  // With the publication's position...
  v1::GetPolicyRequest get;
  *get.mutable_consistency()->add_min_position() = published.events(0).position();
  const auto info = MustOk(server.Call(*policies, &v1::Policies::Stub::GetPolicy, get), "get");
  CHECK(info.version() == 1);
  v1::ListPoliciesRequest list;
  *list.mutable_consistency()->add_min_position() = published.events(0).position();
  CHECK(MustOk(server.Call(*policies, &v1::Policies::Stub::ListPolicies, list), "list")
            .policies_size() == 1);
  // ... and without it: a version not known yet is looked up again once the reactor caught up.
  publish.set_document(std::string(kGradeActionsPolicy) + "# v2\n");
  MustOk(server.Call(*policies, &v1::Policies::Stub::PublishPolicy, publish), "publish v2");
  v1::GetPolicyRequest v2;
  v2.set_version(2);
  CHECK(MustOk(server.Call(*policies, &v1::Policies::Stub::GetPolicy, v2), "get v2").version() ==
        2);
}

TEST_CASE("idempotency: concurrent retries of one key append once", "[idempotency]") {
  TestServer server;
  SeedFixture(server);
  const uint64_t end = server.LogEnd();
  constexpr int kThreads = 8;
  for (int round = 0; round < 3; round++) {
    auto req = ObserveMetricsReq(3);
    req.mutable_meta()->set_idempotency_key("retry-storm-" + std::to_string(round));
    std::vector<Reply<v1::CommandResult>> replies(kThreads);
    absl::Barrier* start = new absl::Barrier(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++) {
      threads.emplace_back([&, t] {
        if (start->Block()) delete start;
        replies[t] = server.Call(server.metrics(), &Metrics::Stub::ObserveMetrics, req);
      });
    }
    for (auto& t : threads) t.join();
    int fresh = 0;
    for (const auto& reply : replies) {
      INFO(reply.status.error_message());
      REQUIRE(reply.ok());
      if (!reply.response.deduplicated()) fresh++;
      CHECK(SameEvents(reply.response, replies[0].response));
    }
    CHECK(fresh == 1);
    CHECK(server.LogEnd() == end + 3 * (round + 1));
  }
  RequireChainsVerify(server);
}

TEST_CASE("expected_version: a stale version is ABORTED and writes nothing", "[idempotency]") {
  TestServer server;
  SeedFixture(server);
  // employee/E1 is at version 1 after the fixture.
  auto update = UpdateEmployeeReq();
  update.mutable_meta()->set_expected_version(1);
  auto r = MustOk(server.Call(server.people(), &People::Stub::UpdateEmployee, update));
  CHECK(r.events(0).stream_version() == 2);
  const uint64_t end = server.LogEnd();

  // Replaying the now stale version.
  update.set_reason("second try");
  auto reply = server.Call(server.people(), &People::Stub::UpdateEmployee, update);
  RequireError(reply, grpc::StatusCode::ABORTED, "meta.expected_version");
  CHECK(absl::StrContains(reply.status.error_message(), "employee/E1 is at version 2, not 1"));
  // A new stream must be at 0.
  auto reg = RegisterEmployeeReq("E9");
  reg.mutable_meta()->set_expected_version(3);
  reply = server.Call(server.people(), &People::Stub::RegisterEmployee, reg);
  RequireError(reply, grpc::StatusCode::ABORTED, "is at version 0, not 3");
  CHECK(server.LogEnd() == end);

  reg.mutable_meta()->set_expected_version(0);
  MustOk(server.Call(server.people(), &People::Stub::RegisterEmployee, reg));
  update.mutable_meta()->set_expected_version(2);
  r = MustOk(server.Call(server.people(), &People::Stub::UpdateEmployee, update));
  CHECK(r.events(0).stream_version() == 3);

  // A batch over one subject can name its version; over several it cannot.
  auto batch = ObserveMetricsReq(2);
  batch.mutable_meta()->set_expected_version(0);
  r = MustOk(server.Call(server.metrics(), &Metrics::Stub::ObserveMetrics, batch));
  CHECK(r.events(1).stream_version() == 2);
  batch.mutable_meta()->set_expected_version(2);
  *batch.add_observations() = Obs(fx::kEmployee2);
  RequireError(server.Call(server.metrics(), &Metrics::Stub::ObserveMetrics, batch),
               grpc::StatusCode::INVALID_ARGUMENT, "meta.expected_version");
}

}  // namespace
}  // namespace perfledger::testing
