// A restart on the same data directory: the log, the write model and idempotency survive, and
// the chain continues.
#include "tests/integration/helpers.h"

namespace perfledger::testing {
namespace {

TEST_CASE("restart: state and idempotency survive and the chain continues", "[restart]") {
  TestServer server;
  SeedFixture(server);
  auto score = SubmitScoreReq("S1");
  score.mutable_meta()->set_idempotency_key("score-before-restart");
  const auto first = MustOk(server.Call(server.reviews(), &v1::Reviews::Stub::SubmitScore, score));
  auto batch = ObserveMetricsReq(4, fx::kEmployee2);
  batch.mutable_meta()->set_idempotency_key("batch-before-restart");
  const auto first_batch =
      MustOk(server.Call(server.metrics(), &v1::Metrics::Stub::ObserveMetrics, batch));
  MustOk(server.Call(server.people(), &v1::People::Stub::RecordDeparture,
                     RecordDepartureReq(fx::kEmployee2)));
  const auto before = server.Status();
  const auto events_before = server.ReadAllEvents();

  server.Restart();

  const auto after = server.Status();
  REQUIRE(after.partitions_size() == before.partitions_size());
  for (int p = 0; p < after.partitions_size(); p++) {
    CHECK(after.partitions(p).end_offset() == before.partitions(p).end_offset());
    CHECK(after.partitions(p).last_hash() == before.partitions(p).last_hash());
  }
  // Retries after the restart get the first answers.
  auto again = MustOk(server.Call(server.reviews(), &v1::Reviews::Stub::SubmitScore, score));
  CHECK(again.deduplicated());
  REQUIRE(again.events_size() == 1);
  CHECK(again.events(0).event_id() == first.events(0).event_id());
  CHECK(again.events(0).position().offset() == first.events(0).position().offset());
  auto again_batch =
      MustOk(server.Call(server.metrics(), &v1::Metrics::Stub::ObserveMetrics, batch));
  CHECK(again_batch.deduplicated());
  CHECK(again_batch.events_size() == 4);
  score.set_comment("different");
  RequireError(server.Call(server.reviews(), &v1::Reviews::Stub::SubmitScore, score),
               grpc::StatusCode::ALREADY_EXISTS, "meta.idempotency_key");
  CHECK(server.LogEnd() == after.total_events());

  // The write model came back: versions continue, the departure still holds, the score exists.
  auto r = MustOk(server.Call(server.reviews(), &v1::Reviews::Stub::AmendScore,
                              AmendScoreReq("S1")));
  CHECK(r.events(0).stream_version() == 3);
  RequireError(server.Call(server.people(), &v1::People::Stub::UpdateEmployee,
                           UpdateEmployeeReq(fx::kEmployee2)),
               grpc::StatusCode::FAILED_PRECONDITION, "has departed");
  RequireError(server.Call(server.reviews(), &v1::Reviews::Stub::SubmitScore, SubmitScoreReq("S1")),
               grpc::StatusCode::ALREADY_EXISTS, "score_id");
  const auto events = server.ReadAllEvents();
  CHECK(events.size() == events_before.size() + 1);
  CHECK(OneEvent(events, r.events(0).event_id()).event().score_amended().corrects_event_id() ==
        first.events(0).event_id());
  RequireChainsVerify(server);
}

}  // namespace
}  // namespace perfledger::testing
