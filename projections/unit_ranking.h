// Views.GetUnitRanking over the reactor's state: org units ranked by their cycle roll-up of a
// metric (the "ruc/" rows, rollup.h), weighed and directed as the policy in force says.
// Internal to projections/; the services reach it through Reactor (reactor.h).
#pragma once

#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "perfledger/v1/views.pb.h"
#include "projections/policy_state.h"
#include "projections/projector.h"

namespace perfledger::projections {

// Org units ranked by their cycle roll-up of a metric, better first (ties by unit id): the
// direct sub-units of q.parent_org_unit_id, or every unit observed. Units `visible` rejects are
// left out; units with fewer than `min_group_size` people observed (0: none hidden) are listed
// last with their figures cleared. INVALID_ARGUMENT naming the field for a bad request.
absl::StatusOr<v1::UnitRankingResponse> QueryUnitRanking(
    const Projector::Reader& reader, PolicyCache& policies, const v1::UnitRankingRequest& q,
    absl::FunctionRef<bool(const std::string&)> visible, uint32_t min_group_size);

}  // namespace perfledger::projections
