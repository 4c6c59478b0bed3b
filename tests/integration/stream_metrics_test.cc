// Metrics.StreamMetrics: each batch is its own atomic command; a client that drops the stream
// keeps every batch acknowledged so far, and re-sending with the same keys completes the feed.
#include "tests/integration/helpers.h"

#include <map>

#include "tests/support/wait.h"

namespace perfledger::testing {
namespace {

constexpr int kBatches = 10;
constexpr int kPerBatch = 20;

// Batch i: kPerBatch observations of metric "feed-<i>", idempotency key "feed-key-<i>".
v1::ObserveMetricsRequest FeedBatch(int i) {
  v1::ObserveMetricsRequest r = ObserveMetricsReq(kPerBatch, i % 2 == 0 ? fx::kEmployee
                                                                        : fx::kEmployee2);
  for (auto& o : *r.mutable_observations()) o.set_metric("feed-" + std::to_string(i));
  r.mutable_meta()->set_idempotency_key("feed-key-" + std::to_string(i));
  return r;
}

// Events per feed batch found in the log.
std::map<int, int> CountPerBatch(TestServer& server) {
  std::map<int, int> counts;
  for (const auto& e : server.ReadAllEvents()) {
    if (!e.event().has_metric_observed()) continue;
    const std::string& metric = e.event().metric_observed().metric();
    if (absl::StartsWith(metric, "feed-")) counts[std::stoi(metric.substr(5))]++;
  }
  return counts;
}

// Re-sends every batch by unary call with its key; returns how many were deduplicated.
int ResendAll(TestServer& server) {
  int deduplicated = 0;
  for (int i = 0; i < kBatches; i++) {
    auto r = MustOk(server.Call(server.metrics(), &v1::Metrics::Stub::ObserveMetrics,
                                FeedBatch(i)));
    CHECK(r.events_size() == kPerBatch);
    if (r.deduplicated()) deduplicated++;
  }
  return deduplicated;
}

// Streams `batches` in one call to the end (half-close, then the server's status).
grpc::Status StreamAll(TestServer& server, grpc::ClientContext& context,
                       const std::vector<v1::ObserveMetricsRequest>& batches) {
  server.Prepare(context);
  v1::ObserveMetricsSummary summary;
  auto writer = server.metrics().StreamMetrics(&context, &summary);
  for (const auto& batch : batches) writer->Write(batch);
  writer->WritesDone();
  return writer->Finish();
}

TEST_CASE("stream metrics: a stream dropped half-way keeps the acknowledged batches",
          "[stream]") {
  TestServer server;
  SeedFixture(server);
  const uint64_t base = server.LogEnd();

  grpc::ClientContext context;
  server.Prepare(context);
  v1::ObserveMetricsSummary summary;
  auto writer = server.metrics().StreamMetrics(&context, &summary);
  constexpr int kSent = 5;
  for (int i = 0; i < kSent; i++) REQUIRE(writer->Write(FeedBatch(i)));
  // Acknowledged = durable and visible in the log; then the client goes away mid-stream.
  REQUIRE(WaitUntil([&] { return server.LogEnd() == base + kSent * kPerBatch; }));
  context.TryCancel();
  const grpc::Status status = writer->Finish();
  CHECK(status.error_code() == grpc::StatusCode::CANCELLED);

  auto counts = CountPerBatch(server);
  for (int i = 0; i < kSent; i++) CHECK(counts[i] == kPerBatch);
  CHECK(server.LogEnd() == base + kSent * kPerBatch);

  // The server keeps serving, and the same keys tell the client what had landed.
  CHECK(ResendAll(server) == kSent);
  counts = CountPerBatch(server);
  for (int i = 0; i < kBatches; i++) CHECK(counts[i] == kPerBatch);
  CHECK(server.LogEnd() == base + kBatches * kPerBatch);
  RequireChainsVerify(server);
}

TEST_CASE("stream metrics: a stream cancelled at once lands whole batches only", "[stream]") {
  TestServer server;
  SeedFixture(server);
  const uint64_t base = server.LogEnd();
  {
    grpc::ClientContext context;
    server.Prepare(context);
    v1::ObserveMetricsSummary summary;
    auto writer = server.metrics().StreamMetrics(&context, &summary);
    for (int i = 0; i < kBatches; i++) {
      if (!writer->Write(FeedBatch(i))) break;
    }
    context.TryCancel();
    writer->Finish();
  }
  // Batches are atomic: whatever the server took in before the cancel is there whole (one
  // that is still being appended shows up whole or not at all).
  int landed = 0;
  for (const auto& [batch, count] : CountPerBatch(server)) {
    INFO("batch " << batch);
    CHECK(count == kPerBatch);  // never a part of a batch
    landed++;
  }
  // Re-sending with the same keys completes the feed without doubling anything, whether a
  // batch landed before the re-send, during it (in flight) or not at all.
  CHECK(ResendAll(server) >= landed);
  const auto counts = CountPerBatch(server);
  CHECK(counts.size() == static_cast<size_t>(kBatches));
  for (const auto& [batch, count] : counts) CHECK(count == kPerBatch);
  CHECK(server.LogEnd() == base + kBatches * kPerBatch);
  RequireChainsVerify(server);
}

TEST_CASE("stream metrics: a bad batch ends the stream, earlier batches stay", "[stream]") {
  TestServer server;
  SeedFixture(server);
  const uint64_t base = server.LogEnd();
  auto bad = FeedBatch(2);
  bad.mutable_observations(1)->clear_metric();
  grpc::ClientContext context;
  const grpc::Status status =
      StreamAll(server, context, {FeedBatch(0), FeedBatch(1), bad, FeedBatch(3)});
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(absl::StartsWith(status.error_message(), "batch 2: observations[1].metric"));
  // The failed call names how many of its batches were recorded: where a client resumes.
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto recorded = trailers.find("perfledger-batches-recorded");
  REQUIRE(recorded != trailers.end());
  CHECK(std::string(recorded->second.data(), recorded->second.size()) == "2");
  const auto counts = CountPerBatch(server);
  CHECK(counts.at(0) == kPerBatch);
  CHECK(counts.at(1) == kPerBatch);
  CHECK(counts.count(2) == 0);
  CHECK(counts.count(3) == 0);
  CHECK(server.LogEnd() == base + 2 * kPerBatch);
  MustOk(server.Call(server.metrics(), &v1::Metrics::Stub::ObserveMetric, ObserveMetricReq()));
}

TEST_CASE("stream metrics: a batch with invalid UTF-8 ends the stream naming the field",
          "[stream]") {
  TestServer server;
  SeedFixture(server);
  const uint64_t base = server.LogEnd();
  auto bad = FeedBatch(1);
  bad.mutable_observations(2)->set_unit("\xc3");
  grpc::ClientContext context;
  const grpc::Status status = StreamAll(server, context, {FeedBatch(0), bad, FeedBatch(2)});
  INFO(status.error_message());
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(absl::StartsWith(status.error_message(), "batch 1: unit: not valid UTF-8"));
  const auto counts = CountPerBatch(server);
  CHECK(counts.at(0) == kPerBatch);
  CHECK(counts.count(1) == 0);
  CHECK(server.LogEnd() == base + kPerBatch);
}

}  // namespace
}  // namespace perfledger::testing
