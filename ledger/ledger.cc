#include "ledger/ledger.h"

#include <algorithm>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "ledger/decision.h"
#include "ledger/hash_chain.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "ledger/partitioner.h"
#include "ledger/status_macros.h"
#include "ledger/validation.h"

namespace perfledger {

std::string EmployeeStream(std::string_view id) { return absl::StrCat("employee/", std::string(id)); }
std::string OrgUnitStream(std::string_view id) { return absl::StrCat("org/", std::string(id)); }
std::string CycleStream(std::string_view id) { return absl::StrCat("cycle/", std::string(id)); }
std::string GoalStream(std::string_view id) { return absl::StrCat("goal/", std::string(id)); }
std::string MetricsStream(std::string_view subject) { return absl::StrCat("metrics/", std::string(subject)); }

namespace {

// Random ids for events the client did not name. Not security-relevant: uniqueness only.
// Time-ordered, like a UUIDv7: 12 hex digits of milliseconds since the epoch, then 80 random
// bits (32 hex digits in all). Events appended together get ids that sort together, so an index
// keyed by event id inserts them next to each other in its memtable (one warm path down the
// skiplist, not a cache miss per level) and its flushed files barely overlap.
std::string GeneratedEventId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const uint64_t millis = static_cast<uint64_t>(absl::ToUnixMillis(absl::Now()));
  return absl::StrFormat("%s%012x%016x%04x", kGeneratedEventIdPrefix, millis & 0xffff'ffff'ffffULL,
                         rng(), rng() & 0xffff);
}

std::string DeterministicBytes(const google::protobuf::Message& request) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&coded);
  }
  return bytes;
}

// The key store subject of the command-digest secret: '/' is not allowed in ids, so no
// employee can have it.
constexpr char kDigestKeySubject[] = "/command-digest";

// The payload's type name, e.g. "GradeFinalized" (the envelope's `type`).
std::string TypeName(const v1::Event& event) {
  const auto* field = v1::Event::descriptor()->FindFieldByNumber(event.body_case());
  return field == nullptr ? "Unknown" : field->message_type()->name();
}

absl::Status ValidateMeta(const v1::CommandMeta& meta) {
  RETURN_IF_ERROR(CheckId("meta.idempotency_key", meta.idempotency_key(), Presence::kOptional));
  RETURN_IF_ERROR(CheckId("meta.event_id", meta.event_id(), Presence::kOptional));
  if (absl::StartsWith(meta.event_id(), kGeneratedEventIdPrefix)) {
    return FieldError("meta.event_id",
                      absl::StrCat("the prefix '", kGeneratedEventIdPrefix, "' is reserved"));
  }
  if (meta.has_occurred_at()) RETURN_IF_ERROR(CheckTimestamp("meta.occurred_at", meta.occurred_at()));
  RETURN_IF_ERROR(CheckId("meta.correlation_id", meta.correlation_id(), Presence::kOptional));
  RETURN_IF_ERROR(CheckId("meta.causation_id", meta.causation_id(), Presence::kOptional));
  RETURN_IF_ERROR(CheckId("meta.on_behalf_of", meta.on_behalf_of(), Presence::kOptional));
  return absl::OkStatus();
}

}  // namespace

std::string Ledger::Digest(const google::protobuf::Message& request) const {
  const std::string bytes = DeterministicBytes(request);
  return digest_key_ ? crypto::HmacSha256(*digest_key_, bytes) : Sha256(bytes);
}

absl::Status Ledger::EnableSealing(KeyStore* keys, absl::Duration retention) {
  ASSIGN_OR_RETURN(crypto::Key key, keys->GetOrCreate(kDigestKeySubject, KeyPurpose::kRetained));
  digest_key_ = key;
  crypto::Wipe(key);
  sealer_ = std::make_unique<Sealer>(keys);
  retention_ = retention;
  return absl::OkStatus();
}

std::string Ledger::RejectReason(const internal::ActionState& action) {
  if (!action.has_reject_reason_sealed()) return action.reject_reason();
  v1::Event opened;
  if (sealer_ == nullptr || !sealer_->Open(action.reject_reason_sealed().sealed(),
                                           action.reject_reason_sealed().event_id(), opened)
                                 .ok()) {
    return kErasedPlaceholder;
  }
  return opened.action_rejected().reason();
}

absl::StatusOr<Prior> Ledger::PriorObservation(
    const std::string& event_id, const v1::MetricObserved& candidate,
    const google::protobuf::Timestamp* observed_at) {
  // In flight first, then folded (the order of `recorded` in Decide, for the same reason).
  std::optional<LogPosition> at;
  {
    std::lock_guard<std::mutex> guard(in_flight_mu_);
    auto it = in_flight_event_ids_.find(event_id);
    if (it != in_flight_event_ids_.end()) {
      if (!it->second.durable) return Prior::kInFlight;
      at = it->second.durable;
    }
  }
  if (!at) {
    std::optional<WriteModel::IndexedEvent> found = write_model_->FindEvent(event_id);
    if (!found) return Prior::kNone;
    // Recorded before positions were indexed: it cannot be compared, so it is not the same.
    if (!found->position) return Prior::kDifferent;
    at = found->position;
  }
  ASSIGN_OR_RETURN(std::vector<StoredEvent> stored, log_->Read(at->partition, at->offset, 1));
  v1::Event event;
  if (stored.empty() || stored[0].event_id() != event_id ||
      !event.ParseFromString(stored[0].payload())) {
    return absl::DataLossError(absl::StrCat("event ", event_id, " is indexed at ", at->partition,
                                            ":", at->offset, " but is not there"));
  }
  if (!event.has_metric_observed()) return Prior::kDifferent;
  const v1::MetricObserved& m = event.metric_observed();
  const bool same = m.subject_id() == candidate.subject_id() &&
                    m.subject_kind() == candidate.subject_kind() &&
                    m.metric() == candidate.metric() &&
                    m.value_milli() == candidate.value_milli() && m.unit() == candidate.unit() &&
                    m.source() == candidate.source() && m.cycle_id() == candidate.cycle_id() &&
                    (observed_at == nullptr ||
                     (stored[0].occurred_at().seconds() == observed_at->seconds() &&
                      stored[0].occurred_at().nanos() == observed_at->nanos()));
  return same ? Prior::kSame : Prior::kDifferent;
}

absl::StatusOr<Ledger::Pay> Ledger::PayOf(std::string_view field, const EmployeeId& employee_id,
                                          const internal::EmployeeState& emp) {
  Pay pay{emp.base_salary(), emp.band_midpoint()};
  if (!emp.has_compensation()) return pay;
  if (emp.retention_ended() || sealer_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        std::string(field), ": employee ", employee_id,
        " was erased and their retention period ended: their salary is no longer kept"));
  }
  v1::Event opened;
  RETURN_IF_ERROR(sealer_->Open(emp.compensation().sealed(), emp.compensation().event_id(),
                                opened));
  const v1::Event::BodyCase body = opened.body_case();
  if (body == v1::Event::kEmployeeRegistered) {
    pay.base_salary = opened.employee_registered().base_salary();
    pay.band_midpoint = opened.employee_registered().band_midpoint();
  } else if (body == v1::Event::kEmployeeUpdated) {
    pay.base_salary = opened.employee_updated().base_salary();
    pay.band_midpoint = opened.employee_updated().band_midpoint();
  }
  return pay;
}

// ---------------------------------------------------------------- Decision

std::optional<internal::Entity> Decision::Find(const std::string& key) { return wm_.Find(key); }

absl::Status Decision::WithEmployee(std::string_view field, const std::string& id,
                                    EmployeeMust must,
                                    absl::FunctionRef<void(const internal::EmployeeState&)> read) {
  bool found = false;
  bool departed = false;
  wm_.Visit(EmployeeStream(id), [&](const internal::Entity& e) {
    if (!e.has_employee()) return;
    found = true;
    departed = e.employee().departed();
    if (must != EmployeeMust::kBeActive || !departed) read(e.employee());
  });
  if (!found) {
    return absl::NotFoundError(absl::StrCat(std::string(field), ": employee ", id, " not found"));
  }
  if (must == EmployeeMust::kBeActive && departed) {
    return absl::FailedPreconditionError(
        absl::StrCat(std::string(field), ": employee ", id, " has departed"));
  }
  return absl::OkStatus();
}

absl::StatusOr<internal::EmployeeState> Decision::Employee(std::string_view field,
                                                           const std::string& id,
                                                           EmployeeMust must) {
  internal::EmployeeState out;
  RETURN_IF_ERROR(
      WithEmployee(field, id, must, [&](const internal::EmployeeState& e) { out = e; }));
  return out;
}

absl::StatusOr<std::string> Decision::EmployeeOrgUnit(std::string_view field,
                                                     const std::string& id) {
  std::string org_unit;
  RETURN_IF_ERROR(WithEmployee(field, id, EmployeeMust::kBeActive,
                               [&](const internal::EmployeeState& e) {
                                 org_unit = e.org_unit_id();
                               }));
  return org_unit;
}

absl::StatusOr<internal::OrgUnitState> Decision::OrgUnit(std::string_view field,
                                                         const std::string& id) {
  auto e = wm_.Find(OrgUnitStream(id));
  if (!e || !e->has_org_unit()) {
    return absl::NotFoundError(absl::StrCat(std::string(field), ": org unit ", id, " not found"));
  }
  return e->org_unit();
}

absl::StatusOr<internal::CycleState> Decision::Cycle(std::string_view field,
                                                     const std::string& id, CycleMust must) {
  auto e = wm_.Find(CycleStream(id));
  if (!e || !e->has_cycle()) {
    return absl::NotFoundError(absl::StrCat(std::string(field), ": cycle ", id, " not found"));
  }
  if (must == CycleMust::kBeOpen && e->cycle().closed()) {
    return absl::FailedPreconditionError(
        absl::StrCat(std::string(field), ": cycle ", id, " is closed"));
  }
  return e->cycle();
}

absl::StatusOr<internal::GoalState> Decision::Goal(std::string_view field, const std::string& id,
                                                   GoalMust must) {
  auto e = wm_.Find(GoalStream(id));
  if (!e || !e->has_goal()) {
    return absl::NotFoundError(absl::StrCat(std::string(field), ": goal ", id, " not found"));
  }
  if (must == GoalMust::kBeOpen && e->goal().closed()) {
    return absl::FailedPreconditionError(
        absl::StrCat(std::string(field), ": goal ", id, " is closed"));
  }
  return e->goal();
}

namespace {

bool IsHrOrAdmin(const Principal& p) {
  return p.role == v1::ROLE_HR || p.role == v1::ROLE_ADMIN;
}

// Roles whose writes the ledger does not narrow by person: admin, and the ledger's own system
// principal (the server lets the system role write metrics only).
bool Unrestricted(const Principal& p) {
  return p.role == v1::ROLE_ADMIN || p.role == v1::ROLE_SYSTEM ||
         (p.role == v1::ROLE_HR && p.org_units.empty());
}

std::string Who(const Principal& p) {
  return p.employee_id.empty() ? absl::StrCat(v1::Role_Name(p.role), " ", p.name)
                               : absl::StrCat(v1::Role_Name(p.role), " ", p.employee_id);
}

}  // namespace

absl::Status Decision::RequireScope(std::string_view field, const std::string& id) {
  if (Unrestricted(principal_)) return absl::OkStatus();
  if (access_.InScope(principal_, Subject::Employee(id))) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(std::string(field), ": ", id,
                                                  " is outside the scope of ", Who(principal_)));
}

absl::Status Decision::RequireUnitScope(std::string_view field, const std::string& unit) {
  if (Unrestricted(principal_)) return absl::OkStatus();
  if (access_.InScope(principal_, Subject::OrgUnit(unit))) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      std::string(field), ": org unit ", unit.empty() ? "(the root)" : unit,
      " is outside the scope of ", Who(principal_)));
}

absl::Status Decision::RequireOrgWide(std::string_view field) {
  if (Unrestricted(principal_)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      std::string(field), ": org-wide; ", Who(principal_),
      principal_.org_units.empty() ? " may not decide it" : " is limited to its org units"));
}

absl::Status Decision::RequireHr(std::string_view field) {
  if (IsHrOrAdmin(principal_) || principal_.role == v1::ROLE_SYSTEM) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(std::string(field), ": only hr or admin decide "
                                                  "this, not ", Who(principal_)));
}

absl::Status Decision::RequireActing(std::string_view field, const std::string& person) {
  acting_checked_ = true;
  const std::string& behalf = meta_.on_behalf_of();
  if (IsHrOrAdmin(principal_) || principal_.role == v1::ROLE_SYSTEM) {
    if (!behalf.empty() && behalf != person) {
      return absl::InvalidArgumentError(absl::StrCat("meta.on_behalf_of: ", behalf,
                                                      " is not the ", std::string(field), " ",
                                                      person));
    }
    if (person != principal_.employee_id) on_behalf_of_ = person;
    return absl::OkStatus();
  }
  if (!principal_.employee_id.empty() && person == principal_.employee_id) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      std::string(field), ": ", person, " is not the caller (", Who(principal_),
      "); only hr or admin act on someone's behalf"));
}

absl::Status Decision::ExpectVersion(const std::string& stream) {
  if (!meta_.has_expected_version()) return absl::OkStatus();
  auto e = wm_.Find(stream);
  const uint64_t current = e ? e->version() : 0;
  if (current != meta_.expected_version()) {
    return absl::AbortedError(absl::StrFormat(
        "meta.expected_version: stream %s is at version %d, not %d", stream, current,
        meta_.expected_version()));
  }
  return absl::OkStatus();
}

void Decision::Emit(std::string stream, Route route, v1::Event event, std::string event_id,
                    const google::protobuf::Timestamp* occurred_at) {
  auto it = versions_.find(stream);
  if (it == versions_.end()) {
    auto e = wm_.Find(stream);
    it = versions_.emplace(stream, e ? e->version() : 0).first;
  }
  DecidedEvent& d = events_.emplace_back();
  d.stream_version = ++it->second;
  d.stream = std::move(stream);
  d.route = std::move(route);
  d.event = std::move(event);
  d.event_id = std::move(event_id);
  if (occurred_at != nullptr && (occurred_at->seconds() != 0 || occurred_at->nanos() != 0)) {
    d.occurred_at = *occurred_at;
  } else if (meta_.has_occurred_at()) {
    d.occurred_at = meta_.occurred_at();
  } else {
    d.occurred_at = ToTimestamp(now_);
  }
}

// ---------------------------------------------------------------- the pipeline

void PendingAnswer::Deliver(Result result) {
  std::vector<absl::AnyInvocable<void(Result) &&>> waiting;
  {
    std::lock_guard<std::mutex> guard(mu_);
    result_ = result;
    waiting.swap(waiting_);
  }
  cv_.notify_all();
  for (auto& then : waiting) std::move(then)(result);
}

void PendingAnswer::Then(absl::AnyInvocable<void(Result) &&> then) {
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (!result_.has_value()) {
      waiting_.push_back(std::move(then));
      return;
    }
  }
  std::move(then)(*result_);  // result_ never changes once set
}

PendingAnswer::Result PendingAnswer::Wait() {
  std::unique_lock<std::mutex> guard(mu_);
  cv_.wait(guard, [&] { return result_.has_value(); });
  return *result_;
}

template <typename Then>
Ledger::Result Ledger::Await(const CommandContext& ctx, PendingAnswer& pending, Then then) {
  if (ctx.answer_later != nullptr) {
    pending.Then([answer = ctx.answer_later->Take(), then = std::move(then)](Result r) mutable {
      std::move(answer)(then(std::move(r)));
    });
    return v1::CommandResult();  // Submit sees the answer taken and ignores this
  }
  return then(pending.Wait());
}

Ledger::Result Ledger::Execute(const v1::CommandMeta& meta,
                               const google::protobuf::Message& request,
                               const CommandContext& ctx, const Decider& decide,
                               bool admit) {
  if (absl::Status s = ValidateMeta(meta); !s.ok()) {
    rejected_++;
    return s;
  }
  if (!meta.on_behalf_of().empty() && ctx.principal.role != v1::ROLE_HR &&
      ctx.principal.role != v1::ROLE_ADMIN) {
    rejected_++;
    return absl::PermissionDeniedError(absl::StrCat(
        "meta.on_behalf_of: only hr or admin act on someone's behalf, not ",
        v1::Role_Name(ctx.principal.role)));
  }
  if (admit && admission_) {
    // Before the decision lock: a held-back command must not hold back the others' answers.
    if (absl::Status s = admission_(ctx.deadline); !s.ok()) {
      rejected_++;
      return s;
    }
  }
  // The idempotency key names the command; an event id alone stands in for one.
  std::string command_id = meta.idempotency_key();
  if (command_id.empty() && !meta.event_id().empty()) {
    command_id = absl::StrCat("event:", meta.event_id());
  }
  const std::string digest = command_id.empty() ? std::string() : Digest(request);

  std::unique_lock<std::mutex> lock(mu_);
  if (log_->WritesHeld()) {
    // The log recovered from a failed write on its own. That write's outcome may be unknown
    // (Kafka may have committed it), so refold the write model from the log before deciding
    // anything or answering a retry; only then may appends go on. Appends answered before the
    // failure are folded first: the write model is folded in log order by one caller at a time.
    WaitFolded();
    if (absl::Status s = write_model_->CatchUp(*log_); !s.ok()) {
      rejected_++;
      return absl::UnavailableError(
          absl::StrCat("the log is recovering from a failed write: ", s.message()));
    }
    log_->ResumeWrites();
  }
  if (!command_id.empty()) {
    // A retry of a command still in flight waits for the first one's answer.
    std::shared_ptr<PendingAnswer> first;
    {
      std::lock_guard<std::mutex> guard(in_flight_mu_);
      if (auto it = in_flight_.find(command_id); it != in_flight_.end()) first = it->second;
    }
    if (first != nullptr) {
      lock.unlock();
      if (first->digest() != digest) {
        rejected_++;
        return absl::AlreadyExistsError(
            "meta.idempotency_key: already used by a different command (still in flight)");
      }
      return Await(ctx, *first, [this](Result r) {
        if (r.ok()) {
          r->set_deduplicated(true);
          deduplicated_++;
        }
        return r;
      });
    }
    if (auto record = write_model_->FindCommand(command_id)) {
      lock.unlock();
      if (record->digest() != digest) {
        rejected_++;
        return absl::AlreadyExistsError(
            meta.idempotency_key().empty()
                ? absl::StrCat("meta.event_id: ", meta.event_id(),
                               " was already recorded by a different command")
                : absl::StrCat("meta.idempotency_key: ", meta.idempotency_key(),
                               " was already used by a different command"));
      }
      absl::StatusOr<v1::CommandResult> answer = WriteModel::Answer(*record, *log_);
      if (!answer.ok()) return answer.status();
      v1::CommandResult result = *std::move(answer);
      result.set_deduplicated(true);
      deduplicated_++;
      return result;
    }
  }
  auto count = [this](Result r) {
    if (r.ok()) {
      accepted_++;
    } else {
      rejected_++;
    }
    return r;
  };
  Appended appended;
  Result r = ExecuteLocked(meta, command_id, digest, ctx, decide, lock, appended);
  if (appended.pending == nullptr) return count(std::move(r));
  return Await(ctx, *appended.pending,
               [count, duplicates = std::move(appended.duplicates)](Result r) {
                 if (r.ok()) {
                   for (const std::string& id : duplicates) r->add_duplicate_event_ids(id);
                 }
                 return count(std::move(r));
               });
}

Ledger::Result Ledger::ExecuteLocked(const v1::CommandMeta& meta, const std::string& command_id,
                                     const std::string& digest, const CommandContext& ctx,
                                     const Decider& decide, std::unique_lock<std::mutex>& lock,
                                     Appended& appended) {
  // Every event records the control stream it was decided against (control_version: the end
  // of the control stream the write model has folded), and the projector holds a data event
  // back until that much of the control stream is applied. A control event still in flight
  // (appended, not folded) would be missing from that number although this decision may have
  // read it from the overlay (an org unit defined a moment ago), and a replay could then apply
  // the data before the control event it depends on. Control commands are rare: let them
  // settle first.
  WaitControlFolded();
  Decision decision(*write_model_, meta, ctx.now, ctx.principal);
  RETURN_IF_ERROR(decide(decision));
  if (!meta.on_behalf_of().empty() && !decision.acting_checked()) {
    return absl::InvalidArgumentError(
        "meta.on_behalf_of: this command names no acting person to act for");
  }
  std::vector<DecidedEvent>& decided = decision.events();
  if (decided.empty()) {
    if (decision.allows_no_events() || !decision.duplicates().empty()) {
      v1::CommandResult nothing;
      for (const std::string& id : decision.duplicates()) nothing.add_duplicate_event_ids(id);
      return nothing;
    }
    return absl::InternalError("command decided no events");
  }
  if (decided.size() > limits::kBatchEventsMax) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "command produces %d events, at most %d", decided.size(), limits::kBatchEventsMax));
  }

  // Client-supplied event ids must be new (a retry of the same command was answered above),
  // whether the event holding them committed or is still being appended.
  // In flight first, then committed: the fold persists an id before it stops being in flight
  // (Release), so in this order one of the two always sees it; in the other order an id whose
  // fold finishes between the two looks would be seen by neither.
  auto recorded = [&](const std::string& id) {
    {
      std::lock_guard<std::mutex> guard(in_flight_mu_);
      if (in_flight_event_ids_.contains(id)) return true;
    }
    return write_model_->FindEvent(id).has_value();
  };
  absl::flat_hash_map<std::string, size_t> seen_ids;
  for (size_t i = 0; i < decided.size(); i++) {
    DecidedEvent& d = decided[i];
    if (d.event_id.empty()) {
      d.event_id = (i == 0 && !meta.event_id().empty()) ? meta.event_id() : GeneratedEventId();
      if (d.event_id == meta.event_id()) {
        if (recorded(d.event_id)) {
          return absl::AlreadyExistsError(
              absl::StrCat("meta.event_id: ", d.event_id, " was already recorded"));
        }
      }
      continue;
    }
    if (!seen_ids.emplace(d.event_id, i).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("event_id: ", d.event_id, " appears twice in one command"));
    }
    if (!d.id_checked && recorded(d.event_id)) {
      return absl::AlreadyExistsError(
          absl::StrCat("event_id: ", d.event_id, " was already recorded"));
    }
  }

  // Build each envelope once, payload serialized once: the log seals these envelopes in place
  // and stores them, and the write model folds the same ones once they are durable.
  const uint32_t data_partitions = log_->data_partitions();
  const Offset control_version = write_model_->Checkpoint()[kControlPartition];
  auto batch = std::make_shared<std::vector<v1::Envelope>>(decided.size());
  size_t bytes = 0;
  for (size_t i = 0; i < decided.size(); i++) {
    DecidedEvent& d = decided[i];
    v1::Envelope& h = (*batch)[i];
    h.set_event_id(d.event_id);
    h.set_type(TypeName(d.event));
    h.set_stream(d.stream);
    h.set_stream_version(d.stream_version);
    h.set_partition_key(d.route.key);
    h.mutable_position()->set_partition(
        (d.route.control ? kControlPartition : DataPartitionFor(d.route.key, data_partitions))
            .value());
    *h.mutable_occurred_at() = d.occurred_at;
    // Personal and compensation fields leave the payload here, sealed under their subject's
    // keys and bound to the event id: nothing downstream (log, write model, views) ever holds
    // them in clear.
    if (sealer_ != nullptr && MayHoldSealedFields(d.event)) {
      const Subject subject = SubjectOf(h, d.event, Access(write_model_));
      if (subject.kind == Subject::Kind::kEmployee) {
        ASSIGN_OR_RETURN(Sealer::Parts parts, sealer_->Seal(d.event, subject.id, d.event_id));
        if (parts.personal) *h.mutable_sealed() = *std::move(parts.personal);
        if (parts.retained) *h.mutable_retained() = *std::move(parts.retained);
      }
    }
    *h.mutable_actor() = ctx.actor;
    if (!decision.on_behalf_of().empty()) h.mutable_actor()->set_on_behalf_of(decision.on_behalf_of());
    h.set_causation_id(meta.causation_id());
    h.set_correlation_id(meta.correlation_id());
    h.set_schema_version(1);
    h.set_control_version(control_version.value());
    h.set_command_id(command_id);
    if (i == 0 && !command_id.empty()) {
      h.set_command_digest(digest);
      h.set_command_event_count(static_cast<uint32_t>(decided.size()));
    }
    if (!d.event.SerializeToString(h.mutable_payload())) {
      return absl::InternalError(absl::StrFormat("event %d (%s) does not serialize", i, h.type()));
    }
    if (h.payload().size() > limits::kEventBytesMax) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "event %d (%s): %d bytes, at most %d", i, h.type(), h.payload().size(),
          limits::kEventBytesMax));
    }
    bytes += h.payload().size();
  }
  if (bytes > limits::kBatchBytesMax) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "command produces %d bytes of events, at most %d", bytes, limits::kBatchBytesMax));
  }

  // The decision stands: overlay it and hand it to the log, still under the lock so that log
  // order equals decision order.
  auto events = std::make_shared<std::vector<v1::Event>>();
  events->reserve(decided.size());
  for (size_t i = 0; i < decided.size(); i++) {
    events->push_back(std::move(decided[i].event));
    write_model_->ApplyPending({&(*batch)[i], &events->back()});
  }
  auto pending = std::make_shared<PendingAnswer>(digest);
  const bool control = std::any_of(decided.begin(), decided.end(),
                                   [](const DecidedEvent& d) { return d.route.control; });
  auto client_ids = std::make_shared<std::vector<std::string>>();
  for (const auto& h : *batch) {
    if (!absl::StartsWith(h.event_id(), kGeneratedEventIdPrefix)) client_ids->push_back(h.event_id());
  }
  {
    std::lock_guard<std::mutex> guard(in_flight_mu_);
    if (!command_id.empty()) in_flight_[command_id] = pending;
    for (const auto& id : *client_ids) in_flight_event_ids_[id].commands++;
  }
  if (control) {
    std::lock_guard<std::mutex> guard(fold_mu_);
    control_in_flight_++;
  }

  const Answering answering =
      std::any_of(events->begin(), events->end(),
                  [](const v1::Event& e) {
                    return e.has_subject_erased() || e.has_retention_ended();
                  })
          ? Answering::kAfterFold
          : Answering::kWhenDurable;
  log_->Append(batch, [this, batch, events, pending, command_id, client_ids, control, answering](
                          absl::StatusOr<std::vector<LogPosition>> positions) {
    // A durable command is answered here, on the log's thread, as soon as its write is synced:
    // its events stay in the write model's overlay, and its idempotency key and event ids stay
    // in flight, until the folder has folded them, so every later decision and retry sees them.
    // A failed append is answered by the folder, after it dropped the overlay.
    Completed c{batch, events, absl::OkStatus(), answering, {}, pending, command_id, client_ids,
                control};
    if (positions.ok()) {
      for (size_t i = 0; i < batch->size(); i++) {
        v1::Envelope& h = (*batch)[i];
        h.mutable_position()->set_offset((*positions)[i].offset.value());
        WriteModel::AddToAnswer(h, c.answer);
      }
      if (!client_ids->empty()) {
        std::lock_guard<std::mutex> guard(in_flight_mu_);
        for (size_t i = 0; i < batch->size(); i++) {
          auto it = in_flight_event_ids_.find((*batch)[i].event_id());
          if (it != in_flight_event_ids_.end()) it->second.durable = (*positions)[i];
        }
      }
      if (answering == Answering::kWhenDurable) pending->Deliver(std::move(c.answer));
    } else {
      c.failure = positions.status();
    }
    std::lock_guard<std::mutex> guard(fold_mu_);
    fold_queue_.push_back(std::move(c));
    fold_cv_.notify_one();
  });
  lock.unlock();
  appended.pending = std::move(pending);
  appended.duplicates = decision.duplicates();
  return v1::CommandResult();  // the answer comes through appended.pending
}

Ledger::Ledger(EventLog* log, WriteModel* write_model) : log_(log), write_model_(write_model) {
  folder_ = std::thread([this] {
    NameThisThread("pl-fold");
    FoldLoop();
  });
}

Ledger::~Ledger() {
  {
    std::lock_guard<std::mutex> guard(fold_mu_);
    fold_stop_ = true;
    fold_cv_.notify_one();
  }
  folder_.join();
}

void Ledger::FoldLoop() {
  std::vector<Completed> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> guard(fold_mu_);
      fold_cv_.wait(guard, [&] { return !fold_queue_.empty() || fold_stop_; });
      if (fold_queue_.empty()) return;  // stopping, and everything was answered
      batch.swap(fold_queue_);
      folding_ = true;
    }
    // Consecutive successes fold together; a failure drops the overlay at its place in the
    // order (the log refuses every later append, so nothing after it succeeds either).
    std::vector<FoldInput> inputs;
    std::vector<Completed*> folded;
    auto flush = [&] {
      if (inputs.empty() && folded.empty()) return;
      absl::Status persisted =
          write_model_->ApplyCommitted(inputs, WriteModel::FoldOrigin::kLive);
      if (!persisted.ok()) {
        // The events are durable; only the write model's stored copy is behind (its memory
        // copy is current). The next start refolds the log from the checkpoint.
        LogWarning(absl::StrCat("write model not persisted: ", persisted.ToString()));
      }
      for (Completed* c : folded) {
        Release(*c);
        if (c->answering == Answering::kAfterFold) c->pending->Deliver(std::move(c->answer));
      }
      inputs.clear();
      folded.clear();
    };
    for (Completed& c : batch) {
      if (!c.failure.ok()) {
        flush();
        write_model_->DropPending();
        Release(c);
        c.pending->Deliver(c.failure);
        continue;
      }
      for (size_t i = 0; i < c.envelopes->size(); i++) {
        inputs.push_back({&(*c.envelopes)[i], &(*c.events)[i]});
      }
      folded.push_back(&c);
    }
    flush();
    uint64_t controls = 0;
    for (const Completed& c : batch) controls += c.control ? 1 : 0;
    batch.clear();
    {
      std::lock_guard<std::mutex> guard(fold_mu_);
      folding_ = false;
      control_in_flight_ -= controls;
      fold_idle_cv_.notify_all();
    }
  }
}

void Ledger::WaitFolded() {
  std::unique_lock<std::mutex> guard(fold_mu_);
  fold_idle_cv_.wait(guard, [&] { return fold_queue_.empty() && !folding_; });
}

void Ledger::WaitControlFolded() {
  std::unique_lock<std::mutex> guard(fold_mu_);
  fold_idle_cv_.wait(guard, [&] { return control_in_flight_ == 0; });
}

void Ledger::Release(const Completed& c) {
  // After ApplyCommitted: a later duplicate now finds the ids in the write model.
  std::lock_guard<std::mutex> guard(in_flight_mu_);
  if (!c.command_id.empty()) in_flight_.erase(c.command_id);
  for (const auto& id : *c.client_ids) {
    auto it = in_flight_event_ids_.find(id);
    if (it != in_flight_event_ids_.end() && --it->second.commands == 0) {
      in_flight_event_ids_.erase(it);
    }
  }
}

LedgerStats Ledger::stats() const {
  return LedgerStats{accepted_.load(), rejected_.load(), deduplicated_.load()};
}

}  // namespace perfledger
