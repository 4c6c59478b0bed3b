// The rows of the policy reactor's state: the one column family "view.reactor", written by the
// fold (reactor_state.h) and read by its queries (policy_state.h, unit_ranking.h, grading.h,
// deadlines.h). Internal to projections/.
//
// Key layout (all folded from the log):
//   pol/current                      BE64 version of the policy in force
//   pol/v/<BE64 version>             StoredPolicy
//   cyc/<cycle>                      Timestamp period_start
//   org/<org unit>                   manager id
//   orgp/<org unit>                  parent unit id (empty at the top)
//   emp/<employee>                   PersonRecord
//   g/<employee>/<cycle>             GradeRecord (effective grade)
//   act/<grade event id>             ActionIds decided for that grade (for cancellation)
//   sc/<cycle>/<employee>/<score>    ScoreRecord
//   cal/<cycle>/<employee>           ScoreRecord (calibration)
//   agg/<cycle>/<employee>/<metric>  MetricAggregate
//   win/<rule>/<subject>             WindowState (an employee rule's rolling window)
//   acb/<rule>/<subject>/<cycle>     "1" while a cycle-window rule is in breach
//   ruc/<cycle>/<metric>/<unit>      UnitRollup of the unit and its sub-units (rollup.h)
//   rw/<rule>/<unit>                 RollupWindow (a unit rule's rolling window of days)
//   rwd/<rule>/<unit>/<ordered day>  UnitRollup of one day
//   dl/<BE64 micros>/<subject>       Deadline; dls/<subject> → the dl/ key
//   fu/<action id>                   FollowupRecord
//   pip/<pip id>                     PipRecord
//   dsp/<employee>/<cycle>           id of the open dispute about the cycle's grade
//   hold/<employee>/<cycle>          HeldActions of the grade in force (disputes.hold_actions)
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "ledger/status_macros.h"
#include "projections/projector.h"
#include "projections/view.h"

namespace perfledger::projections {

// The reactor's view; its family is ViewFamily(kReactorView).
inline constexpr char kReactorView[] = "reactor";

// Families the state store must open for a reactor (live or dry run).
inline std::vector<std::string> ReactorFamilies() {
  return {Projector::kMetaFamily, ViewFamily(kReactorView)};
}

// The row at `key` parsed as a T, nullopt when absent; DATA_LOSS when it does not parse.
template <typename T>
absl::StatusOr<std::optional<T>> Load(ViewTxn& txn, const std::string& key) {
  ASSIGN_OR_RETURN(auto value, txn.Get(key));
  if (!value) return std::optional<T>();
  T out;
  if (!out.ParseFromString(*value)) return absl::DataLossError(absl::StrCat("reactor row ", key));
  return std::optional<T>(std::move(out));
}

}  // namespace perfledger::projections
