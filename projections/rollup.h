// Roll-ups of metric observations to org units (docs/POLICY.md, "metrics").
//
// An observation counts for the unit its subject belonged to when it was observed (the
// employee's unit, or the unit itself) and every ancestor of that unit, so a move between
// units splits a person's contribution by observation. A roll-up keeps exact integer sums
// (128-bit), so the unit's mean is the same whatever order the observations arrive in:
//   ratio:  Σ(value × denominator) / Σ denominator   (an observation without one weighs 1)
//   mean:   Σ value / count
// rounded half away from zero, as every policy mean is.
//
// Rolling alert windows over a unit are whole UTC days: the N days ending with the day of the
// unit's latest observation. One row per day keeps an observation O(1) however many people a
// unit has; a per-sample window (alert_window.h) would write a row per observation of every
// member into every ancestor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "google/protobuf/timestamp.pb.h"
#include "ledger/policy.h"
#include "perfledger/internal/reactor.pb.h"
#include "projections/view.h"

namespace perfledger::projections {

// A 128-bit integer stored as two proto fields.
__int128 JoinInt128(int64_t high, uint64_t low);
void SplitInt128(__int128 v, int64_t* high, uint64_t* low);

// One observation as a roll-up sees it.
struct RolledObservation {
  int64_t value_milli = 0;
  int64_t weight = 1;  // the denominator, 1 when absent
  google::protobuf::Timestamp at;
  std::string event_id;
};

// Adds `o` to `r`: a unit's roll-up, or an employee's cycle aggregate (whose `through` position
// is the caller's to keep). Both add up the same way; only the plain sum's width differs (a
// unit's is 128-bit, one person's in one cycle 64-bit).
void AddToRollup(internal::UnitRollup& r, const RolledObservation& o);
void AddToRollup(internal::MetricAggregate& r, const RolledObservation& o);

// `r` reduced as `aggregate` says, weighing as `rollup` says; nullopt when empty.
std::optional<int64_t> RollupValue(const internal::UnitRollup& r, policy::Aggregate aggregate,
                                   policy::Rollup rollup);
std::optional<int64_t> RollupValue(const internal::MetricAggregate& r,
                                   policy::Aggregate aggregate, policy::Rollup rollup);

// The roll-up rows of one batch, parsed once and written once at the batch's end (Flush): a
// unit's rows change with every observation of any of its members, and parsing and
// serializing them per observation would cost more than the arithmetic.
class RollupRows {
 public:
  enum class IfAbsent { kCreate, kNone };
  // The UnitRollup at `key`: a new empty one (kCreate) or null (kNone) when there is none.
  absl::StatusOr<internal::UnitRollup*> Rollup(ViewTxn& txn, const std::string& key,
                                               IfAbsent absent);
  // The RollupWindow header at `key` (empty when there is none).
  absl::StatusOr<internal::RollupWindow*> Window(ViewTxn& txn, const std::string& key);
  void Delete(ViewTxn& txn, const std::string& key);
  // Writes every row of the batch through `txn` and forgets them.
  void Flush(ViewTxn& txn);

 private:
  absl::flat_hash_map<std::string, std::optional<internal::UnitRollup>> rollups_;
  absl::flat_hash_map<std::string, internal::RollupWindow> windows_;
};

// An alert rule's rolling window of whole days over one unit's roll-up.
class RollupWindow {
 public:
  RollupWindow(std::string_view rule_id, std::string_view unit, uint32_t window_days);

  // Adds an observation: into its day's bucket when that day is in the window (an older one is
  // dropped), evicting the days that leave the window when it is the latest day yet.
  absl::Status Add(ViewTxn& txn, RollupRows& rows, const RolledObservation& o);

  // The window's total and breach state (after Add).
  absl::StatusOr<internal::RollupWindow*> Header(ViewTxn& txn, RollupRows& rows) {
    return rows.Window(txn, header_key_);
  }

 private:
  std::string DayKey(int64_t day) const;

  std::string header_key_;
  std::string day_prefix_;
  uint32_t window_days_;
};

}  // namespace perfledger::projections
