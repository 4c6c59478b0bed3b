#include "projections/rollup.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "ledger/policy_eval.h"
#include "ledger/status_macros.h"
#include "ledger/types.h"
#include "projections/keys.h"

namespace perfledger::projections {
namespace {

__int128 Sum(const internal::UnitRollup& r) { return JoinInt128(r.sum_high(), r.sum_low()); }
__int128 WeightedSum(const internal::UnitRollup& r) { return JoinInt128(r.wsum_high(), r.wsum_low()); }

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

void AddToRollup(internal::UnitRollup& r, const RolledObservation& o) {
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

std::optional<int64_t> RollupValue(const internal::UnitRollup& r, policy::Aggregate aggregate,
                                   policy::Rollup rollup) {
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

// ---------------------------------------------------------------- RollupWindow

absl::StatusOr<RollupWindow> RollupWindow::Load(ViewTxn& txn, std::string_view rule_id,
                                                std::string_view unit, uint32_t window_days) {
  RollupWindow w(Key({"rw", rule_id, unit}), Key({"rwd", rule_id, unit}) + "/", window_days);
  ASSIGN_OR_RETURN(auto row, txn.Get(w.header_key_));
  if (row && !w.header_.ParseFromString(*row)) {
    return absl::DataLossError(absl::StrCat("reactor row ", w.header_key_));
  }
  return w;
}

std::string RollupWindow::DayKey(int64_t day) const {
  std::string key = day_prefix_;
  PutOrderedInt64(key, day);
  return key;
}

absl::Status RollupWindow::Add(ViewTxn& txn, const RolledObservation& o) {
  const int64_t day = DayOf(o.at);
  const int64_t span = static_cast<int64_t>(window_days_);
  const bool empty = header_.total().count() == 0;
  if (!empty && day <= header_.newest_day() - span) return absl::OkStatus();  // already out
  if (empty || day > header_.newest_day()) {
    const int64_t old_newest = header_.newest_day();
    header_.set_newest_day(day);
    if (!empty) {
      // The old window's days up to day - span leave it (at most `span` rows), and the total
      // is summed again from the days that stay.
      for (int64_t d = old_newest - span + 1; d <= std::min(old_newest, day - span); d++) {
        txn.Delete(DayKey(d));
      }
      RETURN_IF_ERROR(Recount(txn));
    }
  }
  const std::string key = DayKey(day);
  ASSIGN_OR_RETURN(auto row, txn.Get(key));
  internal::UnitRollup bucket;
  if (row && !bucket.ParseFromString(*row)) {
    return absl::DataLossError(absl::StrCat("reactor row ", key));
  }
  AddToRollup(bucket, o);
  txn.PutReadBack(key, bucket.SerializeAsString());
  AddToRollup(*header_.mutable_total(), o);
  txn.PutReadBack(header_key_, header_.SerializeAsString());
  return absl::OkStatus();
}

absl::Status RollupWindow::Recount(ViewTxn& txn) {
  internal::UnitRollup total;
  const int64_t span = static_cast<int64_t>(window_days_);
  for (int64_t d = header_.newest_day() - span + 1; d <= header_.newest_day(); d++) {
    const std::string key = DayKey(d);
    ASSIGN_OR_RETURN(auto row, txn.Get(key));
    if (!row) continue;
    internal::UnitRollup bucket;
    if (!bucket.ParseFromString(*row)) {
      return absl::DataLossError(absl::StrCat("reactor row ", key));
    }
    Merge(total, bucket);
  }
  *header_.mutable_total() = std::move(total);
  return absl::OkStatus();
}

void RollupWindow::SetBreached(ViewTxn& txn, bool breached) {
  header_.set_breached(breached);
  txn.PutReadBack(header_key_, header_.SerializeAsString());
}

}  // namespace perfledger::projections
