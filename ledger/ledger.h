// The write side: command handlers over the event log and the write model (ARCHITECTURE §4).
//
// Each command: validate (INVALID_ARGUMENT naming the field) → check the idempotency key →
// look up what the command refers to (NOT_FOUND, FAILED_PRECONDITION) → check the expected
// version (ABORTED) → decide the events, enriched with the context their consumers need →
// append them atomically → answer once they are durable. A rejected command appends nothing.
// A command method returns its answer once durable; Submit runs the same method and has the
// answer delivered instead, so the calling thread does not wait for the log's sync.
//
// Decisions are serialized by one mutex (the single-writer rule of ARCHITECTURE §4); the append itself
// is only enqueued under it, so concurrent commands share the log's group commit.
//
// Thread safety: every method is thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ledger/access.h"
#include "ledger/crypto.h"
#include "ledger/event_log.h"
#include "ledger/key_store.h"
#include "ledger/sealing.h"
#include "ledger/write_model.h"
#include "perfledger/v1/commands.pb.h"
#include "perfledger/v1/hooks.pb.h"
#include "perfledger/v1/common.pb.h"
#include "perfledger/v1/policies.pb.h"
#include "perfledger/internal/reactor.pb.h"

namespace perfledger {

class AnswerSink;

// Who is calling and when; built by the server from the authenticated call.
struct CommandContext {
  v1::Actor actor;
  // Who acts, for the scope and acting-person checks (ledger/access.h). The policy reactor and
  // the deadline scheduler act as ROLE_SYSTEM, which the server lets write metrics only and the
  // ledger does not narrow further.
  Principal principal;
  // Receive time: the default business time of the command's events.
  absl::Time now = absl::Now();
  // The caller's deadline: admission control (Ledger::SetAdmission) waits no longer.
  absl::Time deadline = absl::InfiniteFuture();
  // Set by Ledger::Submit only: where the answer of a command that reaches the log goes, so
  // the caller need not wait for the sync. Null: the command method waits and returns it.
  AnswerSink* answer_later = nullptr;
};

// Receives a command's answer, exactly once.
using CommandAnswer = absl::AnyInvocable<void(absl::StatusOr<v1::CommandResult>) &&>;

// The answer of a command run by Ledger::Submit, held until the ledger knows it.
class AnswerSink {
 public:
  explicit AnswerSink(CommandAnswer answer) : answer_(std::move(answer)) {}
  AnswerSink(const AnswerSink&) = delete;
  AnswerSink& operator=(const AnswerSink&) = delete;
  // The answer, for a continuation that delivers it later; once only.
  CommandAnswer Take() {
    taken_ = true;
    return std::move(answer_);
  }
  bool taken() const { return taken_; }

 private:
  CommandAnswer answer_;
  bool taken_ = false;
};

struct LedgerStats {
  uint64_t accepted = 0;
  uint64_t rejected = 0;
  uint64_t deduplicated = 0;
};

class Decision;

// One appended command's answer and whoever waits for it: the command's own caller, and any
// retry under the same idempotency key that arrives while it is in flight.
class PendingAnswer {
 public:
  using Result = absl::StatusOr<v1::CommandResult>;
  explicit PendingAnswer(std::string digest) : digest_(std::move(digest)) {}
  // The request digest of the command (a retry must match it).
  const std::string& digest() const { return digest_; }
  // Sets the answer and runs every continuation with it, on this thread. Once only.
  void Deliver(Result result);
  // Runs `then` with the answer: now if it is known, else in Deliver.
  void Then(absl::AnyInvocable<void(Result) &&> then);
  // Blocks until the answer is known.
  Result Wait();

 private:
  const std::string digest_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Result> result_;
  std::vector<absl::AnyInvocable<void(Result) &&>> waiting_;
};

class Ledger {
 public:
  // `log` and `write_model` must outlive the ledger. The write model must be caught up.
  Ledger(EventLog* log, WriteModel* write_model);
  // Answers every command whose append completed (the log must have called back for every
  // append, i.e. no Execute is still waiting).
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  using Result = absl::StatusOr<v1::CommandResult>;
  template <typename Request>
  using Command = Result (Ledger::*)(const Request&, const CommandContext&);

  // Runs `command` and gives its answer to `answer` instead of returning it. The calling thread
  // validates, decides and appends; a command that reaches the log is answered on the log's
  // thread once durable (or on the folder's, for an erasure), and any other on the calling
  // thread before Submit returns. Every command method returns Execute's result unchanged,
  // which is what lets Execute take the answer over.
  template <typename Request>
  void Submit(Command<Request> command, const Request& request, CommandContext ctx,
              CommandAnswer answer) {
    AnswerSink sink(std::move(answer));
    ctx.answer_later = &sink;
    Result result = (this->*command)(request, ctx);
    if (!sink.taken()) sink.Take()(std::move(result));
  }

  // People (org units on the control stream; employees keyed by employee id).
  Result DefineOrgUnit(const v1::DefineOrgUnitRequest& r, const CommandContext& ctx);
  Result RegisterEmployee(const v1::RegisterEmployeeRequest& r, const CommandContext& ctx);
  Result UpdateEmployee(const v1::UpdateEmployeeRequest& r, const CommandContext& ctx);
  Result RecordDeparture(const v1::RecordDepartureRequest& r, const CommandContext& ctx);
  // GDPR erasure: appends SubjectErased (hr and admin; NOT_FOUND for an unknown employee; a
  // second erasure answers the first and appends nothing). The key is destroyed as the
  // erasure is folded (WriteModel::SetErasureHook), after it is durable.
  Result EraseSubject(const v1::EraseSubjectRequest& r, const CommandContext& ctx);
  // Cycles (control stream).
  Result OpenCycle(const v1::OpenCycleRequest& r, const CommandContext& ctx);
  Result CloseCycle(const v1::CloseCycleRequest& r, const CommandContext& ctx);
  // Goals, keyed by their owner.
  Result SetGoal(const v1::SetGoalRequest& r, const CommandContext& ctx);
  Result ReviseGoal(const v1::ReviseGoalRequest& r, const CommandContext& ctx);
  Result RecordKeyResultProgress(const v1::RecordKeyResultProgressRequest& r,
                                 const CommandContext& ctx);
  Result CloseGoal(const v1::CloseGoalRequest& r, const CommandContext& ctx);
  // Check-ins.
  Result RecordCheckIn(const v1::RecordCheckInRequest& r, const CommandContext& ctx);

  // Performance improvement plans (commands_pips.cc): the employee's manager, hr or admin.
  // NOT_FOUND for an unknown plan, FAILED_PRECONDITION for a closed one.
  Result OpenPip(const v1::OpenPipRequest& r, const CommandContext& ctx);
  Result SetPipGoals(const v1::SetPipGoalsRequest& r, const CommandContext& ctx);
  Result RecordPipCheckpoint(const v1::RecordPipCheckpointRequest& r, const CommandContext& ctx);
  Result ExtendPip(const v1::ExtendPipRequest& r, const CommandContext& ctx);
  Result ClosePip(const v1::ClosePipRequest& r, const CommandContext& ctx);
  // Recognition and the case library (commands_recognition.cc, docs/RECOGNITION.md).
  // GivePraise: RESOURCE_EXHAUSTED past limits::kPraiseRecipientsMax recipients or the giver's
  // rolling rate (limits::kPraisePerGiverPerDayMax by receive time). PublishCase:
  // FAILED_PRECONDITION naming the missing consent or review.
  Result GivePraise(const v1::GivePraiseRequest& r, const CommandContext& ctx);
  Result NominateCase(const v1::NominateCaseRequest& r, const CommandContext& ctx);
  Result RecordCaseConsent(const v1::RecordCaseConsentRequest& r, const CommandContext& ctx);
  Result ReviewCase(const v1::ReviewCaseRequest& r, const CommandContext& ctx);
  Result PublishCase(const v1::PublishCaseRequest& r, const CommandContext& ctx);
  Result WithdrawCase(const v1::WithdrawCaseRequest& r, const CommandContext& ctx);
  // Metrics: one observation, or a batch appended atomically.
  Result ObserveMetric(const v1::ObserveMetricRequest& r, const CommandContext& ctx);
  Result ObserveMetrics(const v1::ObserveMetricsRequest& r, const CommandContext& ctx);
  // Reviews.
  Result SubmitScore(const v1::SubmitScoreRequest& r, const CommandContext& ctx);
  Result AmendScore(const v1::AmendScoreRequest& r, const CommandContext& ctx);
  Result AdjustCalibration(const v1::AdjustCalibrationRequest& r, const CommandContext& ctx);
  Result FinalizeGrade(const v1::FinalizeGradeRequest& r, const CommandContext& ctx);
  Result RecordFeedback(const v1::RecordFeedbackRequest& r, const CommandContext& ctx);
  // Disputes (commands_disputes.cc): the employee acknowledges or disputes their grade (hr or
  // admin on their behalf); the dispute's assignee, hr or admin resolve it.
  Result AcknowledgeGrade(const v1::AcknowledgeGradeRequest& r, const CommandContext& ctx);
  Result RaiseDispute(const v1::RaiseDisputeRequest& r, const CommandContext& ctx);
  Result ResolveDispute(const v1::ResolveDisputeRequest& r, const CommandContext& ctx);
  // Training reported by the LMS.
  Result RecordTraining(const v1::RecordTrainingRequest& r, const CommandContext& ctx);
  // Policies: a validated document becomes the next version (control stream).
  Result PublishPolicy(const v1::PublishPolicyRequest& r, const CommandContext& ctx);
  // The policy reactor's decisions: appended atomically, deduplicated by reaction.command_id
  // (derived from the cause), so a replayed or restarted reactor never doubles an action.
  Result React(const internal::Reaction& reaction, const CommandContext& ctx);

  // Hooks (ARCHITECTURE §7). Acknowledgements and rejections of delivered actions, all items in one
  // atomic append; an item already answered the same way is a DUPLICATE and appends nothing.
  // `may_handle` says whether the caller's role may answer an action of that kind
  // (PERMISSION_DENIED naming the item otherwise).
  absl::StatusOr<v1::AcknowledgeResponse> Acknowledge(
      const v1::AcknowledgeRequest& r, const CommandContext& ctx,
      const std::function<bool(v1::ActionKind)>& may_handle);
  // Delivery reports: one ActionDelivered per action not yet delivered to `consumer` (nor
  // answered). Best effort for the Hooks service: the state they show is informational.
  struct Delivery {
    std::string action_id;
    std::string employee_id;
  };
  absl::Status RecordDeliveries(const std::string& consumer, const std::vector<Delivery>& items,
                                const CommandContext& ctx);

  // Admission control: runs before a client command is decided (after its meta is validated)
  // and refuses it with its error, e.g. while the views are too far behind the log. The
  // reactor's decisions and delivery reports skip it: they are what drains that backlog. Set
  // before serving; `admit` must outlive the ledger's commands.
  using Admission = std::function<absl::Status(absl::Time deadline)>;
  void SetAdmission(Admission admit) { admission_ = std::move(admit); }

  // Personal data at rest (sealing.h): from now on every event's identity, conversation and
  // compensation fields are sealed under their subject's keys in `keys`, and command digests
  // are keyed by a secret of the store (a plain hash of a request would let anyone holding the
  // log test guesses of the names and notes in it). An erasure keeps the subject's
  // compensation records for `retention` from when it is recorded (SubjectErased.
  // retained_until). Call once, before serving; `keys` must outlive the ledger. Without it
  // (tests of the log alone) those fields stay in the payload.
  absl::Status EnableSealing(KeyStore* keys, absl::Duration retention);

  // The sealer of EnableSealing (null before it).
  Sealer* sealer() const { return sealer_.get(); }

  LedgerStats stats() const;
  EventLog& log() { return *log_; }
  WriteModel& write_model() { return *write_model_; }

 private:
  using Decider = std::function<absl::Status(Decision&)>;

  // The pipeline every command runs through. `request` is hashed for idempotency.
  Result Execute(const v1::CommandMeta& meta, const google::protobuf::Message& request,
                 const CommandContext& ctx, const Decider& decide, bool admit = true);
  // What ExecuteLocked handed to the log: the append's answer to come, and the event ids the
  // command named that were recorded before (added to that answer).
  struct Appended {
    std::shared_ptr<PendingAnswer> pending;
    std::vector<std::string> duplicates;
  };
  // Decides and appends under `lock` (which it releases once the append is queued). Returns
  // the answer of a command that appends nothing (an error, or nothing to record); one that
  // appends fills `appended` and returns a placeholder.
  Result ExecuteLocked(const v1::CommandMeta& meta, const std::string& command_id,
                       const std::string& digest, const CommandContext& ctx,
                       const Decider& decide, std::unique_lock<std::mutex>& lock,
                       Appended& appended);

  // An append the log has finished, waiting for the folder thread. A durable one was answered
  // already by the log's callback, unless it is answered after its fold; a failed one is
  // answered by the folder.
  // When a durable command is answered. Folding an erasure destroys a key (the write model's
  // erasure hook), and whoever erased expects the key gone once answered: such a command is
  // answered after its fold; every other one as soon as its write is synced.
  enum class Answering { kWhenDurable, kAfterFold };
  struct Completed {
    AppendBatch envelopes;  // sealed, with their offsets once durable
    std::shared_ptr<std::vector<v1::Event>> events;
    absl::Status failure;
    Answering answering = Answering::kWhenDurable;
    v1::CommandResult answer;  // kAfterFold: what the folder answers
    std::shared_ptr<PendingAnswer> pending;
    std::string command_id;
    std::shared_ptr<std::vector<std::string>> client_ids;
    bool control = false;  // holds a control-stream event (see control_in_flight_)
  };
  // The folder thread: folds durable appends into the write model, then takes their ids out
  // of flight. Off the log's commit thread (which goes on to the next group commit meanwhile)
  // and batched: one write-model write for everything completed since the last pass instead of
  // one per command. Order is the log's callback order, so folding stays in log order.
  void FoldLoop();
  // Returns once every completed append has been folded and answered.
  void WaitFolded();
  // Returns once no command with a control-stream event is between decision and fold.
  void WaitControlFolded();
  // Takes a folded (or failed) command's idempotency key and event ids out of flight.
  void Release(const Completed& c);

  EventLog* log_;
  WriteModel* write_model_;
  Admission admission_;
  std::unique_ptr<Sealer> sealer_;
  absl::Duration retention_ = absl::ZeroDuration();
  std::optional<crypto::Key> digest_key_;
  // The salary in force of `emp` (an employee's state), opened from its sealed copy when the
  // log holds it sealed. FAILED_PRECONDITION naming `field` when it can no longer be opened
  // (the employee's retention period ended).
  struct Pay {
    v1::Money base_salary;
    v1::Money band_midpoint;
  };
  // What the log holds under a client-supplied event id, compared with an observation about to
  // be recorded under it (its time only when the client gave one).
  absl::StatusOr<Prior> PriorObservation(const std::string& event_id,
                                         const v1::MetricObserved& candidate,
                                         const google::protobuf::Timestamp* observed_at);
  // The event recorded under a client-supplied id, read back from the log (NOT_FOUND naming
  // `field` when the write model has not indexed it).
  absl::StatusOr<v1::Event> IndexedEvent(std::string_view field, const std::string& event_id);
  // A case's evidence: each id exists, is about one of `subjects` (or an org unit) and is no
  // compensation fact (INVALID_ARGUMENT naming the item).
  absl::Status CheckCaseEvidence(Decision& d, const v1::CaseEvidence& evidence,
                                 const google::protobuf::RepeatedPtrField<std::string>& subjects);
  // The reason of a rejected action, opened when sealed ("[erased]" once it cannot be).
  std::string RejectReason(const internal::ActionState& action);
  absl::StatusOr<Pay> PayOf(std::string_view field, const EmployeeId& employee_id,
                            const internal::EmployeeState& emp);
  std::string Digest(const google::protobuf::Message& request) const;

  std::mutex fold_mu_;
  std::condition_variable fold_cv_;
  std::vector<Completed> fold_queue_;
  bool fold_stop_ = false;
  bool folding_ = false;  // the folder is working on a swapped-out batch
  // Commands holding a control-stream event that were handed to the log and not folded yet.
  uint64_t control_in_flight_ = 0;
  std::condition_variable fold_idle_cv_;
  std::thread folder_;

  std::mutex mu_;  // serializes decisions
  // Gives `pending`'s answer, passed through `then`, to the caller: to ctx.answer_later when
  // set (returning a placeholder the caller ignores), else by waiting for it.
  template <typename Then>
  Result Await(const CommandContext& ctx, PendingAnswer& pending, Then then);

  // Guards in_flight_ only. Separate from mu_ because the log's completion callbacks erase
  // entries while an appender may hold mu_ waiting for room in the log's queue.
  std::mutex in_flight_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<PendingAnswer>> in_flight_;
  // Client-supplied event ids of appends not yet folded (the write model only knows folded
  // ones). Once the append is durable the id's position is set, before the command is answered:
  // a client that got its answer and sends the id again is compared with what the log holds,
  // never told the id is still being recorded. Guarded by in_flight_mu_.
  struct InFlightId {
    uint32_t commands = 0;
    std::optional<LogPosition> durable;
  };
  absl::flat_hash_map<std::string, InFlightId> in_flight_event_ids_;

  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> deduplicated_{0};
};

}  // namespace perfledger
