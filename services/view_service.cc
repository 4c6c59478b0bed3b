// Queries over the views. Thin: authenticate, wait for min_position, run the query.
#include "absl/strings/str_cat.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "projections/hook_queries.h"
#include "projections/queries.h"
#include "services/server.h"
#include "services/status_map.h"

namespace perfledger::services {
namespace {

// Read-your-writes waits at most this long, and never past the call's own deadline.
constexpr absl::Duration kConsistencyWaitMax = absl::Seconds(10);

class ViewsService final : public v1::Views::Service {
 public:
  explicit ViewsService(ServiceDeps* deps) : deps_(deps) {}

  grpc::Status GetRanking(grpc::ServerContext* c, const v1::RankingRequest* q,
                          v1::RankingResponse* out) override {
    return Query(c, q->consistency(), out, [&](const projections::Projector::Reader& r) {
      return projections::QueryRanking(r, *q);
    });
  }
  grpc::Status GetDistribution(grpc::ServerContext* c, const v1::DistributionRequest* q,
                               v1::DistributionResponse* out) override {
    return Query(c, q->consistency(), out, [&](const projections::Projector::Reader& r) {
      return projections::QueryDistribution(r, *q);
    });
  }
  grpc::Status GetTimeline(grpc::ServerContext* c, const v1::TimelineRequest* q,
                           v1::TimelineResponse* out) override {
    return Query(c, q->consistency(), out, [&](const projections::Projector::Reader& r) {
      return projections::QueryTimeline(r, *q);
    });
  }
  grpc::Status GetCheckIns(grpc::ServerContext* c, const v1::CheckInsRequest* q,
                           v1::CheckInsResponse* out) override {
    return Query(c, q->consistency(), out, [&](const projections::Projector::Reader& r) {
      return projections::QueryCheckIns(r, *q, absl::Now());
    });
  }
  grpc::Status GetGoalTree(grpc::ServerContext* c, const v1::GoalTreeRequest* q,
                           v1::GoalTreeResponse* out) override {
    return Query(c, q->consistency(), out, [&](const projections::Projector::Reader& r) {
      return projections::QueryGoalTree(r, *q);
    });
  }

  grpc::Status GetProjectionStatus(grpc::ServerContext* c, const v1::ProjectionStatusRequest* q,
                                   v1::ProjectionStatusResponse* out) override {
    if (grpc::Status s = Check(c, Operation::kReadStatus); !s.ok()) return s;
    projections::Projector& p = *deps_->projector;
    const LogEnds applied = p.Applied();
    for (uint32_t i = 0; i < applied.size(); i++) {
      auto* pos = out->add_applied();
      pos->set_partition(i);
      pos->set_offset(applied[i]);
    }
    out->set_lag_events(p.Lag());
    out->set_events_applied(p.events_applied());
    if (q->digests()) {
      auto digests = p.Digests();
      if (!digests.ok()) return ToGrpc(digests.status());
      for (const auto& d : *digests) {
        auto* v = out->add_views();
        v->set_view(d.view);
        v->set_digest(d.digest_hex);
        v->set_rows(d.rows);
      }
    }
    return ToGrpc(p.health());
  }

  grpc::Status Rebuild(grpc::ServerContext* c, const v1::RebuildRequest*,
                       v1::RebuildResponse* out) override {
    if (grpc::Status s = Check(c, Operation::kAdmin); !s.ok()) return s;
    const absl::Time start = absl::Now();
    projections::Projector& p = *deps_->projector;
    if (absl::Status s = p.Rebuild(absl::FromChrono(c->deadline())); !s.ok()) return ToGrpc(s);
    out->set_events_applied(p.events_applied());
    out->set_seconds(absl::ToDoubleSeconds(absl::Now() - start));
    auto digests = p.Digests();
    if (!digests.ok()) return ToGrpc(digests.status());
    for (const auto& d : *digests) {
      auto* v = out->add_views();
      v->set_view(d.view);
      v->set_digest(d.digest_hex);
      v->set_rows(d.rows);
    }
    return grpc::Status::OK;
  }

  grpc::Status ListPayrollItems(grpc::ServerContext* c, const v1::ListPayrollItemsRequest* q,
                                v1::ListPayrollItemsResponse* out) override {
    return Query(c, q->consistency(), out, [&](const projections::Projector::Reader& r) {
      return projections::QueryPayrollItems(r, *q);
    });
  }
  grpc::Status ListTraining(grpc::ServerContext* c, const v1::ListTrainingRequest* q,
                            v1::ListTrainingResponse* out) override {
    return Query(c, q->consistency(), out, [&](const projections::Projector::Reader& r) {
      return projections::QueryTraining(r, *q);
    });
  }
  grpc::Status GetTrainingSummary(grpc::ServerContext* c, const v1::TrainingSummaryRequest* q,
                                  v1::TrainingSummaryResponse* out) override {
    return Query(c, q->consistency(), out, [&](const projections::Projector::Reader& r) {
      return projections::QueryTrainingSummary(r, *q);
    });
  }
  grpc::Status ListPips(grpc::ServerContext* c, const v1::ListPipsRequest* q,
                        v1::ListPipsResponse* out) override {
    return Query(c, q->consistency(), out, [&](const projections::Projector::Reader& r) {
      return projections::QueryPips(r, *q);
    });
  }

 private:
  grpc::Status Check(grpc::ServerContext* c, Operation op) {
    auto principal = deps_->auth->Authenticate(*c);
    if (!principal.ok()) return ToGrpc(principal.status());
    return ToGrpc(Authorize(*principal, op));
  }

  template <typename Response, typename Fn>
  grpc::Status Query(grpc::ServerContext* c, const v1::Consistency& consistency, Response* out,
                     Fn&& fn) {
    if (grpc::Status s = Check(c, Operation::kReadViews); !s.ok()) return s;
    projections::Projector& p = *deps_->projector;
    if (!consistency.min_position().empty()) {
      const absl::Time deadline =
          std::min(absl::FromChrono(c->deadline()), absl::Now() + kConsistencyWaitMax);
      std::vector<v1::Position> positions(consistency.min_position().begin(),
                                          consistency.min_position().end());
      if (absl::Status s = p.WaitFor(positions, deadline); !s.ok()) return ToGrpc(s);
    }
    auto reader = p.Read();
    auto result = fn(reader);
    if (!result.ok()) return ToGrpc(result.status());
    *out = std::move(*result);
    return grpc::Status::OK;
  }

  ServiceDeps* deps_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeViewsService(ServiceDeps* deps) {
  return std::make_unique<ViewsService>(deps);
}

}  // namespace perfledger::services
