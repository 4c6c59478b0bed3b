// What perfbench sends: the fixture's stable ids, the event mix and one request builder per kind.
//
// Every id perfbench writes starts with "bench-" so benchmark data never collides with real data.
// Fixture ids are stable across runs (reruns against the same server deduplicate); load ids carry
// a per-run id so a rerun never replays an earlier run's commands.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "perfledger/v1/commands.pb.h"
#include "perfledger/v1/views.pb.h"

namespace perfbench {

namespace v1 = ::perfledger::v1;

// One kind of request perfbench can send. Each maps to one RPC.
enum class EventKind {
  kMetricBatch,  // Metrics.ObserveMetrics with --batch-size observations
  kMetric,       // Metrics.ObserveMetric, one observation
  kCheckIn,      // CheckIns.RecordCheckIn
  kScore,        // Reviews.SubmitScore
  kProgress,     // Goals.RecordKeyResultProgress
  // Views.GetRanking of the ranking fixture's org unit: a query, it appends nothing. Its own
  // scenario only (--scenario ranking), never part of --mix: the commands' fixture has no grades.
  kRanking,
  // grpc.health.v1.Health/Check: the server's floor for one unary RPC (transport, HTTP/2,
  // thread wake-ups) with no perfledger work in it, measured beside the commands in the same
  // run. Its own scenario only (--scenario ping).
  kPing,
};
inline constexpr size_t kKindCount = 7;
inline constexpr std::array<EventKind, kKindCount> kAllKinds = {
    EventKind::kMetricBatch, EventKind::kMetric,   EventKind::kCheckIn, EventKind::kScore,
    EventKind::kProgress,    EventKind::kRanking,  EventKind::kPing};

// Name used in --mix and in reports: "metrics-batch", "metric", "checkin", "score", "progress",
// "ranking", "ping".
std::string_view KindName(EventKind kind);

// Relative weights per kind. The weights need not sum to 100.
struct Mix {
  std::array<uint32_t, kKindCount> weights{};

  static Mix Only(EventKind kind);
  // Parses "metric=70,checkin=10,score=10,progress=10". Unknown names, duplicates, non-numbers
  // and an all-zero mix are INVALID_ARGUMENT.
  static absl::StatusOr<Mix> Parse(std::string_view spec);

  uint32_t weight(EventKind kind) const { return weights[static_cast<size_t>(kind)]; }
  uint32_t total() const;
  // Whether any kind that references the per-employee goal is in the mix.
  bool NeedsGoals() const;
};

// Fixed ids of the fixture (see fixture.h).
inline constexpr std::string_view kOrgUnitId = "bench-ou";
inline constexpr std::string_view kManagerId = "bench-mgr";
inline constexpr std::string_view kCycleId = "bench-cycle";
inline constexpr std::string_view kKeyResultId = "kr1";
std::string EmployeeId(uint32_t index);  // bench-emp-<index>
std::string LineId(uint32_t index);      // bench-line-<index>, under bench-ou
std::string GoalId(uint32_t index);      // bench-goal-<index>

// The ranking fixture (fixture.h): one org unit per size, so an org unit of N people ranks
// exactly N rows whatever other sizes were created on the same server before.
std::string RankOrgUnitId(uint32_t size);                     // bench-rank<size>
std::string RankEmployeeId(uint32_t size, uint32_t index);    // bench-rank<size>-<index>
// The finalized score of the ranking fixture's employee `index`, in milli-points, 0..5000.
// Deterministic (reruns re-send identical commands, which the server deduplicates) and spread
// like a hash, so the ranking's order has nothing to do with the order of registration.
int64_t RankScoreMilli(uint32_t index);
// The grade that goes with a fixture score: A from 4.000, B from 3.000, C from 2.000, else D
// (the default scale of a cycle opened without grades).
std::string_view RankGrade(int64_t score_milli);
// Rows a ranking page asks for (the "top-50").
inline constexpr uint32_t kRankPageSize = 50;
struct WorkloadOptions {
  uint32_t subjects = 1000;   // employees bench-emp-0 .. bench-emp-<subjects-1>
  uint32_t batch_size = 100;  // observations per ObserveMetrics request
  // Send a unique idempotency key with every load command, as a careful client would (retries
  // then are safe). It costs the server a lookup and a write per command, so it is realistic.
  bool idempotency_keys = true;
  // Short per-run tag, part of every load id ("bench-<run_id>-...").
  std::string run_id;
};

// Events one request of `kind` appends.
uint32_t EventsPerRequest(EventKind kind, const WorkloadOptions& options);

// Serialized size of a typical stored Envelope (header fields, hashes, payload) for one event of
// `kind`, as the embedded log would write it. Used as the raw baseline's value size.
size_t TypicalEnvelopeBytes(EventKind kind, const WorkloadOptions& options);

// Builds requests. Requests are reused: the first Fill sizes the message, later ones only change
// the varying fields, so a steady run does no per-request allocation for repeated fields.
//
// Thread safety: none; each in-flight slot owns one builder.
class RequestBuilder {
 public:
  RequestBuilder(const WorkloadOptions& options, const Mix& mix, uint32_t slot, uint64_t seed);

  // Draws the next request's kind from the mix.
  EventKind NextKind();

  void Fill(v1::ObserveMetricsRequest* request);
  void Fill(v1::ObserveMetricRequest* request);
  void Fill(v1::RecordCheckInRequest* request);
  void Fill(v1::SubmitScoreRequest* request);
  void Fill(v1::RecordKeyResultProgressRequest* request);
  // Top kRankPageSize of the ranking fixture's org unit of options.subjects people.
  void Fill(v1::RankingRequest* request);

 private:
  // A new load id: bench-<run>-<slot>-<seq>-<suffix>. At most ~40 chars, within the 64 limit.
  std::string NextId(std::string_view suffix);
  void FillMeta(v1::CommandMeta* meta);
  uint32_t RandomSubject();
  void FillObservation(v1::Observation* observation);

  const WorkloadOptions options_;
  std::array<uint32_t, kKindCount> cumulative_{};  // prefix sums of the mix weights
  uint32_t slot_;
  uint64_t seq_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace perfbench
