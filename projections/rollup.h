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

// Adds `o` to `r`.
void AddToRollup(internal::UnitRollup& r, const RolledObservation& o);

// `r` reduced as `aggregate` says, weighing as `rollup` says; nullopt when empty.
std::optional<int64_t> RollupValue(const internal::UnitRollup& r, policy::Aggregate aggregate,
                                   policy::Rollup rollup);

// An alert rule's rolling window of whole days over one unit's roll-up.
class RollupWindow {
 public:
  // The window of `rule_id` for `unit` as of `txn` (empty when it has none yet).
  static absl::StatusOr<RollupWindow> Load(ViewTxn& txn, std::string_view rule_id,
                                           std::string_view unit, uint32_t window_days);

  // Adds an observation: into its day's bucket when that day is in the window (an older one is
  // dropped), evicting the days that leave the window when it is the latest day yet. Writes the
  // rows through `txn`, the header included.
  absl::Status Add(ViewTxn& txn, const RolledObservation& o);

  const internal::UnitRollup& total() const { return header_.total(); }
  bool breached() const { return header_.breached(); }
  void SetBreached(ViewTxn& txn, bool breached);

 private:
  RollupWindow(std::string header_key, std::string day_prefix, uint32_t window_days)
      : header_key_(std::move(header_key)),
        day_prefix_(std::move(day_prefix)),
        window_days_(window_days) {}
  std::string DayKey(int64_t day) const;
  // Recomputes the total from the buckets in the window (after days left it).
  absl::Status Recount(ViewTxn& txn);

  std::string header_key_;
  std::string day_prefix_;
  uint32_t window_days_;
  internal::RollupWindow header_;
};

}  // namespace perfledger::projections
