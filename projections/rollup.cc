#include "projections/rollup.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "ledger/policy_eval.h"
#include "ledger/status_macros.h"
#include "ledger/types.h"
#include "projections/keys.h"

namespace perfledger::projections {
namespace {

// The exact sums of a row (rollup.h): Σ value and Σ value × weight.
__int128 Sum(const internal::UnitRollup& r) { return JoinInt128(r.sum_high(), r.sum_low()); }
__int128 Sum(const internal::MetricAggregate& a) { return a.sum(); }
__int128 WeightedSum(const internal::UnitRollup& r) {
  return JoinInt128(r.wsum_high(), r.wsum_low());
}
__int128 WeightedSum(const internal::MetricAggregate& a) {
  return JoinInt128(a.wsum_high(), a.wsum_low());
}

void SetSums(internal::UnitRollup& r, __int128 sum, __int128 wsum) {
  int64_t high;
  uint64_t low;
  SplitInt128(sum, &high, &low);
  r.set_sum_high(high);
  r.set_sum_low(low);
  SplitInt128(wsum, &high, &low);
  r.set_wsum_high(high);
  r.set_wsum_low(low);
}

void SetSums(internal::MetricAggregate& a, __int128 sum, __int128 wsum) {
  a.set_sum(static_cast<int64_t>(sum));
  int64_t high;
  uint64_t low;
  SplitInt128(wsum, &high, &low);
  a.set_wsum_high(high);
  a.set_wsum_low(low);
}

// The one way an observation is added, to a UnitRollup or a MetricAggregate.
template <typename Row>
void Add(Row& r, const RolledObservation& o) {
  const bool first = r.count() == 0;
  r.set_min(first ? o.value_milli : std::min(r.min(), o.value_milli));
  r.set_max(first ? o.value_milli : std::max(r.max(), o.value_milli));
  r.set_count(r.count() + 1);
  SetSums(r, Sum(r) + o.value_milli,
          WeightedSum(r) + static_cast<__int128>(o.value_milli) * o.weight);
  r.set_weight(r.weight() + o.weight);
  // "last" is by business time; ties keep log order.
  if (first || ToTime(o.at) >= ToTime(r.last_at())) {
    r.set_last(o.value_milli);
    *r.mutable_last_at() = o.at;
    r.set_last_event_id(o.event_id);
  }
}

// The one way a row is reduced.
template <typename Row>
std::optional<int64_t> Value(const Row& r, policy::Aggregate aggregate, policy::Rollup rollup) {
  if (r.count() == 0) return std::nullopt;
  switch (aggregate) {
    case policy::Aggregate::kMean:
      if (rollup == policy::Rollup::kRatio && r.weight() > 0) {
        return policy::DivRound(WeightedSum(r), r.weight());
      }
      return policy::DivRound(Sum(r), static_cast<__int128>(r.count()));
    case policy::Aggregate::kLast: return r.last();
    case policy::Aggregate::kMax: return r.max();
    case policy::Aggregate::kMin: return r.min();
  }
  return r.last();
}

// Days since 1970-01-01 (UTC), rounded down.
int64_t DayOf(const google::protobuf::Timestamp& at) {
  constexpr int64_t kDay = 86400;
  const int64_t s = at.seconds();
  return s >= 0 ? s / kDay : -((-s + kDay - 1) / kDay);
}

// Folds bucket `b` into `total`.
void Merge(internal::UnitRollup& total, const internal::UnitRollup& b) {
  if (b.count() == 0) return;
  if (total.count() == 0) {
    total = b;
    return;
  }
  SetSums(total, Sum(total) + Sum(b), WeightedSum(total) + WeightedSum(b));
  total.set_weight(total.weight() + b.weight());
  total.set_min(std::min(total.min(), b.min()));
  total.set_max(std::max(total.max(), b.max()));
  if (ToTime(b.last_at()) >= ToTime(total.last_at())) {
    total.set_last(b.last());
    *total.mutable_last_at() = b.last_at();
    total.set_last_event_id(b.last_event_id());
  }
  total.set_count(total.count() + b.count());
}

}  // namespace

__int128 JoinInt128(int64_t high, uint64_t low) {
  return static_cast<__int128>((static_cast<unsigned __int128>(static_cast<uint64_t>(high)) << 64) |
                               low);
}

void SplitInt128(__int128 v, int64_t* high, uint64_t* low) {
  const auto bits = static_cast<unsigned __int128>(v);
  *high = static_cast<int64_t>(static_cast<uint64_t>(bits >> 64));
  *low = static_cast<uint64_t>(bits);
}

void AddToRollup(internal::UnitRollup& r, const RolledObservation& o) { Add(r, o); }
void AddToRollup(internal::MetricAggregate& r, const RolledObservation& o) { Add(r, o); }

std::optional<int64_t> RollupValue(const internal::UnitRollup& r, policy::Aggregate aggregate,
                                   policy::Rollup rollup) {
  return Value(r, aggregate, rollup);
}
std::optional<int64_t> RollupValue(const internal::MetricAggregate& r,
                                   policy::Aggregate aggregate, policy::Rollup rollup) {
  return Value(r, aggregate, rollup);
}

// ---------------------------------------------------------------- RollupRows

absl::StatusOr<internal::UnitRollup*> RollupRows::Rollup(ViewTxn& txn, const std::string& key,
                                                         IfAbsent absent) {
  auto it = rollups_.find(key);
  if (it == rollups_.end()) {
    ASSIGN_OR_RETURN(auto row, txn.Get(key));
    std::optional<internal::UnitRollup> parsed;
    if (row) {
      parsed.emplace();
      if (!parsed->ParseFromString(*row)) {
        return absl::DataLossError(absl::StrCat("reactor row ", key));
      }
    }
    it = rollups_.emplace(key, std::move(parsed)).first;
  }
  if (!it->second && absent == IfAbsent::kCreate) it->second.emplace();
  return it->second ? &*it->second : nullptr;
}

absl::StatusOr<internal::RollupWindow*> RollupRows::Window(ViewTxn& txn, const std::string& key) {
  auto it = windows_.find(key);
  if (it == windows_.end()) {
    ASSIGN_OR_RETURN(auto row, txn.Get(key));
    internal::RollupWindow header;
    if (row && !header.ParseFromString(*row)) {
      return absl::DataLossError(absl::StrCat("reactor row ", key));
    }
    it = windows_.emplace(key, std::move(header)).first;
  }
  return &it->second;
}

void RollupRows::Delete(ViewTxn& txn, const std::string& key) {
  rollups_[key].reset();
  txn.Delete(key);
}

void RollupRows::Flush(ViewTxn& txn) {
  for (const auto& [key, row] : rollups_) {
    if (row) txn.PutReadBack(key, row->SerializeAsString());
  }
  for (const auto& [key, header] : windows_) {
    if (header.total().count() > 0) txn.PutReadBack(key, header.SerializeAsString());
  }
  rollups_.clear();
  windows_.clear();
}

// ---------------------------------------------------------------- RollupWindow

RollupWindow::RollupWindow(std::string_view rule_id, std::string_view unit,
                           uint32_t window_days)
    : header_key_(Key({"rw", rule_id, unit})),
      day_prefix_(Key({"rwd", rule_id, unit}) + "/"),
      window_days_(window_days) {}

std::string RollupWindow::DayKey(int64_t day) const {
  std::string key = day_prefix_;
  PutOrderedInt64(key, day);
  return key;
}

absl::Status RollupWindow::Add(ViewTxn& txn, RollupRows& rows, const RolledObservation& o) {
  ASSIGN_OR_RETURN(internal::RollupWindow* header, rows.Window(txn, header_key_));
  const int64_t day = DayOf(o.at);
  const int64_t span = static_cast<int64_t>(window_days_);
  const bool empty = header->total().count() == 0;
  if (!empty && day <= header->newest_day() - span) return absl::OkStatus();  // already out
  if (empty || day > header->newest_day()) {
    const int64_t old_newest = header->newest_day();
    header->set_newest_day(day);
    if (!empty) {
      // The old window's days up to day - span leave it (at most `span` rows), and the total
      // is summed again from the days that stay.
      for (int64_t d = old_newest - span + 1; d <= std::min(old_newest, day - span); d++) {
        rows.Delete(txn, DayKey(d));
      }
      internal::UnitRollup total;
      for (int64_t d = day - span + 1; d <= old_newest; d++) {
        ASSIGN_OR_RETURN(internal::UnitRollup* bucket,
                         rows.Rollup(txn, DayKey(d), RollupRows::IfAbsent::kNone));
        if (bucket != nullptr) Merge(total, *bucket);
      }
      *header->mutable_total() = std::move(total);
    }
  }
  ASSIGN_OR_RETURN(internal::UnitRollup* bucket,
                   rows.Rollup(txn, DayKey(day), RollupRows::IfAbsent::kCreate));
  AddToRollup(*bucket, o);
  AddToRollup(*header->mutable_total(), o);
  return absl::OkStatus();
}

}  // namespace perfledger::projections
