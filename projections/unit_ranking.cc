#include "projections/unit_ranking.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ledger/policy.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "ledger/validation.h"
#include "perfledger/internal/reactor.pb.h"
#include "projections/keys.h"
#include "projections/reactor_rows.h"
#include "projections/rollup.h"

namespace perfledger::projections {

absl::StatusOr<v1::UnitRankingResponse> QueryUnitRanking(
    const Projector::Reader& reader, PolicyCache& policies, const v1::UnitRankingRequest& q,
    absl::FunctionRef<bool(const std::string&)> visible, uint32_t min_group_size) {
  RETURN_IF_ERROR(CheckId("cycle_id", q.cycle_id(), Presence::kRequired));
  RETURN_IF_ERROR(CheckName("metric", q.metric(), Presence::kRequired));
  RETURN_IF_ERROR(CheckId("parent_org_unit_id", q.parent_org_unit_id(), Presence::kOptional));
  rocksdb::ColumnFamilyHandle* cf = reader.family(kReactorView);
  v1::UnitRankingResponse out;
  policy::MetricRule rule;
  ASSIGN_OR_RETURN(const uint64_t version, PolicyVersionInForce(reader));
  if (version != 0) {
    out.set_policy_version(version);
    ASSIGN_OR_RETURN(auto pol, policies.At(reader, version));
    if (pol) rule = pol->MetricRuleOf(q.metric());
  }
  const v1::Direction direction = rule.direction == v1::DIRECTION_UNSPECIFIED
                                      ? v1::DIRECTION_HIGHER_IS_BETTER
                                      : rule.direction;
  out.set_rollup(std::string(policy::ToString(rule.rollup)));
  out.set_direction(direction);
  out.set_min_group_size(min_group_size);

  struct Row {
    v1::UnitRankingEntry entry;
    bool hidden = false;
  };
  std::vector<Row> rows;
  const std::string prefix = Key({"ruc", q.cycle_id(), q.metric()}) + "/";
  std::unique_ptr<rocksdb::Iterator> it(reader.db()->NewIterator(rocksdb::ReadOptions(), cf));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string unit = it->key().ToString().substr(prefix.size());
    if (!q.parent_org_unit_id().empty()) {
      std::string parent;
      rocksdb::Status s =
          reader.db()->Get(rocksdb::ReadOptions(), cf, Key({"orgp", unit}), &parent);
      if (s.IsNotFound() || parent != q.parent_org_unit_id()) continue;
      RETURN_IF_ERROR(FromRocks(s, "read org unit"));
    }
    if (!visible(unit)) continue;
    internal::UnitRollup r;
    if (!r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrCat("reactor row ", it->key().ToString()));
    }
    const std::optional<int64_t> value =
        RollupValue(r, policy::Aggregate::kMean, rule.rollup);
    if (!value) continue;
    Row row;
    row.entry.set_org_unit_id(unit);
    row.entry.set_people(r.people());
    row.hidden = r.people() < min_group_size;
    if (row.hidden) {
      row.entry.set_suppressed(true);
    } else {
      row.entry.set_value_milli(*value);
      row.entry.set_count(r.count());
      row.entry.set_weight(r.weight());
      row.entry.set_min_milli(r.min());
      row.entry.set_max_milli(r.max());
    }
    rows.push_back(std::move(row));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "read roll-ups"));
  const bool lower_better = direction == v1::DIRECTION_LOWER_IS_BETTER;
  std::sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
    if (a.hidden != b.hidden) return b.hidden;
    if (!a.hidden && a.entry.value_milli() != b.entry.value_milli()) {
      return lower_better ? a.entry.value_milli() < b.entry.value_milli()
                          : a.entry.value_milli() > b.entry.value_milli();
    }
    return a.entry.org_unit_id() < b.entry.org_unit_id();
  });
  uint64_t rank = 0;
  for (Row& row : rows) {
    if (!row.hidden) row.entry.set_rank(++rank);
    *out.add_entries() = std::move(row.entry);
  }
  return out;
}

}  // namespace perfledger::projections
