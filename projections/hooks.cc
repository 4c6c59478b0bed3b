#include "projections/hooks.h"

#include <algorithm>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "ledger/limits.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "ledger/validation.h"
#include "perfledger/internal/hooks.pb.h"
#include "projections/keys.h"
#include "projections/views/views.h"

namespace perfledger::projections {
namespace {

constexpr char kView[] = "hooks";
constexpr absl::string_view kCursorPrefix = "c1:";

absl::Status CursorError(const std::string& why) {
  return FieldError("cursor", why);
}

bool Resolved(const internal::HookRecord& r) { return !HookOpen(r) && !HookNoticeOpen(r); }

}  // namespace

std::string FormatHookCursor(const LogEnds& cursor) {
  std::string out(kCursorPrefix);
  bool first = true;
  for (PartitionId p : cursor.partitions()) {
    if (cursor[p] == Offset(0)) continue;
    absl::StrAppend(&out, first ? "" : ",", p, "=", cursor[p]);
    first = false;
  }
  return out;
}

absl::StatusOr<LogEnds> ParseHookCursor(absl::string_view text, uint32_t partitions) {
  LogEnds cursor(partitions);
  if (text.empty()) return cursor;
  if (text.size() > limits::kHookCursorBytesMax) return CursorError("too long");
  if (!absl::StartsWith(text, kCursorPrefix)) {
    return CursorError("not a cursor from this server (expected \"c1:...\")");
  }
  text.remove_prefix(kCursorPrefix.size());
  if (text.empty()) return cursor;
  for (absl::string_view pair : absl::StrSplit(text, ',')) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
    uint32_t partition;
    uint64_t offset;
    if (!absl::SimpleAtoi(kv.first, &partition) || !absl::SimpleAtoi(kv.second, &offset)) {
      return CursorError(absl::StrCat("malformed entry \"", pair, "\""));
    }
    if (partition >= partitions) {
      return CursorError(absl::StrFormat("partition %d is not a partition of this log", partition));
    }
    cursor[PartitionId(partition)] = Offset(offset);
  }
  return cursor;
}

absl::StatusOr<SubscriptionOptions> ParseSubscribeRequest(const v1::SubscribeRequest& request,
                                                          uint32_t partitions,
                                                          absl::Duration default_redeliver) {
  SubscriptionOptions o;
  RETURN_IF_ERROR(CheckId("consumer", request.consumer(), Presence::kRequired));
  o.consumer = request.consumer();
  if (request.kinds().empty()) return FieldError("kinds", "name at least one action kind");
  RETURN_IF_ERROR(CheckCount("kinds", request.kinds_size(), limits::kHookKindsMax));
  for (int i = 0; i < request.kinds_size(); i++) {
    const auto kind = static_cast<v1::ActionKind>(request.kinds(i));
    const std::string field = absl::StrCat("kinds[", i, "]");
    if (!v1::ActionKind_IsValid(kind) || kind == v1::ACTION_KIND_UNSPECIFIED) {
      return FieldError(field, "not an action kind");
    }
    if (std::find(o.kinds.begin(), o.kinds.end(), kind) != o.kinds.end()) {
      return FieldError(field, "repeated");
    }
    o.kinds.push_back(kind);
  }
  const uint32_t redeliver = request.redeliver_after_seconds();
  if (redeliver > limits::kHookRedeliverSecondsMax) {
    return FieldError("redeliver_after_seconds",
                      absl::StrCat("at most ", limits::kHookRedeliverSecondsMax));
  }
  o.redeliver_after = redeliver == 0 ? default_redeliver : absl::Seconds(redeliver);
  const uint32_t in_flight = request.max_in_flight();
  if (in_flight > limits::kHookInFlightMax) {
    return FieldError("max_in_flight", absl::StrCat("at most ", limits::kHookInFlightMax));
  }
  o.max_in_flight = in_flight == 0 ? limits::kHookInFlightDefault : in_flight;
  o.include_resolved = request.include_resolved();
  ASSIGN_OR_RETURN(o.cursor, ParseHookCursor(request.cursor(), partitions));
  return o;
}

HookSubscription::HookSubscription(SubscriptionOptions options) : options_(std::move(options)) {}

absl::Time HookSubscription::NextDue() const {
  absl::Time due = absl::InfiniteFuture();
  for (const auto& [id, f] : in_flight_) due = std::min(due, f.sent + options_.redeliver_after);
  return due;
}

bool HookSubscription::Full(const std::vector<v1::HookItem>& out) const {
  return out.size() >= limits::kHookPollItemsMax;
}

namespace {

// The record behind a "<employee>/<action>" reference; nullopt when it vanished (a rebuild).
absl::StatusOr<std::optional<internal::HookRecord>> LoadRecord(const Projector::Reader& reader,
                                                               const std::string& record_key) {
  std::string value;
  rocksdb::Status s = reader.db()->Get(rocksdb::ReadOptions(), reader.family(kView), record_key,
                                       &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocks(s, "read hooks view");
  internal::HookRecord r;
  if (!r.ParseFromString(value)) return absl::DataLossError(absl::StrCat("hooks row ", record_key));
  return r;
}

absl::StatusOr<bool> Exists(const Projector::Reader& reader, const std::string& key) {
  std::string value;
  rocksdb::Status s = reader.db()->Get(rocksdb::ReadOptions(), reader.family(kView), key, &value);
  if (s.IsNotFound()) return false;
  if (!s.ok()) return FromRocks(s, "read hooks view");
  return true;
}

const char* TypeTag(v1::HookItemType type) {
  switch (type) {
    case v1::HOOK_ITEM_TYPE_CANCELLATION: return "n";
    case v1::HOOK_ITEM_TYPE_ERASURE: return "e";
    default: return "a";
  }
}

// Consumers of these kinds hold data about people they were sent: they get erasure notices.
bool ReceivesErasures(const std::vector<v1::ActionKind>& kinds) {
  for (v1::ActionKind k : kinds) {
    if (k == v1::ACTION_KIND_SALARY_ADJUSTMENT || k == v1::ACTION_KIND_BONUS ||
        k == v1::ACTION_KIND_TRAINING) {
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<std::vector<v1::HookItem>> HookSubscription::Poll(const Projector::Reader& reader,
                                                                 absl::Time now) {
  std::vector<v1::HookItem> out;
  // 1. Forget what was resolved; send again what fell due.
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    Flight& f = it->second;
    ASSIGN_OR_RETURN(bool marker, Exists(reader, f.index_key));
    // An erasure notice is open until its acknowledgement exists; an action while its index
    // entry does.
    const bool still_open = f.type == v1::HOOK_ITEM_TYPE_ERASURE ? !marker : marker;
    if (!still_open) {
      in_flight_.erase(it++);
      continue;
    }
    if (now - f.sent >= options_.redeliver_after && !Full(out)) {
      ASSIGN_OR_RETURN(auto record, LoadRecord(reader, f.record_key));
      if (!record) {
        in_flight_.erase(it++);
        continue;
      }
      v1::HookItem& item = out.emplace_back(std::move(*record->mutable_item()));
      item.set_type(f.type);
      f.sent = now;
      item.set_attempt(++f.attempt);
      item.set_cursor(FormatHookCursor(options_.cursor));
    }
    ++it;
  }
  // 2. Open items not yet in flight: erasure notices first (the law sets their pace), then
  // actions in log order per kind and partition.
  if (ReceivesErasures(options_.kinds)) RETURN_IF_ERROR(ScanErasures(reader, now, out));
  for (v1::ActionKind kind : options_.kinds) {
    RETURN_IF_ERROR(ScanIndex(reader, 'n', kind, now, out));
    RETURN_IF_ERROR(ScanIndex(reader, 'o', kind, now, out));
  }
  // 3. History after the cursor.
  if (options_.include_resolved && !Full(out)) RETURN_IF_ERROR(ScanResolved(reader, out));
  return out;
}

absl::Status HookSubscription::ScanIndex(const Projector::Reader& reader, char index,
                                         v1::ActionKind kind, absl::Time now,
                                         std::vector<v1::HookItem>& out) {
  const v1::HookItemType type =
      index == 'n' ? v1::HOOK_ITEM_TYPE_CANCELLATION : v1::HOOK_ITEM_TYPE_ACTION;
  const std::string prefix = HookKindPrefix(index, kind);
  std::unique_ptr<rocksdb::Iterator> it(
      reader.db()->NewIterator(rocksdb::ReadOptions(), reader.family(kView)));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string ref = it->value().ToString();
    const size_t slash = ref.find('/');
    if (slash == std::string::npos) return absl::DataLossError(absl::StrCat("hooks index ", ref));
    const std::string id = absl::StrCat(TypeTag(type), "/", ref.substr(slash + 1));
    if (in_flight_.contains(id)) continue;
    if (in_flight_.size() >= options_.max_in_flight || Full(out)) break;
    const std::string record_key = absl::StrCat("a/", ref);
    ASSIGN_OR_RETURN(auto record, LoadRecord(reader, record_key));
    if (!record) continue;
    const LogPosition at = PositionOf(record->item().position());
    if (!options_.include_resolved && options_.cursor.contains(at.partition)) {
      // Without a history replay the cursor is simply "past everything sent".
      Offset& next = options_.cursor[at.partition];
      next = std::max(next, at.offset + 1);
    }
    v1::HookItem& item = out.emplace_back(std::move(*record->mutable_item()));
    item.set_type(type);
    item.set_attempt(1);
    item.set_cursor(FormatHookCursor(options_.cursor));
    in_flight_.emplace(id, Flight{record_key, it->key().ToString(), type, now, 1});
  }
  return FromRocks(it->status(), "scan hooks view");
}

absl::Status HookSubscription::ScanErasures(const Projector::Reader& reader, absl::Time now,
                                            std::vector<v1::HookItem>& out) {
  std::unique_ptr<rocksdb::Iterator> it(
      reader.db()->NewIterator(rocksdb::ReadOptions(), reader.family(kView)));
  const std::string prefix = "e/";
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const EmployeeId employee(it->value().ToString());
    const std::string id = absl::StrCat(TypeTag(v1::HOOK_ITEM_TYPE_ERASURE), "/", employee);
    if (in_flight_.contains(id)) continue;
    const std::string ack_key = ErasureAckKey(employee, options_.consumer);
    ASSIGN_OR_RETURN(bool acknowledged, Exists(reader, ack_key));
    if (acknowledged) continue;
    if (in_flight_.size() >= options_.max_in_flight || Full(out)) break;
    const std::string record_key = ErasureRecordKey(employee);
    ASSIGN_OR_RETURN(auto record, LoadRecord(reader, record_key));
    if (!record) continue;
    v1::HookItem& item = out.emplace_back(std::move(*record->mutable_item()));
    item.set_attempt(1);
    item.set_cursor(FormatHookCursor(options_.cursor));
    in_flight_.emplace(id, Flight{record_key, ack_key, v1::HOOK_ITEM_TYPE_ERASURE, now, 1});
  }
  return FromRocks(it->status(), "scan hooks view");
}

absl::Status HookSubscription::ScanResolved(const Projector::Reader& reader,
                                            std::vector<v1::HookItem>& out) {
  std::unique_ptr<rocksdb::Iterator> it(
      reader.db()->NewIterator(rocksdb::ReadOptions(), reader.family(kView)));
  for (PartitionId p : options_.cursor.partitions()) {
    if (Full(out)) break;
    const size_t budget = limits::kHookPollItemsMax - out.size();
    // Merge the kinds of this partition by offset: each kind contributes its first `budget`
    // entries from the cursor, so the `budget` smallest offsets overall are among them.
    std::vector<std::pair<uint64_t, std::string>> entries;
    for (v1::ActionKind kind : options_.kinds) {
      std::string partition_prefix = HookKindPrefix('t', kind);
      PutBigEndian32(partition_prefix, p.value());
      std::string from = partition_prefix;
      PutBigEndian64(from, options_.cursor[p].value());
      size_t taken = 0;
      for (it->Seek(from); it->Valid() && it->key().starts_with(partition_prefix) && taken < budget;
           it->Next(), taken++) {
        const rocksdb::Slice key = it->key();
        entries.emplace_back(GetBigEndian64(std::string_view(key.data() + key.size() - 8, 8)),
                             it->value().ToString());
      }
      RETURN_IF_ERROR(FromRocks(it->status(), "scan hooks view"));
    }
    std::sort(entries.begin(), entries.end());
    if (entries.size() > budget) entries.resize(budget);
    for (const auto& [offset, ref] : entries) {
      options_.cursor[p] = Offset(offset + 1);
      ASSIGN_OR_RETURN(auto record, LoadRecord(reader, absl::StrCat("a/", ref)));
      // Open items and notices are sent (and redelivered) by the open scans.
      if (!record || !Resolved(*record)) continue;
      v1::HookItem& item = out.emplace_back(std::move(*record->mutable_item()));
      item.set_type(v1::HOOK_ITEM_TYPE_ACTION);
      item.set_resolved(true);
      item.set_attempt(1);
      item.set_cursor(FormatHookCursor(options_.cursor));
    }
  }
  return absl::OkStatus();
}

}  // namespace perfledger::projections
