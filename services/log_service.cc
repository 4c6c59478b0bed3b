// The raw log over gRPC: bounded reads, an endless follow, and the server's status.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/hash_chain.h"
#include "ledger/limits.h"
#include "perfledger/v1/ledger.grpc.pb.h"
#include "services/server.h"
#include "services/status_map.h"

namespace perfledger::services {
namespace {


class LogService final : public v1::Log::Service {
 public:
  explicit LogService(ServiceDeps* deps) : deps_(deps) {}

  grpc::Status ReadEvents(grpc::ServerContext* context, const v1::ReadEventsRequest* request,
                          grpc::ServerWriter<v1::RecordedEvent>* writer) override {
    auto viewer = ViewerFor(context, Operation::kReadLog);
    if (!viewer.ok()) return ToGrpc(viewer.status());
    EventLog& log = *deps_->log;
    if (!request->all_partitions() && request->partition() >= log.partitions()) {
      return ToGrpc(absl::InvalidArgumentError(
          absl::StrFormat("partition: %d is not a partition (0..%d)", request->partition(),
                          log.partitions() - 1)));
    }
    if (request->limit() > limits::kReadLimitMax) {
      return ToGrpc(
          absl::InvalidArgumentError(absl::StrFormat("limit: at most %d", limits::kReadLimitMax)));
    }
    const uint32_t limit = request->limit() == 0 ? limits::kReadLimitDefault : request->limit();
    uint32_t first = request->all_partitions() ? 0 : request->partition();
    uint32_t last = request->all_partitions() ? log.partitions() - 1 : request->partition();
    uint32_t sent = 0;
    uint64_t scanned = 0;
    v1::RecordedEvent out;
    for (uint32_t p = first; p <= last && sent < limit; p++) {
      uint64_t from = request->from_offset();
      while (sent < limit && scanned < limits::kReadScanEventsMax) {
        if (context->IsCancelled()) return grpc::Status::CANCELLED;
        auto batch = log.Read(PartitionId(p), Offset(from),
                              request->stream().empty() ? limit - sent : limits::kReadLimitMax);
        if (!batch.ok()) return ToGrpc(batch.status());
        if (batch->empty()) break;
        for (const StoredEvent& e : *batch) {
          scanned++;
          if (!request->stream().empty() && e.stream() != request->stream()) continue;
          if (absl::Status s = DecodeRecorded(e, &out); !s.ok()) return ToGrpc(s);
          if (!RedactRecorded(**viewer, out)) continue;
          if (!writer->Write(out)) return grpc::Status::CANCELLED;
          if (++sent >= limit) break;
        }
        from = batch->back().position().offset() + 1;
      }
      if (scanned >= limits::kReadScanEventsMax && sent < limit) {
        // Say so rather than answer OK: a partial page would look complete.
        return ToGrpc(absl::ResourceExhaustedError(
            absl::StrFormat("stream: scanned %d events of partition %d without filling the page; "
                            "narrow it with partition and from_offset",
                            scanned, p)));
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status FollowEvents(grpc::ServerContext* context, const v1::FollowEventsRequest* request,
                            grpc::ServerWriter<v1::RecordedEvent>* writer) override {
    auto viewer = ViewerFor(context, Operation::kReadLog);
    if (!viewer.ok()) return ToGrpc(viewer.status());
    EventLog& log = *deps_->log;
    LogEnds cursor = request->from_latest() ? log.Ends() : LogEnds(log.partitions());
    for (const v1::Position& from : request->from()) {
      const LogPosition pos = PositionOf(from);
      if (!cursor.contains(pos.partition)) {
        return ToGrpc(absl::InvalidArgumentError(
            absl::StrFormat("from.partition: %d is not a partition", pos.partition)));
      }
      cursor[pos.partition] = pos.offset;
    }
    const std::vector<std::string> types(request->types().begin(), request->types().end());
    v1::RecordedEvent out;
    while (!context->IsCancelled() && !deps_->stopping.load()) {
      // Ends before the pass: an append during the pass then wakes the wait at once.
      const LogEnds before = log.Ends();
      bool any = false;
      for (PartitionId p : cursor.partitions()) {
        auto batch = log.Read(p, cursor[p], limits::kFollowBatchEvents);
        if (!batch.ok()) return ToGrpc(batch.status());
        for (const StoredEvent& e : *batch) {
          cursor[p] = Offset(e.position().offset()) + 1;
          if (!types.empty() && std::find(types.begin(), types.end(), e.type()) == types.end()) {
            continue;
          }
          if (absl::Status s = DecodeRecorded(e, &out); !s.ok()) return ToGrpc(s);
          if (!RedactRecorded(**viewer, out)) continue;
          if (!writer->Write(out)) return grpc::Status::CANCELLED;
        }
        any = any || !batch->empty();
      }
      if (!any) {
        // Short waits keep shutdown and cancellation prompt without a busy loop.
        log.WaitForAppend(before, absl::Now() + absl::Milliseconds(500));
      }
    }
    if (deps_->stopping.load()) {
      return ToGrpc(absl::UnavailableError("server shutting down"));
    }
    return grpc::Status::CANCELLED;
  }

  grpc::Status Status(grpc::ServerContext* context, const v1::StatusRequest*,
                      v1::StatusResponse* response) override {
    auto principal = deps_->auth->Authenticate(*context);
    if (!principal.ok()) return ToGrpc(principal.status());
    if (absl::Status s = Authorize(*principal, Operation::kReadStatus); !s.ok()) return ToGrpc(s);
    EventLog& log = *deps_->log;
    response->set_version(PERFLEDGER_VERSION);
    response->set_log_backend(std::string(log.backend()));
    response->set_data_dir(deps_->config->data_dir);
    const LogSummary summary = log.Summary();
    uint64_t total = 0;
    for (uint32_t p = 0; p < summary.partitions.size(); p++) {
      const LogSummary::Partition& part = summary.partitions[p];
      auto* ps = response->add_partitions();
      ps->set_partition(p);
      ps->set_end_offset(part.end.value());
      ps->set_events(part.events);
      ps->set_last_hash(ToHex(part.tip));
      total += part.events;
    }
    response->set_total_events(total);
    response->set_appends(summary.appends);
    response->set_group_commits(summary.group_commits);
    *response->mutable_started_at() = ToTimestamp(deps_->started_at);
    const LedgerStats stats = deps_->ledger->stats();
    response->set_commands_accepted(stats.accepted);
    response->set_commands_rejected(stats.rejected);
    // The views share one projector (they advance together); the policy reactor has its own.
    if (deps_->projector != nullptr) {
      auto* v = response->add_views();
      v->set_view("views");
      v->set_lag_events(deps_->projector->Lag());
    }
    if (deps_->reactor != nullptr) {
      auto* v = response->add_views();
      v->set_view("reactor");
      v->set_lag_events(deps_->reactor->projector().Lag());
    }
    *response->mutable_caller() = ToActor(*principal);
    return grpc::Status::OK;
  }

 private:
  // The caller's view of the log: every event goes through the visibility decision (a limited
  // hr token reads its subtrees only).
  absl::StatusOr<std::unique_ptr<Viewer>> ViewerFor(grpc::ServerContext* context, Operation op) {
    auto principal = deps_->auth->Authenticate(*context);
    if (!principal.ok()) return principal.status();
    if (absl::Status s = Authorize(*principal, op); !s.ok()) return s;
    return std::make_unique<Viewer>(*deps_->access, *principal);
  }

  ServiceDeps* deps_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeLogService(ServiceDeps* deps) {
  return std::make_unique<LogService>(deps);
}

}  // namespace perfledger::services
