#include "projections/deadlines.h"

#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ledger/key_store.h"
#include "ledger/policy_eval.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "ledger/types.h"
#include "projections/keys.h"
#include "projections/reactor_rows.h"

namespace perfledger::projections {
namespace {

constexpr char kDuePrefix[] = "dl/";
constexpr char kRetentionDeadlinePrefix[] = "retention/";

// "dl/<ordered micros>/<subject>": the schedule in time order.
std::string DueKey(const google::protobuf::Timestamp& at, const std::string& subject) {
  std::string key = kDuePrefix;
  PutOrderedInt64(key, absl::ToUnixMicros(ToTime(at)));
  key += "/" + subject;
  return key;
}

}  // namespace

std::string RetentionDeadline(const EmployeeId& employee) {
  return absl::StrCat(kRetentionDeadlinePrefix, employee.value());
}

absl::Status AddDeadline(ViewTxn& txn, const std::string& subject, const EmployeeId& employee,
                         const google::protobuf::Timestamp& at) {
  RETURN_IF_ERROR(RemoveDeadline(txn, subject));
  internal::Deadline d;
  d.set_subject(subject);
  d.set_employee_id(employee.value());
  *d.mutable_deadline_at() = at;
  const std::string key = DueKey(at, subject);
  txn.Put(key, d.SerializeAsString());
  txn.Put(Key({"dls", subject}), key);
  return absl::OkStatus();
}

absl::Status RemoveDeadline(ViewTxn& txn, const std::string& subject) {
  ASSIGN_OR_RETURN(auto key, txn.Get(Key({"dls", subject})));
  if (key) {
    txn.Delete(*key);
    txn.Delete(Key({"dls", subject}));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<internal::Deadline>> RegisteredDeadline(ViewTxn& txn,
                                                                     const std::string& subject) {
  ASSIGN_OR_RETURN(auto key, txn.Get(Key({"dls", subject})));
  if (!key) return std::optional<internal::Deadline>();
  return Load<internal::Deadline>(txn, *key);
}

absl::StatusOr<v1::FireDeadlinesResponse> FireDeadlines(Projector& projector, Ledger& ledger,
                                                        absl::Time now,
                                                        const CommandContext& ctx,
                                                        absl::Time deadline) {
  RETURN_IF_ERROR(projector.WaitCaughtUp(deadline));
  std::vector<internal::Deadline> due;
  {
    auto reader = projector.Read();
    std::string end = kDuePrefix;
    PutOrderedInt64(end, absl::ToUnixMicros(now) + 1);
    rocksdb::ReadOptions ro;
    rocksdb::Slice upper(end);
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(
        reader.db()->NewIterator(ro, reader.family(kReactorView)));
    for (it->Seek(kDuePrefix); it->Valid(); it->Next()) {
      internal::Deadline& d = due.emplace_back();
      d.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()));
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "scan deadlines"));
  }
  v1::FireDeadlinesResponse out;
  const absl::Time wall = absl::Now();
  for (const internal::Deadline& d : due) {
    internal::Reaction r;
    r.set_command_id(absl::StrCat(
        "deadline:", policy::ActionId(d.subject(),
                                      absl::StrCat("deadline@", d.deadline_at().seconds()))));
    if (absl::StartsWith(d.subject(), kRetentionDeadlinePrefix)) {
      // A legal retention duty ends by the clock, never by a `now` an operator passes to
      // simulate time.
      if (ToTime(d.deadline_at()) > wall) continue;
      auto* ev = r.add_events();
      ev->set_stream(absl::StrCat("employee/", d.employee_id()));
      ev->set_partition_key(d.employee_id());
      *ev->mutable_occurred_at() = d.deadline_at();
      auto* ended = ev->mutable_event()->mutable_retention_ended();
      ended->set_employee_id(d.employee_id());
      ended->add_keys_destroyed(absl::StrCat(std::string(KeyPurposeName(KeyPurpose::kRetained)),
                                             "/", d.employee_id()));
      *ended->mutable_retained_until() = d.deadline_at();
      auto result = ledger.React(r, ctx);
      if (!result.ok()) return result.status();
      out.add_fired(d.subject());
      continue;
    }
    auto* ev = r.add_events();
    ev->set_stream(absl::StrCat("deadline/", d.subject()));
    ev->set_partition_key(d.employee_id());
    // Business time of the fact is the deadline itself, whenever the scheduler noticed it.
    *ev->mutable_occurred_at() = d.deadline_at();
    auto* reached = ev->mutable_event()->mutable_deadline_reached();
    reached->set_subject(d.subject());
    reached->set_employee_id(d.employee_id());
    *reached->mutable_deadline_at() = d.deadline_at();
    auto result = ledger.React(r, ctx);
    if (!result.ok()) return result.status();
    out.add_fired(d.subject());
  }
  return out;
}

}  // namespace perfledger::projections
