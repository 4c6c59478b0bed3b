#include "projections/audit.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/descriptor.h"
#include "ledger/limits.h"
#include "ledger/policy.h"
#include "ledger/rocks_util.h"
#include "ledger/state_store.h"
#include "ledger/status_macros.h"
#include "ledger/types.h"
#include "ledger/validation.h"
#include "projections/hook_queries.h"
#include "projections/keys.h"
#include "projections/queries.h"
#include "projections/views/views.h"

namespace perfledger::projections {
namespace {

// A read-only view of a log prefix: the projector of an as-of replay sees exactly the events
// before `ends` and a log that never grows.
class PrefixLog final : public EventLog {
 public:
  PrefixLog(EventLog* base, LogEnds ends) : base_(base), ends_(std::move(ends)) {}

  std::string_view backend() const override { return base_->backend(); }
  uint32_t data_partitions() const override { return base_->data_partitions(); }
  void Append(AppendBatch, AppendDone done) override {
    done(absl::FailedPreconditionError("an as-of replay never appends"));
  }
  absl::StatusOr<std::vector<StoredEvent>> Read(PartitionId partition, Offset from,
                                                size_t max_events) override {
    if (!ends_.contains(partition) || from >= ends_[partition]) {
      return std::vector<StoredEvent>();
    }
    max_events = static_cast<size_t>(std::min<uint64_t>(max_events, ends_[partition] - from));
    ASSIGN_OR_RETURN(auto events, base_->Read(partition, from, max_events));
    // Kafka offsets have gaps: a read may run past the cut.
    while (!events.empty() && Offset(events.back().position().offset()) >= ends_[partition]) {
      events.pop_back();
    }
    return events;
  }
  LogEnds Ends() override { return ends_; }
  LogEnds WaitForAppend(const LogEnds&, absl::Time deadline) override {
    // Nothing is ever appended: sleep until the deadline or Close, like a quiet log.
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, absl::ToChronoTime(deadline), [this] { return closed_; });
    return ends_;
  }
  std::vector<std::string> ChainTips() override { return {}; }
  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }

 private:
  EventLog* base_;
  const LogEnds ends_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
};

// The event at exactly `offset`, if the log holds one there.
absl::StatusOr<std::optional<StoredEvent>> ReadAt(EventLog& log, PartitionId partition,
                                                  Offset offset) {
  ASSIGN_OR_RETURN(auto events, log.Read(partition, offset, 1));
  if (events.empty() || Offset(events.front().position().offset()) != offset) {
    return std::optional<StoredEvent>();
  }
  return std::optional<StoredEvent>(std::move(events.front()));
}

// The request's query, answered from a reader.
absl::StatusOr<v1::AsOfAnswer> Answer(const Projector::Reader& r, const v1::AsOfRequest& q,
                                      absl::Time now) {
  v1::AsOfAnswer a;
  switch (q.query_case()) {
    case v1::AsOfRequest::kRanking: {
      ASSIGN_OR_RETURN(*a.mutable_ranking(), QueryRanking(r, q.ranking()));
      break;
    }
    case v1::AsOfRequest::kDistribution: {
      ASSIGN_OR_RETURN(*a.mutable_distribution(), QueryDistribution(r, q.distribution()));
      break;
    }
    case v1::AsOfRequest::kTimeline: {
      ASSIGN_OR_RETURN(*a.mutable_timeline(), QueryTimeline(r, q.timeline()));
      break;
    }
    case v1::AsOfRequest::kCheckIns: {
      ASSIGN_OR_RETURN(*a.mutable_check_ins(), QueryCheckIns(r, q.check_ins(), now));
      break;
    }
    case v1::AsOfRequest::kGoalTree: {
      ASSIGN_OR_RETURN(*a.mutable_goal_tree(), QueryGoalTree(r, q.goal_tree()));
      break;
    }
    case v1::AsOfRequest::kPayrollItems: {
      ASSIGN_OR_RETURN(*a.mutable_payroll_items(), QueryPayrollItems(r, q.payroll_items()));
      break;
    }
    case v1::AsOfRequest::kTraining: {
      ASSIGN_OR_RETURN(*a.mutable_training(), QueryTraining(r, q.training()));
      break;
    }
    case v1::AsOfRequest::kTrainingSummary: {
      ASSIGN_OR_RETURN(*a.mutable_training_summary(),
                       QueryTrainingSummary(r, q.training_summary()));
      break;
    }
    case v1::AsOfRequest::kPips: {
      ASSIGN_OR_RETURN(*a.mutable_pips(), QueryPips(r, q.pips()));
      break;
    }
    case v1::AsOfRequest::QUERY_NOT_SET:
      return FieldError("query", "one of ranking, distribution, timeline, check_ins, goal_tree, "
                                 "payroll_items, training, training_summary, pips is required");
  }
  return a;
}

// Removes the scratch directory however AsOf returns.
struct ScratchGuard {
  std::string dir;
  ~ScratchGuard() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

bool NamesCycle(const v1::Envelope& e, const v1::Event& event, const std::string& cycle) {
  if (e.stream() == absl::StrCat("cycle/", cycle)) return true;
  // Every payload that belongs to a cycle carries a `cycle_id` field; reflection finds it
  // without a list that a new event type could silently miss.
  const auto* oneof = event.GetDescriptor()->FindOneofByName("body");
  const auto* field = event.GetReflection()->GetOneofFieldDescriptor(event, oneof);
  if (field == nullptr) return false;
  const google::protobuf::Message& body = event.GetReflection()->GetMessage(event, field);
  const auto* cycle_field = body.GetDescriptor()->FindFieldByName("cycle_id");
  if (cycle_field == nullptr || cycle_field->is_repeated() ||
      cycle_field->type() != google::protobuf::FieldDescriptor::TYPE_STRING) {
    return false;
  }
  return body.GetReflection()->GetString(body, cycle_field) == cycle;
}

}  // namespace

absl::StatusOr<LogEnds> CutAtPositions(EventLog& log, const v1::LogCut& cut) {
  const LogEnds log_ends = log.Ends();
  LogEnds ends(log_ends.size());
  std::vector<bool> seen(log_ends.size(), false);
  for (int i = 0; i < cut.ends_size(); i++) {
    const LogPosition pos = PositionOf(cut.ends(i));
    const std::string field = absl::StrFormat("positions.ends[%d]", i);
    if (!log_ends.contains(pos.partition)) {
      return FieldError(field + ".partition",
                        absl::StrFormat("%d is not a partition of this log (0..%d)",
                                        pos.partition, log_ends.size() - 1));
    }
    if (seen[pos.partition.value()]) {
      return FieldError(field + ".partition",
                        absl::StrFormat("partition %d is listed twice", pos.partition));
    }
    seen[pos.partition.value()] = true;
    if (pos.offset > log_ends[pos.partition]) {
      return FieldError(field + ".offset",
                        absl::StrFormat("%d is beyond the end of partition %d (%d)", pos.offset,
                                        pos.partition, log_ends[pos.partition]));
    }
    ends[pos.partition] = pos.offset;
  }
  // control_version grows along a partition (the writer's control stream only grows), so the
  // last event of each data prefix needs the most of the control stream.
  for (PartitionId p : DataPartitions(ends.size())) {
    if (ends[p] == Offset(0)) continue;
    ASSIGN_OR_RETURN(auto last, ReadAt(log, p, ends[p] - 1));
    if (last && Offset(last->control_version()) > ends[kControlPartition]) {
      return FieldError("positions.ends",
                        absl::StrFormat("partition %d up to offset %d depends on the control "
                                        "stream (partition 0) up to offset %d; the cut has %d",
                                        p, ends[p], last->control_version(),
                                        ends[kControlPartition]));
    }
  }
  return ends;
}

absl::StatusOr<LogEnds> CutAtTime(EventLog& log, absl::Time t) {
  const LogEnds log_ends = log.Ends();
  LogEnds ends(log_ends.size());
  for (PartitionId p : log_ends.partitions()) {
    // Lower bound of "recorded after t" over [0, end).
    uint64_t lo = 0, hi = log_ends[p].value();
    while (lo < hi) {
      const uint64_t mid = lo + (hi - lo) / 2;
      ASSIGN_OR_RETURN(auto events, log.Read(p, Offset(mid), 1));
      if (events.empty() || events.front().position().offset() >= hi ||
          ToTime(events.front().recorded_at()) > t) {
        hi = mid;
      } else {
        lo = events.front().position().offset() + 1;
      }
    }
    ends[p] = Offset(lo);
  }
  return ends;
}

absl::StatusOr<v1::AsOfAnswer> AsOf(EventLog& log, const v1::AsOfRequest& request,
                                    const AsOfOptions& options) {
  if (request.query_case() == v1::AsOfRequest::QUERY_NOT_SET) {
    return FieldError("query", "one of ranking, distribution, timeline, check_ins, goal_tree, "
                               "payroll_items, training, training_summary, pips is required");
  }
  LogEnds ends;
  std::optional<absl::Time> cut_time;
  switch (request.cut_case()) {
    case v1::AsOfRequest::kPositions: {
      ASSIGN_OR_RETURN(ends, CutAtPositions(log, request.positions()));
      break;
    }
    case v1::AsOfRequest::kTime: {
      RETURN_IF_ERROR(CheckTimestamp("time", request.time()));
      cut_time = ToTime(request.time());
      ASSIGN_OR_RETURN(ends, CutAtTime(log, *cut_time));
      break;
    }
    case v1::AsOfRequest::CUT_NOT_SET:
      return FieldError("cut", "positions or time is required");
  }
  uint64_t total = 0;
  for (PartitionId p : ends.partitions()) total += ends[p].value();

  // "Now" for check-in cadence comes from the log: the cut's time or its newest event.
  absl::Time now = absl::UnixEpoch();
  if (cut_time) {
    now = *cut_time;
  } else {
    for (PartitionId p : ends.partitions()) {
      if (ends[p] == Offset(0)) continue;
      ASSIGN_OR_RETURN(auto last, ReadAt(log, p, ends[p] - 1));
      if (last) now = std::max(now, ToTime(last->recorded_at()));
    }
  }

  ScratchGuard guard{options.scratch_dir};
  if (std::filesystem::exists(options.scratch_dir)) {
    guard.dir.clear();  // not ours to delete
    return absl::FailedPreconditionError(
        absl::StrCat("as-of scratch directory already exists: ", options.scratch_dir));
  }
  std::vector<std::unique_ptr<View>> views = AllViews();
  StateStoreOptions store_options;
  store_options.dir = options.scratch_dir;
  Projector::AddFamilies(views, store_options);
  ASSIGN_OR_RETURN(auto store, StateStore::Open(store_options));
  PrefixLog prefix(&log, ends);
  ProjectorOptions projector_options;
  projector_options.name = "asof";
  ASSIGN_OR_RETURN(auto projector,
                   Projector::Start(&prefix, store.get(), std::move(views), projector_options));
  while (true) {
    // Short waits only to report progress; the replay itself never sleeps.
    absl::Status s = projector->WaitCaughtUp(absl::Now() + absl::Milliseconds(200));
    if (s.ok()) break;
    if (s.code() != absl::StatusCode::kDeadlineExceeded) return s;
    if (options.progress && !options.progress(projector->events_applied(), total)) {
      return absl::CancelledError("as-of replay cancelled");
    }
  }
  // The replay may finish before the first wait times out: report where it ended.
  if (options.progress && !options.progress(projector->events_applied(), total)) {
    return absl::CancelledError("as-of replay cancelled");
  }
  absl::StatusOr<v1::AsOfAnswer> answer;
  {
    auto reader = projector->Read();
    answer = Answer(reader, request, now);
  }
  if (!answer.ok()) return answer.status();
  for (PartitionId p : ends.partitions()) {
    v1::Position* pos = answer->mutable_cut()->add_ends();
    pos->set_partition(p.value());
    pos->set_offset(ends[p].value());
  }
  answer->set_events_applied(projector->events_applied());
  const int64_t micros = absl::ToUnixMicros(now);
  answer->mutable_as_of()->set_seconds(micros / 1'000'000);
  answer->mutable_as_of()->set_nanos(static_cast<int32_t>(micros % 1'000'000) * 1000);
  projector->Stop();
  prefix.Close();
  return answer;
}

namespace {

// The rule of `policy` that put a grade in its band.
std::string BandRule(const policy::Policy& policy, const std::string& grade) {
  const std::vector<policy::Band>& bands = policy.grading.bands;
  for (size_t i = 0; i < bands.size(); i++) {
    if (bands[i].grade != grade) continue;
    std::string rule = absl::StrCat("grading.bands[", i, "] ", grade);
    if (!bands[i].bound_milli) return absl::StrCat(rule, ": the catch-all band");
    const int64_t bound = *bands[i].bound_milli;
    const bool alternative = bands[i].bound_kind == policy::BoundKind::kAlternative;
    if (policy.grading.method == policy::GradingMethod::kWeightedScores) {
      return absl::StrCat(rule, ": min_score_milli ", bound);
    }
    if (policy.grading.direction == v1::DIRECTION_LOWER_IS_BETTER) {
      return alternative ? absl::StrCat(rule, ": at_most_milli ", bound - 1)
                         : absl::StrCat(rule, ": below_milli ", bound);
    }
    return alternative ? absl::StrCat(rule, ": above_milli ", bound - 1)
                       : absl::StrCat(rule, ": at_least_milli ", bound);
  }
  return "";
}

// The observations of `metric` in `cycle` about `employee`, read from the employee's timeline
// (their events in log order, one partition) from position suffix `start`, at most `limit`, up
// to position suffix `through` (empty: no bound); the token of the next one when more remain.
absl::Status ReadObservations(const Projector::Reader& reader, const std::string& employee,
                              const std::string& cycle, const std::string& metric,
                              const std::string& start, const std::string& through, size_t limit,
                              google::protobuf::RepeatedPtrField<v1::ObservationRef>* out,
                              std::string* next_token) {
  const std::string prefix = employee + "/";
  std::unique_ptr<rocksdb::Iterator> it(
      reader.db()->NewIterator(rocksdb::ReadOptions(), reader.family("timeline")));
  v1::Envelope envelope;
  v1::Event event;
  for (it->Seek(prefix + start); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const rocksdb::Slice key = it->key();
    const std::string suffix(key.data() + prefix.size(), key.size() - prefix.size());
    if (suffix.size() != 12) return absl::DataLossError("timeline row");
    if (!through.empty() && suffix > through) break;
    if (!envelope.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())) ||
        envelope.type() != "MetricObserved" || !event.ParseFromString(envelope.payload())) {
      continue;
    }
    const v1::MetricObserved& m = event.metric_observed();
    if (m.subject_kind() != v1::OWNER_KIND_EMPLOYEE || m.subject_id() != employee ||
        m.cycle_id() != cycle || m.metric() != metric) {
      continue;
    }
    if (static_cast<size_t>(out->size()) >= limit) {
      // The token is the next observation's position: the next page starts there.
      *next_token = absl::WebSafeBase64Escape(suffix);
      break;
    }
    v1::ObservationRef* ref = out->Add();
    *ref->mutable_position() = envelope.position();
    ref->set_event_id(envelope.event_id());
    ref->set_value_milli(m.value_milli());
    if (m.has_denominator()) ref->set_denominator(m.denominator());
    *ref->mutable_occurred_at() = envelope.occurred_at();
  }
  return FromRocks(it->status(), "read the timeline");
}

}  // namespace

absl::StatusOr<v1::ExplainResponse> Explain(EventLog& log, Projector& projector,
                                            const v1::ExplainRequest& request) {
  const bool by_grade = !request.grade_event_id().empty();
  if (by_grade == !request.action_id().empty()) {
    return FieldError("action_id", "give an action_id or a grade_event_id (one of them)");
  }
  RETURN_IF_ERROR(by_grade
                      ? CheckId("grade_event_id", request.grade_event_id(), Presence::kRequired)
                      : CheckId("action_id", request.action_id(), Presence::kRequired));
  auto reader = projector.Read();
  rocksdb::ColumnFamilyHandle* index = reader.family(kEventIndexView);
  auto lookup = [&](const std::string& key) -> absl::StatusOr<std::optional<LogPosition>> {
    std::string value;
    rocksdb::Status s = reader.db()->Get(rocksdb::ReadOptions(), index, key, &value);
    if (s.IsNotFound()) return std::optional<LogPosition>();
    RETURN_IF_ERROR(FromRocks(s, "read the event index"));
    if (value.size() != 12) return absl::DataLossError(absl::StrCat("event index row ", key));
    return std::optional<LogPosition>(LogPosition{PartitionId(GetBigEndian32(value.substr(0, 4))),
                                                  Offset(GetBigEndian64(value.substr(4, 8)))});
  };
  v1::ExplainResponse out;
  out.set_action_id(request.action_id());
  std::set<std::string> visited;
  // Adds the event at `key` as a step; null when the index or the log lacks it.
  auto add = [&](const std::string& key, const std::string& role,
                 const std::string& explains) -> absl::StatusOr<v1::ExplainStep*> {
    ASSIGN_OR_RETURN(auto pos, lookup(key));
    if (!pos) return nullptr;
    ASSIGN_OR_RETURN(auto stored, ReadAt(log, pos->partition, pos->offset));
    if (!stored) return nullptr;
    if (!visited.insert(stored->event_id()).second) return nullptr;
    if (static_cast<size_t>(out.steps_size()) >= limits::kExplainStepsMax) return nullptr;
    v1::ExplainStep* step = out.add_steps();
    step->set_role(role);
    step->set_explains_event_id(explains);
    RETURN_IF_ERROR(DecodeRecorded(*stored, step->mutable_event()));
    return step;
  };
  ASSIGN_OR_RETURN(v1::ExplainStep* subject,
                   by_grade ? add(Key({"e", request.grade_event_id()}), "grade", "")
                            : add(Key({"a", request.action_id()}), "action", ""));
  if (subject == nullptr) {
    return by_grade ? absl::NotFoundError(absl::StrCat(
                          "grade_event_id: no event ", request.grade_event_id(), " in the log"))
                    : absl::NotFoundError(absl::StrCat("action_id: no action ",
                                                       request.action_id(), " in the log"));
  }
  if (by_grade && !subject->event().event().has_grade_finalized()) {
    return FieldError("grade_event_id",
                      absl::StrCat(request.grade_event_id(), " is not a GradeFinalized event"));
  }
  struct Pending {
    std::string event_id;
    std::string role;
    std::string explains;
    uint32_t depth;
  };
  std::deque<Pending> queue;
  std::vector<std::pair<uint64_t, std::string>> policies;  // version, event that names it
  // The cancellations of a replaced grade's actions (index rows "ca/<grade>/<action>/<pos>",
  // then "c/<action>/<pos>").
  auto scan = [&](const std::string& prefix) -> absl::StatusOr<std::vector<std::string>> {
    std::vector<std::string> keys;
    std::unique_ptr<rocksdb::Iterator> it(reader.db()->NewIterator(rocksdb::ReadOptions(), index));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      keys.push_back(it->key().ToString());
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "read the event index"));
    return keys;
  };
  auto cancellations = [&](const std::string& grade_id) -> absl::Status {
    const std::string prefix = Key({"ca", grade_id}) + "/";
    ASSIGN_OR_RETURN(std::vector<std::string> rows, scan(prefix));
    std::set<std::string> actions;
    for (const std::string& row : rows) {
      const std::string rest = row.substr(prefix.size());
      actions.insert(rest.substr(0, rest.find('/')));
    }
    for (const std::string& action : actions) {
      ASSIGN_OR_RETURN(std::vector<std::string> cancels, scan(Key({"c", action}) + "/"));
      for (const std::string& key : cancels) {
        ASSIGN_OR_RETURN(v1::ExplainStep* step, add(key, "cancellation", grade_id));
        if (step != nullptr) step->set_rule(action);
      }
    }
    return absl::OkStatus();
  };
  auto follow = [&](v1::ExplainStep& step, uint32_t depth) -> absl::Status {
    const v1::RecordedEvent& e = step.event();
    const std::string& id = e.envelope().event_id();
    const v1::Event& ev = e.event();
    if (ev.has_action_triggered()) step.set_rule(ev.action_triggered().rule_id());
    if (depth >= limits::kExplainDepthMax) return absl::OkStatus();
    if (ev.has_action_triggered()) {
      for (const auto& c : ev.action_triggered().cause_event_ids()) {
        queue.push_back({c, "cause", id, depth + 1});
      }
      policies.emplace_back(ev.action_triggered().policy_version(), id);
    } else if (ev.has_grade_finalized()) {
      const v1::GradeFinalized& g = ev.grade_finalized();
      for (const auto& in : g.inputs()) {
        queue.push_back({in.event_id(), "input", id, depth + 1});
      }
      if (!g.supersedes_event_id().empty()) {
        queue.push_back({g.supersedes_event_id(), "supersedes", id, depth + 1});
      }
      policies.emplace_back(g.policy_version(), id);
    } else if (ev.has_threshold_breached()) {
      for (const auto& c : ev.threshold_breached().cause_event_ids()) {
        queue.push_back({c, "input", id, depth + 1});
      }
      policies.emplace_back(ev.threshold_breached().policy_version(), id);
    } else if (ev.has_score_amended()) {
      queue.push_back({ev.score_amended().corrects_event_id(), "input", id, depth + 1});
    } else if (!e.envelope().causation_id().empty() &&
               (ev.has_deadline_reached() || ev.has_pip_closed())) {
      queue.push_back({e.envelope().causation_id(), "cause", id, depth + 1});
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(follow(*subject, 0));
  while (!queue.empty()) {
    Pending next = std::move(queue.front());
    queue.pop_front();
    if (next.event_id.empty() || visited.count(next.event_id) > 0) continue;
    ASSIGN_OR_RETURN(v1::ExplainStep* step,
                     add(Key({"e", next.event_id}), next.role, next.explains));
    if (step == nullptr) {
      if (visited.count(next.event_id) == 0) out.add_missing_event_ids(next.event_id);
      continue;
    }
    if (next.role == "supersedes") RETURN_IF_ERROR(cancellations(next.event_id));
    // `step` may have moved while cancellations were added: look it up again.
    v1::ExplainStep* again = nullptr;
    for (auto& s : *out.mutable_steps()) {
      if (s.event().envelope().event_id() == next.event_id) again = &s;
    }
    RETURN_IF_ERROR(follow(*again, next.depth));
  }
  // A metric input: the observations it counted, first page.
  for (auto& step : *out.mutable_steps()) {
    if (step.role() != "input" || !step.event().event().has_metric_observed()) continue;
    const v1::MetricObserved& m = step.event().event().metric_observed();
    for (const auto& s : out.steps()) {
      if (s.event().envelope().event_id() != step.explains_event_id() ||
          !s.event().event().has_grade_finalized()) {
        continue;
      }
      for (const v1::GradeInput& in : s.event().event().grade_finalized().inputs()) {
        if (in.event_id() != step.event().envelope().event_id() || in.count() == 0) continue;
        v1::ObservationSet* set = step.mutable_observations();
        set->set_employee_id(m.subject_id());
        set->set_cycle_id(m.cycle_id());
        set->set_metric(m.metric());
        set->set_count(in.count());
        if (in.has_through()) *set->mutable_through() = in.through();
        const std::string through =
            in.has_through() ? PositionSuffix(PositionOf(in.through())) : "";
        RETURN_IF_ERROR(ReadObservations(reader, m.subject_id(), m.cycle_id(), m.metric(), "",
                                         through, limits::kExplainObservationsMax,
                                         set->mutable_first(), set->mutable_next_page_token()));
      }
    }
  }
  // The policy versions last: the rules every decision above was made under.
  std::sort(policies.begin(), policies.end());
  uint64_t last_version = 0;
  std::map<uint64_t, std::shared_ptr<const policy::Policy>> parsed;
  for (const auto& [version, by] : policies) {
    if (version == 0 || version == last_version) continue;
    last_version = version;
    std::string key = "p/";
    PutBigEndian64(key, version);
    ASSIGN_OR_RETURN(v1::ExplainStep* step, add(key, "policy", by));
    if (step == nullptr && static_cast<size_t>(out.steps_size()) < limits::kExplainStepsMax) {
      // Already listed (visited) is fine; otherwise the version is not in the log.
      ASSIGN_OR_RETURN(auto pos, lookup(key));
      if (!pos) out.add_missing_event_ids(absl::StrCat("policy version ", version));
    }
  }
  for (const auto& s : out.steps()) {
    if (!s.event().event().has_policy_published()) continue;
    const v1::PolicyPublished& p = s.event().event().policy_published();
    auto doc = policy::ParsePolicy(p.document_json(), policy::Format::kJson);
    if (doc.ok()) parsed[p.version()] = std::make_shared<const policy::Policy>(*std::move(doc));
  }
  for (auto& step : *out.mutable_steps()) {
    if (!step.event().event().has_grade_finalized()) continue;
    const v1::GradeFinalized& g = step.event().event().grade_finalized();
    auto it = parsed.find(g.policy_version());
    if (it != parsed.end()) step.set_rule(BandRule(*it->second, g.grade()));
  }
  return out;
}

absl::StatusOr<v1::ListObservationsResponse> ListObservations(
    Projector& projector, const v1::ListObservationsRequest& request) {
  RETURN_IF_ERROR(CheckId("employee_id", request.employee_id(), Presence::kRequired));
  RETURN_IF_ERROR(CheckId("cycle_id", request.cycle_id(), Presence::kRequired));
  RETURN_IF_ERROR(CheckName("metric", request.metric(), Presence::kRequired));
  if (request.page_size() > limits::kObservationsPageMax) {
    return FieldError("page_size", absl::StrCat("at most ", limits::kObservationsPageMax));
  }
  const size_t page =
      request.page_size() == 0 ? limits::kObservationsPageDefault : request.page_size();
  std::string start;
  if (!request.page_token().empty() &&
      (!absl::WebSafeBase64Unescape(request.page_token(), &start) || start.size() != 12)) {
    return FieldError("page_token", "not a token of this query");
  }
  const std::string through =
      request.has_through() ? PositionSuffix(PositionOf(request.through())) : "";
  auto reader = projector.Read();
  v1::ListObservationsResponse out;
  RETURN_IF_ERROR(ReadObservations(reader, request.employee_id(), request.cycle_id(),
                                   request.metric(), start, through, page,
                                   out.mutable_observations(), out.mutable_next_page_token()));
  return out;
}

absl::Status Export(EventLog& log, const v1::ExportRequest& request,
                    const std::function<bool(const v1::RecordedEvent&)>& emit) {
  std::string subject;
  bool by_employee = false;
  switch (request.subject_case()) {
    case v1::ExportRequest::kEmployeeId:
      RETURN_IF_ERROR(CheckId("employee_id", request.employee_id(), Presence::kRequired));
      subject = request.employee_id();
      by_employee = true;
      break;
    case v1::ExportRequest::kCycleId:
      RETURN_IF_ERROR(CheckId("cycle_id", request.cycle_id(), Presence::kRequired));
      subject = request.cycle_id();
      break;
    case v1::ExportRequest::SUBJECT_NOT_SET:
      return FieldError("subject", "employee_id or cycle_id is required");
  }
  const LogEnds ends = log.Ends();
  v1::RecordedEvent out;
  v1::Event event;
  for (PartitionId p : ends.partitions()) {
    Offset from(0);
    while (from < ends[p]) {
      ASSIGN_OR_RETURN(auto batch,
                       log.Read(p, from, static_cast<size_t>(std::min<uint64_t>(
                                             limits::kAuditReadBatchEvents, ends[p] - from))));
      if (batch.empty()) break;
      for (const StoredEvent& e : batch) {
        if (Offset(e.position().offset()) >= ends[p]) break;
        if (!event.ParseFromString(e.payload())) {
          return absl::DataLossError(absl::StrFormat("partition %d offset %d: payload does not "
                                                     "parse",
                                                     p, e.position().offset()));
        }
        const bool match =
            by_employee ? EmployeeOf(e, event) == subject : NamesCycle(e, event, subject);
        if (!match) continue;
        *out.mutable_envelope() = e;
        *out.mutable_event() = event;
        if (!emit(out)) return absl::CancelledError("export cancelled");
      }
      from = Offset(batch.back().position().offset()) + 1;
    }
  }
  return absl::OkStatus();
}

}  // namespace perfledger::projections
