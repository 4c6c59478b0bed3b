#include "tools/perfbench/workload.h"

#include <charconv>
#include <string>

#include "absl/status/status.h"
#include "perfledger/v1/envelope.pb.h"
#include "perfledger/v1/events.pb.h"

namespace perfbench {

std::string_view KindName(EventKind kind) {
  switch (kind) {
    case EventKind::kMetricBatch: return "metrics-batch";
    case EventKind::kMetric: return "metric";
    case EventKind::kCheckIn: return "checkin";
    case EventKind::kScore: return "score";
    case EventKind::kProgress: return "progress";
    case EventKind::kRanking: return "ranking";
    case EventKind::kPing: return "ping";
  }
  return "?";
}

Mix Mix::Only(EventKind kind) {
  Mix mix;
  mix.weights[static_cast<size_t>(kind)] = 1;
  return mix;
}

absl::StatusOr<Mix> Mix::Parse(std::string_view spec) {
  Mix mix;
  std::array<bool, kKindCount> seen{};
  while (!spec.empty()) {
    const size_t comma = spec.find(',');
    const std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError("--mix: expected name=weight, got '" + std::string(item) + "'");
    }
    const std::string_view name = item.substr(0, eq);
    const std::string_view number = item.substr(eq + 1);
    uint32_t weight = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), weight);
    if (ec != std::errc() || end != number.data() + number.size()) {
      return absl::InvalidArgumentError("--mix: bad weight '" + std::string(number) + "'");
    }
    if (name == KindName(EventKind::kRanking)) {
      return absl::InvalidArgumentError(
          "--mix: 'ranking' is a query with its own fixture; use --scenario ranking");
    }
    if (name == KindName(EventKind::kPing)) {
      return absl::InvalidArgumentError("--mix: 'ping' is not a command; use --scenario ping");
    }
    bool known = false;
    for (EventKind kind : kAllKinds) {
      if (KindName(kind) != name) continue;
      const size_t i = static_cast<size_t>(kind);
      if (seen[i]) return absl::InvalidArgumentError("--mix: '" + std::string(name) + "' twice");
      seen[i] = known = true;
      mix.weights[i] = weight;
    }
    if (!known) {
      return absl::InvalidArgumentError(
          "--mix: unknown kind '" + std::string(name) +
          "' (metric, checkin, score, progress, metrics-batch)");
    }
  }
  if (mix.total() == 0) return absl::InvalidArgumentError("--mix: all weights are zero");
  return mix;
}

uint32_t Mix::total() const {
  uint32_t sum = 0;
  for (uint32_t w : weights) sum += w;
  return sum;
}

bool Mix::NeedsGoals() const {
  return weight(EventKind::kCheckIn) > 0 || weight(EventKind::kProgress) > 0;
}

std::string EmployeeId(uint32_t index) { return "bench-emp-" + std::to_string(index); }
std::string LineId(uint32_t index) { return "bench-line-" + std::to_string(index); }
std::string GoalId(uint32_t index) { return "bench-goal-" + std::to_string(index); }

std::string RankOrgUnitId(uint32_t size) { return "bench-rank" + std::to_string(size); }
std::string RankEmployeeId(uint32_t size, uint32_t index) {
  return RankOrgUnitId(size) + "-" + std::to_string(index);
}

int64_t RankScoreMilli(uint32_t index) {
  // splitmix64's finalizer: a fixed bijection, so scores look random but never change.
  uint64_t z = uint64_t(index) + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<int64_t>(z % 5001);
}

std::string_view RankGrade(int64_t score_milli) {
  if (score_milli >= 4000) return "A";
  if (score_milli >= 3000) return "B";
  if (score_milli >= 2000) return "C";
  return "D";
}

uint32_t EventsPerRequest(EventKind kind, const WorkloadOptions& options) {
  switch (kind) {
    case EventKind::kMetricBatch: return options.batch_size;
    case EventKind::kRanking:
    case EventKind::kPing: return 0;
    default: return 1;
  }
}

// ------------------------------------------------------------------------ typical envelope size

namespace {

// The stored envelope of one event whose payload is `event`, with every header field the writer
// fills (ARCHITECTURE §3): ids, stream, timestamps, actor, the hash chain and the command digest.
// Only a command's first event carries the command digest and event count.
size_t EnvelopeBytes(const v1::Event& event, std::string_view type, std::string_view stream,
                     std::string_view partition_key, bool first_of_command) {
  const std::string hash(32, '\x5a');  // SHA-256 sized; content does not change the size
  v1::Envelope envelope;
  envelope.set_event_id("bench-r0123456-31-1234567-m-17");
  envelope.set_type(std::string(type));
  envelope.set_stream(std::string(stream));
  envelope.set_stream_version(123456);
  envelope.set_partition_key(std::string(partition_key));
  envelope.mutable_position()->set_partition(3);
  envelope.mutable_position()->set_offset(12345678);
  envelope.mutable_occurred_at()->set_seconds(1795000000);
  envelope.mutable_occurred_at()->set_nanos(123456789);
  *envelope.mutable_recorded_at() = envelope.occurred_at();
  envelope.mutable_actor()->set_principal("bench-client");
  envelope.mutable_actor()->set_role(v1::ROLE_ADMIN);
  envelope.set_correlation_id("bench-r0123456-31-1234567");
  envelope.set_schema_version(1);
  envelope.set_prev_hash(hash);
  envelope.set_hash(hash);
  envelope.set_sequence(12345678);
  envelope.set_control_version(1234);
  envelope.set_command_id("bench-r0123456-31-1234567");
  if (first_of_command) {
    envelope.set_command_digest(hash);
    envelope.set_command_event_count(1);
  }
  envelope.set_payload_sha256(hash);
  envelope.set_payload(event.SerializeAsString());
  return envelope.ByteSizeLong();
}

}  // namespace

size_t TypicalEnvelopeBytes(EventKind kind, const WorkloadOptions& options) {
  // Build a request the way the load does, then the event the server would derive from it
  // (request fields plus the enrichment the catalog names).
  RequestBuilder builder(options, Mix::Only(kind), 31, 1);
  const std::string employee = EmployeeId(options.subjects > 0 ? options.subjects - 1 : 0);
  const std::string stream = "employee/" + employee;
  v1::Event event;
  switch (kind) {
    case EventKind::kMetricBatch:
    case EventKind::kMetric: {
      v1::ObserveMetricRequest request;
      builder.Fill(&request);
      const v1::Observation& o = request.observation();
      v1::MetricObserved* m = event.mutable_metric_observed();
      m->set_subject_id(o.subject_id());
      m->set_subject_kind(o.subject_kind());
      m->set_metric(o.metric());
      m->set_value_milli(o.value_milli());
      m->set_unit(o.unit());
      m->set_source(o.source());
      m->set_org_unit_id(std::string(kOrgUnitId));
      m->set_cycle_id(o.cycle_id());
      const std::string metric_stream = "metrics/" + o.subject_id();
      const size_t first = EnvelopeBytes(event, "MetricObserved", metric_stream, o.subject_id(), true);
      const size_t rest = EnvelopeBytes(event, "MetricObserved", metric_stream, o.subject_id(), false);
      const size_t n = EventsPerRequest(kind, options);
      return (first + (n - 1) * rest + n / 2) / n;  // the mean over one request's events
    }
    case EventKind::kCheckIn: {
      v1::RecordCheckInRequest request;
      builder.Fill(&request);
      v1::CheckInRecorded* c = event.mutable_check_in_recorded();
      c->set_check_in_id(request.check_in_id());
      c->set_employee_id(request.employee_id());
      c->set_manager_id(std::string(kManagerId));
      c->set_cycle_id(request.cycle_id());
      *c->mutable_progress() = request.progress();
      *c->mutable_blockers() = request.blockers();
      c->set_support_requested(request.support_requested());
      c->set_notes(request.notes());
      c->set_org_unit_id(std::string(kOrgUnitId));
      return EnvelopeBytes(event, "CheckInRecorded", stream, employee, true);
    }
    case EventKind::kScore: {
      v1::SubmitScoreRequest request;
      builder.Fill(&request);
      v1::ScoreSubmitted* s = event.mutable_score_submitted();
      s->set_score_id(request.score_id());
      s->set_employee_id(request.employee_id());
      s->set_cycle_id(request.cycle_id());
      s->set_reviewer_id(request.reviewer_id());
      s->set_source(request.source());
      *s->mutable_scores() = request.scores();
      s->set_comment(request.comment());
      s->set_org_unit_id(std::string(kOrgUnitId));
      s->set_manager_id(std::string(kManagerId));
      return EnvelopeBytes(event, "ScoreSubmitted", stream, employee, true);
    }
    case EventKind::kProgress: {
      v1::RecordKeyResultProgressRequest request;
      builder.Fill(&request);
      v1::KeyResultProgressRecorded* p = event.mutable_key_result_progress_recorded();
      p->set_goal_id(request.goal_id());
      p->set_key_result_id(request.key_result_id());
      p->set_value_milli(request.value_milli());
      p->set_note(request.note());
      p->set_progress_bp(5000);
      return EnvelopeBytes(event, "KeyResultProgressRecorded", "goal/" + request.goal_id(),
                           employee, true);
    }
    case EventKind::kRanking:
    case EventKind::kPing:
      return 0;  // a query stores nothing
  }
  return 0;
}

// ------------------------------------------------------------------------ request builder

RequestBuilder::RequestBuilder(const WorkloadOptions& options, const Mix& mix, uint32_t slot,
                               uint64_t seed)
    : options_(options), slot_(slot), rng_(seed) {
  uint32_t sum = 0;
  for (size_t i = 0; i < kKindCount; ++i) cumulative_[i] = sum += mix.weights[i];
}

EventKind RequestBuilder::NextKind() {
  const uint32_t total = cumulative_.back();
  const uint32_t draw = static_cast<uint32_t>(rng_() % total);
  for (size_t i = 0; i < kKindCount; ++i) {
    if (draw < cumulative_[i]) return kAllKinds[i];
  }
  return kAllKinds.back();
}

std::string RequestBuilder::NextId(std::string_view suffix) {
  std::string id = "bench-";
  id += options_.run_id;
  id += '-';
  id += std::to_string(slot_);
  id += '-';
  id += std::to_string(++seq_);
  id += '-';
  id += suffix;
  return id;
}

void RequestBuilder::FillMeta(v1::CommandMeta* meta) {
  if (options_.idempotency_keys) meta->set_idempotency_key(NextId("k"));
}

uint32_t RequestBuilder::RandomSubject() {
  return static_cast<uint32_t>(rng_() % options_.subjects);
}

void RequestBuilder::FillObservation(v1::Observation* o) {
  if (o->metric().empty()) {  // first use: the constant fields
    o->set_subject_kind(v1::OWNER_KIND_EMPLOYEE);
    o->set_metric("defect_rate");
    o->set_unit("%");
    o->set_source("IoT");
    o->set_cycle_id(std::string(kCycleId));
  }
  o->set_subject_id(EmployeeId(RandomSubject()));
  o->set_value_milli(static_cast<int64_t>(rng_() % 8000));  // 0 .. 7.999 %
}

void RequestBuilder::Fill(v1::ObserveMetricsRequest* request) {
  FillMeta(request->mutable_meta());
  auto* observations = request->mutable_observations();
  while (observations->size() < static_cast<int>(options_.batch_size)) observations->Add();
  for (v1::Observation& o : *observations) FillObservation(&o);
}

void RequestBuilder::Fill(v1::ObserveMetricRequest* request) {
  FillMeta(request->mutable_meta());
  FillObservation(request->mutable_observation());
}

void RequestBuilder::Fill(v1::RecordCheckInRequest* request) {
  const uint32_t subject = RandomSubject();
  FillMeta(request->mutable_meta());
  request->set_check_in_id(NextId("ci"));
  request->set_employee_id(EmployeeId(subject));
  request->set_cycle_id(std::string(kCycleId));  // manager left empty: the employee's current one
  if (request->progress_size() == 0) request->add_progress();
  v1::GoalProgress* progress = request->mutable_progress(0);
  progress->set_goal_id(GoalId(subject));
  progress->set_progress_bp(static_cast<uint32_t>(rng_() % 10001));
  progress->set_comment("on track; second line calibrated");
  if (request->blockers_size() == 0) request->add_blockers("waiting for the new gauge");
  request->set_support_requested("pairing on the rework station");
  request->set_notes("Weekly one-to-one: defect rate trending down, training booked for next week.");
}

void RequestBuilder::Fill(v1::SubmitScoreRequest* request) {
  FillMeta(request->mutable_meta());
  const uint32_t subject = RandomSubject();
  request->set_score_id(NextId("sc"));
  request->set_employee_id(EmployeeId(subject));
  request->set_cycle_id(std::string(kCycleId));
  // A peer score from the next employee: a cycle may hold any number of peer scores, so repeated
  // runs never trip a "one manager score per employee and cycle" rule.
  request->set_reviewer_id(EmployeeId((subject + 1) % options_.subjects));
  request->set_source(v1::SCORE_SOURCE_PEER);
  if (request->scores_size() == 0) {
    request->add_scores()->set_dimension("delivery");
    request->add_scores()->set_dimension("quality");
  }
  for (v1::DimensionScore& s : *request->mutable_scores()) {
    s.set_score_milli(static_cast<int64_t>(rng_() % 5001));
  }
  request->set_comment("Solid quarter; keeps the line's defect rate low.");
}

void RequestBuilder::Fill(v1::RecordKeyResultProgressRequest* request) {
  FillMeta(request->mutable_meta());
  request->set_goal_id(GoalId(RandomSubject()));
  request->set_key_result_id(std::string(kKeyResultId));
  request->set_value_milli(static_cast<int64_t>(rng_() % 5001));
  request->set_note("weekly measurement");
}

void RequestBuilder::Fill(v1::RankingRequest* request) {
  // Always the first page: "top-50" is what a manager's dashboard asks for.
  if (request->cycle_id().empty()) {
    request->set_cycle_id(std::string(kCycleId));
    request->set_org_unit_id(RankOrgUnitId(options_.subjects));
    request->set_page_size(kRankPageSize);
  }
}

}  // namespace perfbench
