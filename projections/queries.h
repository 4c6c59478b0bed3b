// Queries over the views: the read side's domain logic (paging, percentiles, roll-ups).
// Each takes a Projector::Reader, so a concurrent rebuild cannot drop a view mid-query.
// Errors: INVALID_ARGUMENT naming the field for bad requests, otherwise storage errors.
#pragma once

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "perfledger/v1/views.pb.h"
#include "projections/projector.h"

namespace perfledger::projections {

absl::StatusOr<v1::RankingResponse> QueryRanking(const Projector::Reader& r,
                                                 const v1::RankingRequest& q);
absl::StatusOr<v1::DistributionResponse> QueryDistribution(const Projector::Reader& r,
                                                           const v1::DistributionRequest& q);
absl::StatusOr<v1::TimelineResponse> QueryTimeline(const Projector::Reader& r,
                                                   const v1::TimelineRequest& q);
// `now` turns the latest check-in time into days since (query time, not projection time).
absl::StatusOr<v1::CheckInsResponse> QueryCheckIns(const Projector::Reader& r,
                                                   const v1::CheckInsRequest& q, absl::Time now);
absl::StatusOr<v1::GoalTreeResponse> QueryGoalTree(const Projector::Reader& r,
                                                   const v1::GoalTreeRequest& q);

}  // namespace perfledger::projections
