#include "ledger/write_model.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ledger/limits.h"
#include "ledger/policy.h"
#include "ledger/policy_eval.h"
#include "ledger/recognition.h"
#include "ledger/types.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "rocksdb/write_batch.h"

namespace perfledger {
namespace {

// Key layout of the "write_model" family.
std::string EntityKey(std::string_view key) { return absl::StrCat("e/", std::string(key)); }
std::string CommandKey(std::string_view id) { return absl::StrCat("c/", std::string(id)); }
std::string EventIndexKey(std::string_view id) { return absl::StrCat("i/", std::string(id)); }
// First byte of an event index value that holds the event's position (ids never hold it).
constexpr char kIndexedPosition = '\x01';
std::string CheckpointKey(PartitionId partition) {
  std::string key = "p/";
  PutBigEndian32(key, partition.value());
  return key;
}

}  // namespace

std::string KeyResultFingerprint(const v1::KeyResult& kr) {
  return absl::StrCat(kr.description(), "\x1f", kr.unit(), "\x1f",
                      static_cast<int>(kr.direction()), "\x1f", kr.weight_bp());
}

// Gives the fold mutable entities from one layer and remembers which keys it touched.
class WriteModel::Access {
 public:
  virtual ~Access() = default;
  virtual internal::Entity& Get(const std::string& key) = 0;
};

namespace {

// The salary in force: sealed in the envelope (the write model keeps the sealed copy) or, for
// an event written without sealing, in the payload.
void FoldCompensation(const v1::Envelope& h, const v1::Money& base, const v1::Money& midpoint,
                      internal::EmployeeState& s) {
  if (h.has_retained()) {
    s.mutable_compensation()->set_event_id(h.event_id());
    *s.mutable_compensation()->mutable_sealed() = h.retained();
    s.clear_base_salary();
    s.clear_band_midpoint();
  } else {
    s.clear_compensation();
    *s.mutable_base_salary() = base;
    *s.mutable_band_midpoint() = midpoint;
  }
}

}  // namespace

void WriteModel::Fold(const FoldInput& in, Access& access) {
  const v1::Envelope& h = *in.header;
  const v1::Event& ev = *in.event;
  // Every event moves its stream's version; folding assigns, so a replay is harmless.
  internal::Entity& stream = access.Get(h.stream());
  stream.set_version(h.stream_version());

  switch (ev.body_case()) {
    case v1::Event::kOrgUnitDefined: {
      const auto& e = ev.org_unit_defined();
      auto* s = stream.mutable_org_unit();
      s->set_name(e.name());
      s->set_parent_id(e.parent_id());
      s->set_manager_id(e.manager_id());
      break;
    }
    case v1::Event::kEmployeeRegistered: {
      const auto& e = ev.employee_registered();
      auto* s = stream.mutable_employee();
      s->set_org_unit_id(e.org_unit_id());
      s->set_manager_id(e.manager_id());
      s->set_job_level(e.job_level());
      FoldCompensation(h, e.base_salary(), e.band_midpoint(), *s);
      s->set_departed(false);
      break;
    }
    case v1::Event::kEmployeeUpdated: {
      // The event carries the full new record.
      const auto& e = ev.employee_updated();
      auto* s = stream.mutable_employee();
      s->set_org_unit_id(e.org_unit_id());
      s->set_manager_id(e.manager_id());
      s->set_job_level(e.job_level());
      FoldCompensation(h, e.base_salary(), e.band_midpoint(), *s);
      break;
    }
    case v1::Event::kEmployeeDeparted:
      stream.mutable_employee()->set_departed(true);
      break;
    case v1::Event::kPipOpened: {
      const auto& e = ev.pip_opened();
      auto* s = stream.mutable_pip();
      s->set_employee_id(e.employee_id());
      s->set_manager_id(e.manager_id());
      *s->mutable_deadline_at() = e.deadline_at();
      s->set_closed(false);
      break;
    }
    case v1::Event::kPipExtended:
      *stream.mutable_pip()->mutable_deadline_at() = ev.pip_extended().new_deadline_at();
      break;
    case v1::Event::kPipClosed:
      stream.mutable_pip()->set_closed(true);
      break;
    case v1::Event::kSubjectErased:
      stream.mutable_employee()->set_erased(true);
      break;
    case v1::Event::kRetentionEnded:
      stream.mutable_employee()->set_retention_ended(true);
      break;
    case v1::Event::kCycleOpened: {
      const auto& e = ev.cycle_opened();
      auto* s = stream.mutable_cycle();
      s->set_name(e.name());
      s->mutable_grades()->Assign(e.scale().grades().begin(), e.scale().grades().end());
      s->set_closed(false);
      s->set_policy_version(e.policy_version());
      break;
    }
    case v1::Event::kCycleClosed:
      stream.mutable_cycle()->set_closed(true);
      break;
    case v1::Event::kGoalSet:
    case v1::Event::kGoalRevised: {
      auto* s = stream.mutable_goal();
      const bool set = ev.body_case() == v1::Event::kGoalSet;
      const auto& krs = set ? ev.goal_set().key_results() : ev.goal_revised().key_results();
      if (set) {
        const auto& e = ev.goal_set();
        s->set_cycle_id(e.cycle_id());
        s->set_owner_kind(e.owner_kind());
        s->set_owner_id(e.owner_id());
        s->set_parent_goal_id(e.parent_goal_id());
        s->set_org_unit_id(e.org_unit_id());
        s->set_closed(false);
      } else {
        s->set_parent_goal_id(ev.goal_revised().parent_goal_id());
      }
      if (set) {
        s->set_title(ev.goal_set().title());
        s->set_description(ev.goal_set().description());
        s->set_weight_bp(ev.goal_set().weight_bp());
      } else {
        s->set_title(ev.goal_revised().title());
        s->set_description(ev.goal_revised().description());
        s->set_weight_bp(ev.goal_revised().weight_bp());
      }
      s->clear_key_result_ids();
      s->clear_key_result_start_milli();
      s->clear_key_result_target_milli();
      s->clear_key_result_fingerprint();
      for (const auto& kr : krs) {
        s->add_key_result_ids(kr.key_result_id());
        s->add_key_result_start_milli(kr.start_milli());
        s->add_key_result_target_milli(kr.target_milli());
        s->add_key_result_fingerprint(KeyResultFingerprint(kr));
      }
      break;
    }
    case v1::Event::kGoalClosed:
      stream.mutable_goal()->set_closed(true);
      break;
    case v1::Event::kScoreSubmitted: {
      const auto& e = ev.score_submitted();
      auto* s = access.Get(absl::StrCat("score/", e.score_id())).mutable_score();
      s->set_employee_id(e.employee_id());
      s->set_cycle_id(e.cycle_id());
      s->set_source(e.source());
      s->set_reviewer_id(e.reviewer_id());
      s->set_last_event_id(h.event_id());
      // The dimensions a dispute may name. Scores are evaluation data, never sealed.
      auto* review =
          access.Get(absl::StrCat("review/", e.employee_id(), "/", e.cycle_id())).mutable_review();
      for (const auto& d : e.scores()) {
        if (review->dimensions_size() >= static_cast<int>(limits::kReviewDimensionsMax)) break;
        if (std::find(review->dimensions().begin(), review->dimensions().end(), d.dimension()) ==
            review->dimensions().end()) {
          review->add_dimensions(d.dimension());
        }
      }
      break;
    }
    case v1::Event::kScoreAmended: {
      const auto& e = ev.score_amended();
      access.Get(absl::StrCat("score/", e.score_id())).mutable_score()->set_last_event_id(
          h.event_id());
      break;
    }
    case v1::Event::kGradeFinalized: {
      const auto& e = ev.grade_finalized();
      auto* s =
          access.Get(absl::StrCat("grade/", e.employee_id(), "/", e.cycle_id())).mutable_grade();
      s->set_grade(e.grade());
      s->set_event_id(h.event_id());
      // A new grade opens its own dispute window (counted from its business time).
      *s->mutable_occurred_at() = h.occurred_at();
      s->set_policy_version(e.policy_version());
      s->clear_input_kinds();
      for (const auto& in : e.inputs()) s->add_input_kinds(in.kind());
      if (!e.dispute_id().empty()) {
        access.Get(absl::StrCat("dispute/", e.dispute_id()))
            .mutable_dispute()
            ->set_regrade_event_id(h.event_id());
      }
      // Case evidence names grades by event id (commands_recognition.cc).
      auto* g = access.Get(GradeEventKey(h.event_id())).mutable_grade_event();
      g->set_employee_id(e.employee_id());
      g->set_cycle_id(e.cycle_id());
      break;
    }
    case v1::Event::kGradeAcknowledged: {
      const auto& e = ev.grade_acknowledged();
      access.Get(absl::StrCat("grade/", e.employee_id(), "/", e.cycle_id()))
          .mutable_grade()
          ->set_acknowledged_event_id(e.grade_event_id());
      break;
    }
    case v1::Event::kPraiseGiven: {
      const auto& e = ev.praise_given();
      RememberPraise(*access.Get(PraiseGiverKey(e.giver_id())).mutable_praise_giver(),
                     h.event_id(), absl::ToUnixMicros(ToTime(e.received_at())));
      break;
    }
    case v1::Event::kCaseNominated: {
      const auto& e = ev.case_nominated();
      auto* s = stream.mutable_case_file();
      s->set_nominator_id(e.nominator_id());
      *s->mutable_subject_ids() = e.subject_ids();
      s->clear_consented_ids();
      s->set_review(v1::CASE_REVIEW_DECISION_UNSPECIFIED);
      s->set_published(false);
      s->set_withdrawn(false);
      break;
    }
    case v1::Event::kCaseConsentRecorded: {
      const auto& e = ev.case_consent_recorded();
      auto* ids = stream.mutable_case_file()->mutable_consented_ids();
      auto it = std::find(ids->begin(), ids->end(), e.subject_id());
      if (e.consent() == v1::CASE_CONSENT_GIVEN && it == ids->end()) {
        *ids->Add() = e.subject_id();
      } else if (e.consent() == v1::CASE_CONSENT_WITHDRAWN && it != ids->end()) {
        ids->erase(it);
      }
      break;
    }
    case v1::Event::kCaseReviewed:
      stream.mutable_case_file()->set_review(ev.case_reviewed().decision());
      break;
    case v1::Event::kCasePublished:
      stream.mutable_case_file()->set_published(true);
      break;
    case v1::Event::kCaseWithdrawn:
      stream.mutable_case_file()->set_withdrawn(true);
      break;
    case v1::Event::kDisputeRaised: {
      const auto& e = ev.dispute_raised();
      auto* s = stream.mutable_dispute();
      s->set_employee_id(e.employee_id());
      s->set_cycle_id(e.cycle_id());
      s->set_assigned_to(e.assigned_to());
      s->set_assignee_id(e.assignee_id());
      s->set_resolved(false);
      access.Get(absl::StrCat("grade/", e.employee_id(), "/", e.cycle_id()))
          .mutable_grade()
          ->set_open_dispute_id(e.dispute_id());
      break;
    }
    case v1::Event::kDisputeResolved: {
      const auto& e = ev.dispute_resolved();
      stream.mutable_dispute()->set_resolved(true);
      auto* g =
          access.Get(absl::StrCat("grade/", e.employee_id(), "/", e.cycle_id())).mutable_grade();
      if (g->open_dispute_id() == e.dispute_id()) g->clear_open_dispute_id();
      break;
    }
    case v1::Event::kDeadlineReached: {
      const auto& e = ev.deadline_reached();
      if (!absl::StartsWith(e.subject(), policy::kDisputeWindowPrefix)) break;
      // "dispute-window/<employee>/<cycle>" is the window of that grade entity.
      const std::string key = absl::StrCat(
          "grade/", e.subject().substr(sizeof(policy::kDisputeWindowPrefix) - 1));
      *access.Get(key).mutable_grade()->mutable_window_closed_at() = e.deadline_at();
      break;
    }
    case v1::Event::kPolicyPublished: {
      const auto& e = ev.policy_published();
      stream.mutable_policy()->set_version(e.version());
      // The newest publication is the policy in force.
      access.Get("policy/current").mutable_policy()->set_version(e.version());
      // Each version's disputes section, for the disputes of grades decided under it. The
      // document was validated when it was published; one that does not parse (a log written
      // by another build) gets the defaults, as the reactor then decides nothing from it.
      const absl::StatusOr<policy::Policy> parsed =
          policy::ParsePolicy(e.document_json(), policy::Format::kJson);
      const policy::Disputes d = policy::DisputeSettings(parsed.ok() ? &*parsed : nullptr);
      auto* s = access.Get(absl::StrCat("policy-version/", e.version())).mutable_policy();
      s->set_version(e.version());
      s->set_dispute_window_business_days(d.window_business_days);
      s->set_dispute_assign_to(d.assign_to == policy::DisputeAssignTo::kHr
                                   ? v1::DISPUTE_ASSIGNEE_HR
                                   : v1::DISPUTE_ASSIGNEE_SKIP_LEVEL);
      s->set_dispute_hold_actions(d.hold_actions);
      break;
    }
    case v1::Event::kActionTriggered: {
      const auto& e = ev.action_triggered();
      auto* s = stream.mutable_action();
      s->set_kind(e.kind());
      s->set_employee_id(e.employee_id());
      break;
    }
    case v1::Event::kActionAcknowledged: {
      const auto& e = ev.action_acknowledged();
      auto* s = stream.mutable_action();
      if (e.cancellation()) {
        s->set_cancellation_reference(e.consumer_reference());
      } else {
        s->set_acknowledged_by(e.consumer());
        s->set_consumer_reference(e.consumer_reference());
      }
      break;
    }
    case v1::Event::kActionDelivered:
      stream.mutable_action()->set_delivered_to(ev.action_delivered().consumer());
      break;
    case v1::Event::kActionRejected: {
      const auto& e = ev.action_rejected();
      auto* s = stream.mutable_action();
      s->set_rejected_by(e.consumer());
      s->set_reject_reason(e.reason());
      if (h.has_retained()) {
        s->mutable_reject_reason_sealed()->set_event_id(h.event_id());
        *s->mutable_reject_reason_sealed()->mutable_sealed() = h.retained();
      }
      break;
    }
    case v1::Event::kActionCancelled:
      stream.mutable_action()->set_cancelled(true);
      break;
    default:
      // Every other event only moves its stream's version.
      break;
  }
}

absl::StatusOr<std::unique_ptr<WriteModel>> WriteModel::Open(StateStore* store,
                                                             uint32_t partitions) {
  auto wm = std::unique_ptr<WriteModel>(new WriteModel());
  wm->store_ = store;
  wm->checkpoint_ = LogEnds(partitions);
  rocksdb::ColumnFamilyHandle* cf = store->family(kFamily);
  if (cf == nullptr) return absl::InternalError("state store has no write_model family");
  for (PartitionId p : AllPartitions(partitions)) {
    std::string value;
    rocksdb::Status s = store->db()->Get(rocksdb::ReadOptions(), cf, CheckpointKey(p), &value);
    if (s.ok()) {
      wm->checkpoint_[p] = Offset(GetBigEndian64(value));
    } else if (!s.IsNotFound()) {
      return FromRocks(s, "read write-model checkpoint");
    }
  }
  return wm;
}

internal::Entity* WriteModel::CommittedLocked(const std::string& key) {
  auto it = committed_.find(key);
  if (it != committed_.end()) return &it->second;
  std::string value;
  rocksdb::Status s = store_->db()->Get(rocksdb::ReadOptions(), store_->family(kFamily),
                                        EntityKey(key), &value);
  if (!s.ok()) return nullptr;  // not found (a read error also reads as absent: fail closed)
  internal::Entity entity;
  if (!entity.ParseFromString(value)) return nullptr;
  return &committed_.emplace(key, std::move(entity)).first->second;
}

std::optional<internal::Entity> WriteModel::Find(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pending_.find(key);
  if (it != pending_.end()) return it->second.entity;
  const internal::Entity* e = CommittedLocked(key);
  if (e == nullptr) return std::nullopt;
  return *e;
}

bool WriteModel::Visit(const std::string& key,
                       absl::FunctionRef<void(const internal::Entity&)> visit) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pending_.find(key);
  const internal::Entity* e = it != pending_.end() ? &it->second.entity : CommittedLocked(key);
  if (e == nullptr) return false;
  visit(*e);
  return true;
}

std::optional<internal::CommandRecord> WriteModel::FindCommand(const std::string& command_id) {
  std::string value;
  rocksdb::Status s = store_->db()->Get(rocksdb::ReadOptions(), store_->family(kFamily),
                                        CommandKey(command_id), &value);
  if (!s.ok()) return std::nullopt;
  internal::CommandRecord record;
  if (!record.ParseFromString(value)) return std::nullopt;
  return record;
}

absl::StatusOr<v1::CommandResult> WriteModel::Answer(const internal::CommandRecord& record,
                                                     EventLog& log) {
  v1::CommandResult out = record.result();
  const int n = std::min(record.partitions_size(), record.offsets_size());
  for (int i = 0; i < n;) {
    // A run of consecutive offsets in one partition (a command's events usually are).
    int end = i + 1;
    while (end < n && record.partitions(end) == record.partitions(i) &&
           record.offsets(end) == record.offsets(end - 1) + 1) {
      end++;
    }
    const size_t count = static_cast<size_t>(end - i);
    ASSIGN_OR_RETURN(std::vector<StoredEvent> events,
                     log.Read(PartitionId(record.partitions(i)), Offset(record.offsets(i)), count));
    for (size_t k = 0; k < count; k++) {
      if (k >= events.size() || events[k].position().offset() != record.offsets(i + k)) {
        return absl::DataLossError(absl::StrCat("command answer: event at ",
                                                record.partitions(i), ":", record.offsets(i + k),
                                                " is not in the log"));
      }
      AddToAnswer(events[k], out);
    }
    i = end;
  }
  return out;
}

void WriteModel::AddToAnswer(const v1::Envelope& event, v1::CommandResult& answer) {
  v1::AppendedEvent* appended = answer.add_events();
  appended->set_event_id(event.event_id());
  appended->set_stream(event.stream());
  appended->set_stream_version(event.stream_version());
  *appended->mutable_position() = event.position();
}

std::optional<WriteModel::IndexedEvent> WriteModel::FindEvent(const std::string& event_id) {
  std::string value;
  rocksdb::Status s = store_->db()->Get(rocksdb::ReadOptions(), store_->family(kFamily),
                                        EventIndexKey(event_id), &value);
  if (!s.ok()) return std::nullopt;
  IndexedEvent found;
  // kIndexedPosition || partition (4) || offset (8) || command id; or the command id alone.
  if (value.size() >= 13 && value[0] == kIndexedPosition) {
    const std::string_view v(value);
    found.position = LogPosition{PartitionId(GetBigEndian32(v.substr(1, 4))),
                                 Offset(GetBigEndian64(v.substr(5, 8)))};
    found.command_id = value.substr(13);
  } else {
    found.command_id = std::move(value);
  }
  return found;
}

void WriteModel::ApplyPending(const FoldInput& in) {
  class PendingAccess final : public Access {
   public:
    explicit PendingAccess(WriteModel* wm) : wm_(wm) {}
    internal::Entity& Get(const std::string& key) override {
      auto it = wm_->pending_.find(key);
      if (it == wm_->pending_.end()) {
        PendingEntry entry;
        if (const internal::Entity* c = wm_->CommittedLocked(key)) entry.entity = *c;
        it = wm_->pending_.emplace(key, std::move(entry)).first;
      }
      it->second.outstanding++;
      return it->second.entity;
    }
   private:
    WriteModel* wm_;
  };
  std::lock_guard<std::mutex> lock(mu_);
  PendingAccess access(this);
  Fold(in, access);
}

void WriteModel::DropPending() {
  std::lock_guard<std::mutex> lock(mu_);
  pending_.clear();
}

absl::Status WriteModel::ApplyCommitted(const std::vector<FoldInput>& events,
                                        FoldOrigin origin) {
  class CommittedAccess final : public Access {
   public:
    explicit CommittedAccess(WriteModel* wm) : wm_(wm) {}
    internal::Entity& Get(const std::string& key) override {
      internal::Entity* e = wm_->CommittedLocked(key);
      if (e == nullptr) e = &wm_->committed_[key];
      dirty_.emplace(key, e);
      // The committed layer caught up with one in-flight decision touching this key.
      auto it = wm_->pending_.find(key);
      if (it != wm_->pending_.end() && --it->second.outstanding == 0) wm_->pending_.erase(it);
      return *e;
    }
    absl::flat_hash_map<std::string, internal::Entity*> dirty_;
   private:
    WriteModel* wm_;
  };

  std::unique_lock<std::mutex> lock(mu_);
  // Bounded memory: the cache only saves RocksDB reads (every entity is persisted), so when it
  // outgrows its limit it starts over. Nothing holds a pointer into it between calls (Find
  // returns copies), and the pending overlay is a separate map.
  // After a failed persist the cache is the only current copy: keep it.
  if (committed_.size() > limits::kWriteModelCacheEntriesMax && !store_behind_) committed_.clear();
  CommittedAccess access(this);
  rocksdb::ColumnFamilyHandle* cf = store_->family(kFamily);
  std::vector<bool> touched(checkpoint_.size(), false);
  rocksdb::WriteBatch batch;
  absl::flat_hash_map<std::string, internal::CommandRecord> records;
  for (const FoldInput& in : events) {
    Fold(in, access);
    const v1::Envelope& h = *in.header;
    const LogPosition at = PositionOf(h.position());
    if (checkpoint_.contains(at.partition) && at.offset + 1 > checkpoint_[at.partition]) {
      checkpoint_[at.partition] = at.offset + 1;
      touched[at.partition.value()] = true;
    }
    if (!absl::StartsWith(h.event_id(), kGeneratedEventIdPrefix)) {
      std::string value(1, kIndexedPosition);
      PutBigEndian32(value, h.position().partition());
      PutBigEndian64(value, h.position().offset());
      value += h.command_id();
      batch.Put(cf, EventIndexKey(h.event_id()), value).PermitUncheckedError();
    }
    if (!h.command_id().empty()) {
      auto it = records.find(h.command_id());
      if (it == records.end()) {
        internal::CommandRecord record;
        const bool new_command = origin == FoldOrigin::kLive && h.command_event_count() > 0;
        if (!new_command) {
          if (auto stored = FindCommand(h.command_id())) record = std::move(*stored);
        }
        it = records.emplace(h.command_id(), std::move(record)).first;
      }
      internal::CommandRecord& record = it->second;
      if (h.command_event_count() > 0) {
        record.set_digest(h.command_digest());
        // Events of this command seen before its first one (catch-up across partitions).
        const uint32_t seen =
            static_cast<uint32_t>(record.result().events_size() + record.partitions_size());
        record.set_missing(h.command_event_count() > seen + 1 ? h.command_event_count() - seen - 1
                                                              : 0);
      } else if (record.missing() > 0) {
        record.set_missing(record.missing() - 1);
      }
      record.add_partitions(h.position().partition());
      record.add_offsets(h.position().offset());
    }
  }
  for (const auto& [key, entity] : access.dirty_) {
    batch.Put(cf, EntityKey(key), entity->SerializeAsString()).PermitUncheckedError();
  }
  for (const auto& [id, record] : records) {
    batch.Put(cf, CommandKey(id), record.SerializeAsString()).PermitUncheckedError();
  }
  for (PartitionId p : checkpoint_.partitions()) {
    if (!touched[p.value()]) continue;
    std::string value;
    PutBigEndian64(value, checkpoint_[p].value());
    batch.Put(cf, CheckpointKey(p), value).PermitUncheckedError();
  }
  // The memory copy is current: deciders need not wait for the disk write. Callers are
  // serialized (log order), so releasing the lock cannot reorder writes.
  lock.unlock();
  // An erasure in the log ends with its key destroyed: the hook runs before the fold that
  // holds the erasure can be persisted, and a crash before that persist refolds it (Destroy is
  // idempotent).
  if (erasure_hook_) {
    for (const FoldInput& in : events) {
      absl::Status s;
      if (in.event->body_case() == v1::Event::kSubjectErased) {
        s = erasure_hook_(EmployeeId(in.event->subject_erased().employee_id()),
                          v1::SEAL_KEY_PERSONAL);
      } else if (in.event->body_case() == v1::Event::kRetentionEnded) {
        s = erasure_hook_(EmployeeId(in.event->retention_ended().employee_id()),
                          v1::SEAL_KEY_RETAINED);
      }
      if (!s.ok()) {
        store_behind_ = true;
        return s;
      }
    }
  }
  // No WAL and no sync (StateStore::Write): the log is the durable truth; whatever a crash
  // loses is refolded by CatchUp from the checkpoint that survived with the rows.
  absl::Status persisted = store_->Write(&batch, "persist write model");
  if (!persisted.ok()) store_behind_ = true;
  return persisted;
}

absl::Status WriteModel::CatchUp(EventLog& log) {
  const LogEnds ends = log.Ends();
  for (PartitionId p : ends.partitions()) {
    if (!checkpoint_.contains(p)) break;
    Offset from = Checkpoint()[p];
    while (from < ends[p]) {
      ASSIGN_OR_RETURN(std::vector<StoredEvent> batch,
                       log.Read(p, from, limits::kReadLimitMax));
      if (batch.empty()) break;
      std::vector<v1::Event> decoded(batch.size());
      std::vector<FoldInput> inputs;
      inputs.reserve(batch.size());
      for (size_t i = 0; i < batch.size(); i++) {
        if (!decoded[i].ParseFromString(batch[i].payload())) {
          return absl::DataLossError(absl::StrCat("write model catch-up: event ",
                                                  batch[i].event_id(), " does not parse"));
        }
        inputs.push_back({&batch[i], &decoded[i]});
      }
      RETURN_IF_ERROR(ApplyCommitted(inputs));
      from = PositionOf(batch.back().position()).offset + 1;
    }
  }
  return absl::OkStatus();
}

LogEnds WriteModel::Checkpoint() {
  std::lock_guard<std::mutex> lock(mu_);
  return checkpoint_;
}

}  // namespace perfledger
