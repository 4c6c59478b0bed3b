// The command services: thin adapters. Each RPC authenticates, authorizes, submits the command
// to the ledger and maps its answer; the domain logic lives in ledger/. The unary commands use
// gRPC's callback API: the handler decides and appends on gRPC's thread and returns, and the
// ledger finishes the call once the events are durable, so no thread waits for the log's sync.
#include "absl/strings/str_cat.h"
#include "ledger/limits.h"
#include "ledger/status_macros.h"
#include "perfledger/v1/ledger.grpc.pb.h"
#include "services/server.h"
#include "services/status_map.h"

namespace perfledger::services {
namespace {

// Trailing metadata of a failed StreamMetrics: the batches of that call recorded before it
// ended (documented with the RPC in proto/perfledger/v1/ledger.proto).
constexpr char kBatchesRecordedTrailer[] = "perfledger-batches-recorded";

// Finishes `reactor`'s call with `result`.
void Finish(grpc::ServerUnaryReactor* reactor, v1::CommandResult* response,
            Ledger::Result result) {
  if (!result.ok()) {
    reactor->Finish(ToGrpc(result.status()));
    return;
  }
  *response = *std::move(result);
  reactor->Finish(grpc::Status::OK);
}

// The caller's context for a command, or the error that refuses the call.
absl::StatusOr<CommandContext> Admit(ServiceDeps* deps, grpc::CallbackServerContext* context,
                                     Operation op) {
  auto principal = deps->auth->Authenticate(*context);
  if (!principal.ok()) return principal.status();
  RETURN_IF_ERROR(Authorize(*principal, op));
  return CallerContext(*principal, *context);
}

template <typename Request>
grpc::ServerUnaryReactor* Run(ServiceDeps* deps, grpc::CallbackServerContext* context,
                              Operation op, const Request* request, v1::CommandResult* response,
                              Ledger::Command<Request> command) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<CommandContext> ctx = Admit(deps, context, op);
  if (!ctx.ok()) {
    reactor->Finish(ToGrpc(ctx.status()));
    return reactor;
  }
  // The request and response stay valid until the call is finished.
  deps->ledger->Submit(command, *request, *std::move(ctx),
                       [reactor, response](Ledger::Result result) {
                         Finish(reactor, response, std::move(result));
                       });
  return reactor;
}

#define PL_COMMAND_RPC(Method, Op)                                                        \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* context,                 \
                                   const v1::Method##Request* request,                    \
                                   v1::CommandResult* response) override {                \
    return Run(deps_, context, Op, request, response, &Ledger::Method);                   \
  }

class PeopleService final : public v1::People::CallbackService {
 public:
  explicit PeopleService(ServiceDeps* deps) : deps_(deps) {}
  PL_COMMAND_RPC(DefineOrgUnit, Operation::kWritePeople)
  PL_COMMAND_RPC(RegisterEmployee, Operation::kWritePeople)
  PL_COMMAND_RPC(UpdateEmployee, Operation::kWritePeople)
  PL_COMMAND_RPC(RecordDeparture, Operation::kWritePeople)
  PL_COMMAND_RPC(EraseSubject, Operation::kWritePeople)
 private:
  ServiceDeps* deps_;
};

class CyclesService final : public v1::Cycles::CallbackService {
 public:
  explicit CyclesService(ServiceDeps* deps) : deps_(deps) {}
  PL_COMMAND_RPC(OpenCycle, Operation::kWriteCycles)
  PL_COMMAND_RPC(CloseCycle, Operation::kWriteCycles)
 private:
  ServiceDeps* deps_;
};

class GoalsService final : public v1::Goals::CallbackService {
 public:
  explicit GoalsService(ServiceDeps* deps) : deps_(deps) {}
  PL_COMMAND_RPC(SetGoal, Operation::kWriteGoals)
  PL_COMMAND_RPC(ReviseGoal, Operation::kWriteGoals)
  PL_COMMAND_RPC(RecordKeyResultProgress, Operation::kWriteGoals)
  PL_COMMAND_RPC(CloseGoal, Operation::kWriteGoals)
 private:
  ServiceDeps* deps_;
};

class CheckInsService final : public v1::CheckIns::CallbackService {
 public:
  explicit CheckInsService(ServiceDeps* deps) : deps_(deps) {}
  PL_COMMAND_RPC(RecordCheckIn, Operation::kWriteCheckIns)
 private:
  ServiceDeps* deps_;
};

// Every command through the callback API but FinalizeGrade (below).
using ReviewsBase = v1::Reviews::WithCallbackMethod_SubmitScore<
    v1::Reviews::WithCallbackMethod_AmendScore<v1::Reviews::WithCallbackMethod_AdjustCalibration<
        v1::Reviews::WithCallbackMethod_RecordFeedback<
            v1::Reviews::WithCallbackMethod_AcknowledgeGrade<
                v1::Reviews::WithCallbackMethod_RaiseDispute<
                    v1::Reviews::WithCallbackMethod_ResolveDispute<v1::Reviews::Service>>>>>>>;

class ReviewsService final : public ReviewsBase {
 public:
  explicit ReviewsService(ServiceDeps* deps) : deps_(deps) {}
  PL_COMMAND_RPC(SubmitScore, Operation::kWriteReviews)
  PL_COMMAND_RPC(AmendScore, Operation::kWriteReviews)
  PL_COMMAND_RPC(AdjustCalibration, Operation::kWriteGrades)
  // With an explicit grade, a plain command. Without one, the policy in force computes it from
  // the folded scores or metrics (the reactor's state), then the same command records it
  // (projections/grading.h). That waits for the reactor to apply the log, so this RPC runs on a
  // sync thread, made for waiting.
  grpc::Status FinalizeGrade(grpc::ServerContext* context, const v1::FinalizeGradeRequest* request,
                             v1::CommandResult* response) override {
    auto principal = deps_->auth->Authenticate(*context);
    if (!principal.ok()) return ToGrpc(principal.status());
    if (absl::Status s = Authorize(*principal, Operation::kWriteGrades); !s.ok()) return ToGrpc(s);
    const CommandContext ctx = CallerContext(*principal, *context);
    Ledger::Result result;
    if (!request->grade().empty() || deps_->reactor == nullptr) {
      result = deps_->ledger->FinalizeGrade(*request, ctx);
    } else {
      const absl::Time deadline = std::min(
          ctx.deadline, absl::Now() + absl::Seconds(limits::kComputedGradeWaitSeconds));
      result = deps_->reactor->FinalizeComputedGrade(*request, ctx, deadline);
    }
    if (!result.ok()) return ToGrpc(result.status());
    *response = *std::move(result);
    return grpc::Status::OK;
  }
  PL_COMMAND_RPC(RecordFeedback, Operation::kWriteReviews)
  // Who may acknowledge, dispute or resolve about whom is the ledger's decision (the employee,
  // the dispute's assignee, hr, admin): the server lets every role that writes reviews through.
  PL_COMMAND_RPC(AcknowledgeGrade, Operation::kWriteReviews)
  PL_COMMAND_RPC(RaiseDispute, Operation::kWriteReviews)
  PL_COMMAND_RPC(ResolveDispute, Operation::kWriteReviews)
 private:
  ServiceDeps* deps_;
};

class PipsService final : public v1::Pips::CallbackService {
 public:
  explicit PipsService(ServiceDeps* deps) : deps_(deps) {}
  PL_COMMAND_RPC(OpenPip, Operation::kWritePips)
  PL_COMMAND_RPC(SetPipGoals, Operation::kWritePips)
  PL_COMMAND_RPC(RecordPipCheckpoint, Operation::kWritePips)
  PL_COMMAND_RPC(ExtendPip, Operation::kWritePips)
  PL_COMMAND_RPC(ClosePip, Operation::kWritePips)
 private:
  ServiceDeps* deps_;
};

class RecognitionService final : public v1::Recognition::CallbackService {
 public:
  explicit RecognitionService(ServiceDeps* deps) : deps_(deps) {}
  PL_COMMAND_RPC(GivePraise, Operation::kWriteRecognition)
  PL_COMMAND_RPC(NominateCase, Operation::kWriteRecognition)
  PL_COMMAND_RPC(RecordCaseConsent, Operation::kWriteRecognition)
  PL_COMMAND_RPC(ReviewCase, Operation::kWriteRecognition)
  PL_COMMAND_RPC(PublishCase, Operation::kWriteRecognition)
  PL_COMMAND_RPC(WithdrawCase, Operation::kWriteRecognition)
 private:
  ServiceDeps* deps_;
};

class TrainingService final : public v1::Training::CallbackService {
 public:
  explicit TrainingService(ServiceDeps* deps) : deps_(deps) {}
  PL_COMMAND_RPC(RecordTraining, Operation::kWriteTraining)
 private:
  ServiceDeps* deps_;
};

// The unary commands through the callback API; StreamMetrics on a sync thread (it reads one
// batch after another, each answered before the next).
using MetricsBase = v1::Metrics::WithCallbackMethod_ObserveMetric<
    v1::Metrics::WithCallbackMethod_ObserveMetrics<v1::Metrics::Service>>;

class MetricsService final : public MetricsBase {
 public:
  explicit MetricsService(ServiceDeps* deps) : deps_(deps) {}
  PL_COMMAND_RPC(ObserveMetric, Operation::kWriteMetrics)
  PL_COMMAND_RPC(ObserveMetrics, Operation::kWriteMetrics)

  // Each batch is its own atomic command. A failed batch ends the stream with that batch's
  // error (earlier batches stay); a client that goes away keeps what was acknowledged.
  grpc::Status StreamMetrics(grpc::ServerContext* context,
                             grpc::ServerReader<v1::ObserveMetricsRequest>* reader,
                             v1::ObserveMetricsSummary* summary) override {
    grpc::Status status = Stream(context, reader, summary);
    // A failed call sends no summary, so the trailer tells the client where to resume (perfctl
    // metric import does, after UNAVAILABLE).
    if (!status.ok()) {
      context->AddTrailingMetadata(kBatchesRecordedTrailer, absl::StrCat(summary->batches()));
    }
    return status;
  }

 private:
  grpc::Status Stream(grpc::ServerContext* context,
                      grpc::ServerReader<v1::ObserveMetricsRequest>* reader,
                      v1::ObserveMetricsSummary* summary) {
    auto principal = deps_->auth->Authenticate(*context);
    if (!principal.ok()) return ToGrpc(principal.status());
    if (absl::Status s = Authorize(*principal, Operation::kWriteMetrics); !s.ok()) return ToGrpc(s);
    absl::flat_hash_map<uint32_t, uint64_t> last;
    v1::ObserveMetricsRequest batch;
    while (reader->Read(&batch)) {
      if (deps_->stopping.load()) {
        return ToGrpc(absl::UnavailableError("server shutting down"));
      }
      if (summary->batches() >= limits::kStreamBatchesMax) {
        return ToGrpc(absl::ResourceExhaustedError(
            "stream: too many batches in one call; open a new stream"));
      }
      const CommandContext ctx = CallerContext(*principal, *context);
      Ledger::Result r = deps_->ledger->ObserveMetrics(batch, ctx);
      if (!r.ok()) {
        absl::Status s = r.status();
        return ToGrpc(absl::Status(s.code(), absl::StrCat("batch ", summary->batches(), ": ",
                                                          s.message())));
      }
      summary->set_batches(summary->batches() + 1);
      if (r->deduplicated()) summary->set_deduplicated_batches(summary->deduplicated_batches() + 1);
      summary->set_events(summary->events() + r->events_size());
      summary->set_duplicate_events(summary->duplicate_events() + r->duplicate_event_ids_size());
      for (const auto& e : r->events()) {
        uint64_t& off = last[e.position().partition()];
        off = std::max<uint64_t>(off, e.position().offset());
      }
    }
    // Read is false at the client's half-close and also for a message that does not parse.
    if (const std::string field = TakeInvalidUtf8Field(); !field.empty()) {
      return ToGrpc(absl::InvalidArgumentError(
          absl::StrCat("batch ", summary->batches(), ": ", field,
                       ": not valid UTF-8 (earlier batches were recorded)")));
    }
    std::vector<std::pair<uint32_t, uint64_t>> sorted(last.begin(), last.end());
    std::sort(sorted.begin(), sorted.end());
    for (const auto& [p, o] : sorted) {
      auto* pos = summary->add_last_positions();
      pos->set_partition(p);
      pos->set_offset(o);
    }
    return grpc::Status::OK;
  }

  ServiceDeps* deps_;
};

#undef PL_COMMAND_RPC

}  // namespace

std::vector<std::unique_ptr<grpc::Service>> MakeCommandServices(ServiceDeps* deps) {
  std::vector<std::unique_ptr<grpc::Service>> out;
  out.push_back(std::make_unique<PeopleService>(deps));
  out.push_back(std::make_unique<CyclesService>(deps));
  out.push_back(std::make_unique<GoalsService>(deps));
  out.push_back(std::make_unique<CheckInsService>(deps));
  out.push_back(std::make_unique<ReviewsService>(deps));
  out.push_back(std::make_unique<PipsService>(deps));
  out.push_back(std::make_unique<RecognitionService>(deps));
  out.push_back(std::make_unique<TrainingService>(deps));
  out.push_back(std::make_unique<MetricsService>(deps));
  return out;
}

}  // namespace perfledger::services
