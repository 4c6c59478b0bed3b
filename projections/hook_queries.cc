#include "projections/hook_queries.h"

#include "projections/views/views.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/limits.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "ledger/validation.h"
#include "projections/keys.h"

namespace perfledger::projections {
namespace {

using limits::kPageSizeDefault;
using limits::kPageSizeMax;
constexpr uint32_t kScanRowsMax = limits::kHookScanRowsMax;

absl::StatusOr<uint32_t> PageSize(uint32_t requested) {
  if (requested > kPageSizeMax) {
    return FieldError("page_size", absl::StrFormat("at most %d", kPageSizeMax));
  }
  return requested == 0 ? kPageSizeDefault : requested;
}

// Page tokens are the last key read, web-safe base64 (as in queries.cc); the next page starts
// after it. The prefix check rejects a token of another query, whose key would start elsewhere.
absl::StatusOr<std::string> DecodeToken(const std::string& token, const std::string& prefix) {
  std::string key;
  if (!absl::WebSafeBase64Unescape(absl::string_view(token.data(), token.size()), &key) ||
      key.size() <= prefix.size() || key.compare(0, prefix.size(), prefix) != 0) {
    return FieldError("page_token", "not a token of this query");
  }
  return key;
}

// Reads rows of `view` under `prefix` after the token. `fn(value)` returns whether the row went
// into the page. Stops when `limit` rows went in or kScanRowsMax rows were read; returns the
// token of the next page (empty when the prefix is exhausted).
template <typename Fn>
absl::StatusOr<std::string> ScanPage(const Projector::Reader& r, std::string_view view,
                                     const std::string& prefix, const std::string& token,
                                     uint32_t limit, Fn&& fn) {
  std::string start = prefix;
  if (!token.empty()) {
    ASSIGN_OR_RETURN(start, DecodeToken(token, prefix));
  }
  const std::string end = PrefixEnd(prefix);
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper(end);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(r.db()->NewIterator(ro, r.family(view)));
  uint32_t taken = 0, read = 0;
  std::string last;
  bool more = false;
  it->Seek(start);
  if (!token.empty() && it->Valid() && it->key() == rocksdb::Slice(start)) it->Next();
  for (; it->Valid(); it->Next()) {
    if (taken == limit || read == kScanRowsMax) {
      more = true;
      break;
    }
    ASSIGN_OR_RETURN(bool took, fn(it->value()));
    taken += took ? 1 : 0;
    read++;
    last = it->key().ToString();
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scan view"));
  return more ? absl::WebSafeBase64Escape(absl::string_view(last.data(), last.size()))
              : std::string();
}

template <typename Message>
absl::Status ParseRow(Message& out, const rocksdb::Slice& value, std::string_view view) {
  if (!out.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError(absl::StrCat(std::string(view), " row does not parse"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::ListPayrollItemsResponse> QueryPayrollItems(
    const Projector::Reader& r, const v1::ListPayrollItemsRequest& q) {
  RETURN_IF_ERROR(CheckId("cycle_id", q.cycle_id(), Presence::kOptional));
  RETURN_IF_ERROR(CheckId("employee_id", q.employee_id(), Presence::kOptional));
  if (!v1::PayrollState_IsValid(q.state())) {
    return FieldError("state", absl::StrCat(static_cast<int>(q.state()), " is not a state"));
  }
  ASSIGN_OR_RETURN(uint32_t limit, PageSize(q.page_size()));
  const std::string state = absl::StrCat(static_cast<int>(q.state()));
  const bool any_state = q.state() == v1::PAYROLL_STATE_UNSPECIFIED;
  // Pick the index whose prefix serves the filters; only state with employee is filtered by
  // reading (one employee has few items).
  std::string prefix;
  bool filter_state = false;
  if (!q.employee_id().empty()) {
    prefix = q.cycle_id().empty() ? Key({"e", q.employee_id()})
                                  : Key({"e", q.employee_id(), q.cycle_id()});
    filter_state = !any_state;
  } else if (!any_state) {
    prefix = q.cycle_id().empty() ? Key({"s", state}) : Key({"s", state, q.cycle_id()});
  } else {
    prefix = q.cycle_id().empty() ? "c" : Key({"c", q.cycle_id()});
  }
  prefix += "/";
  v1::ListPayrollItemsResponse out;
  ASSIGN_OR_RETURN(std::string next,
                   ScanPage(r, "payroll", prefix, q.page_token(), limit,
                            [&](const rocksdb::Slice& value) -> absl::StatusOr<bool> {
                              v1::PayrollItem item;
                              RETURN_IF_ERROR(ParseRow(item, value, "payroll"));
                              if (filter_state && item.state() != q.state()) return false;
                              *out.add_items() = std::move(item);
                              return true;
                            }));
  out.set_next_page_token(next);
  return out;
}

absl::StatusOr<v1::ListTrainingResponse> QueryTraining(const Projector::Reader& r,
                                                       const v1::ListTrainingRequest& q) {
  RETURN_IF_ERROR(CheckId("employee_id", q.employee_id(), Presence::kOptional));
  RETURN_IF_ERROR(CheckId("course_id", q.course_id(), Presence::kOptional));
  ASSIGN_OR_RETURN(uint32_t limit, PageSize(q.page_size()));
  std::string prefix;
  if (!q.employee_id().empty()) {
    prefix = q.course_id().empty() ? Key({"t", q.employee_id()})
                                   : Key({"t", q.employee_id(), q.course_id()});
  } else {
    prefix = q.course_id().empty() ? "t" : Key({"c", q.course_id()});
  }
  prefix += "/";
  v1::ListTrainingResponse out;
  ASSIGN_OR_RETURN(std::string next,
                   ScanPage(r, "training", prefix, q.page_token(), limit,
                            [&](const rocksdb::Slice& value) -> absl::StatusOr<bool> {
                              RETURN_IF_ERROR(ParseRow(*out.add_records(), value, "training"));
                              return true;
                            }));
  out.set_next_page_token(next);
  return out;
}

absl::StatusOr<v1::TrainingSummaryResponse> QueryTrainingSummary(
    const Projector::Reader& r, const v1::TrainingSummaryRequest& q) {
  RETURN_IF_ERROR(CheckId("course_id", q.course_id(), Presence::kRequired));
  v1::TrainingSummaryResponse out;
  out.set_course_id(q.course_id());
  std::string value;
  rocksdb::Status s =
      r.db()->Get(rocksdb::ReadOptions(), r.family("training"), Key({"s", q.course_id()}), &value);
  if (s.IsNotFound()) return out;
  RETURN_IF_ERROR(FromRocks(s, "read training summary"));
  if (value.size() != 6 * 8) return absl::DataLossError("training summary row does not parse");
  uint64_t n[6];
  for (size_t i = 0; i < 6; i++) n[i] = GetBigEndian64(std::string_view(value).substr(i * 8, 8));
  out.set_recommended(n[0]);
  out.set_enrolled(n[1]);
  out.set_completed(n[2]);
  out.set_passed(n[3]);
  out.set_cancelled(n[4]);
  out.set_mean_score_milli(n[2] == 0 ? 0 : static_cast<int64_t>(n[5] / n[2]));
  return out;
}

absl::StatusOr<v1::ListPipsResponse> QueryPips(const Projector::Reader& r,
                                               const v1::ListPipsRequest& q) {
  RETURN_IF_ERROR(CheckId("employee_id", q.employee_id(), Presence::kOptional));
  RETURN_IF_ERROR(CheckId("pip_id", q.pip_id(), Presence::kOptional));
  ASSIGN_OR_RETURN(uint32_t limit, PageSize(q.page_size()));
  const char* index = q.open_only() ? "o" : "p";
  const std::string prefix =
      (q.employee_id().empty() ? std::string(index) : Key({index, q.employee_id()})) + "/";
  v1::ListPipsResponse out;
  ASSIGN_OR_RETURN(std::string next,
                   ScanPage(r, "pip", prefix, q.page_token(), limit,
                            [&](const rocksdb::Slice& value) -> absl::StatusOr<bool> {
                              v1::PipPlan plan;
                              RETURN_IF_ERROR(ParseRow(plan, value, "pip"));
                              if (!q.pip_id().empty() && plan.pip_id() != q.pip_id()) {
                                return false;
                              }
                              *out.add_plans() = std::move(plan);
                              return true;
                            }));
  out.set_next_page_token(next);
  return out;
}

absl::StatusOr<v1::ListDisputesResponse> QueryDisputes(const Projector::Reader& r,
                                                       const v1::ListDisputesRequest& q) {
  RETURN_IF_ERROR(CheckId("employee_id", q.employee_id(), Presence::kOptional));
  RETURN_IF_ERROR(CheckId("assignee_id", q.assignee_id(), Presence::kOptional));
  RETURN_IF_ERROR(CheckId("cycle_id", q.cycle_id(), Presence::kOptional));
  if (!v1::DisputeStatus_IsValid(q.status())) {
    return FieldError("status", "must be OPEN, RESOLVED or unset");
  }
  if (q.hr_only() && !q.assignee_id().empty()) {
    return FieldError("hr_only", "a dispute hr decides has no assignee_id");
  }
  ASSIGN_OR_RETURN(uint32_t limit, PageSize(q.page_size()));
  const std::string prefix =
      (q.employee_id().empty() ? std::string("d") : Key({"d", q.employee_id()})) + "/";
  v1::ListDisputesResponse out;
  ASSIGN_OR_RETURN(
      std::string next,
      ScanPage(r, "disputes", prefix, q.page_token(), limit,
               [&](const rocksdb::Slice& value) -> absl::StatusOr<bool> {
                 v1::DisputeRow row;
                 RETURN_IF_ERROR(ParseRow(row, value, "disputes"));
                 if ((!q.assignee_id().empty() && row.assignee_id() != q.assignee_id()) ||
                     (!q.cycle_id().empty() && row.cycle_id() != q.cycle_id()) ||
                     (q.status() != v1::DISPUTE_STATUS_UNSPECIFIED &&
                      row.status() != q.status()) ||
                     (q.hr_only() && row.assigned_to() != v1::DISPUTE_ASSIGNEE_HR)) {
                   return false;
                 }
                 *out.add_disputes() = std::move(row);
                 return true;
               }));
  out.set_next_page_token(next);
  return out;
}

absl::StatusOr<std::vector<v1::ErasureAcknowledgement>> QueryErasureAcknowledgements(
    const Projector::Reader& r, const EmployeeId& employee) {
  std::vector<v1::ErasureAcknowledgement> out;
  const std::string prefix = ErasureAckKey(employee, "");
  std::unique_ptr<rocksdb::Iterator> it(r.db()->NewIterator(rocksdb::ReadOptions(), r.family("hooks")));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix) &&
                         out.size() < limits::kAckItemsMax;
       it->Next()) {
    if (!out.emplace_back().ParseFromArray(it->value().data(),
                                           static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrCat("hooks row ", it->key().ToString()));
    }
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scan hooks view"));
  return out;
}

}  // namespace perfledger::projections
