#include "projections/recognition_queries.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/limits.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "ledger/validation.h"
#include "projections/keys.h"
#include "projections/views/views.h"

namespace perfledger::projections {
namespace {

using limits::kPageSizeDefault;
using limits::kPageSizeMax;

std::vector<std::string> Copy(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  return {ids.begin(), ids.end()};
}

absl::StatusOr<std::optional<std::string>> Get(const Projector::Reader& r,
                                               const std::string& key) {
  std::string value;
  rocksdb::Status s = r.db()->Get(rocksdb::ReadOptions(), r.family(kRecognitionView), key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  RETURN_IF_ERROR(FromRocks(s, "read the recognition view"));
  return std::optional<std::string>(std::move(value));
}

template <typename Message>
absl::Status Parse(Message& out, const std::string& value) {
  if (!out.ParseFromString(value)) return absl::DataLossError("recognition row does not parse");
  return absl::OkStatus();
}

}  // namespace

RecognitionItem AudienceOf(const v1::PraiseEntry& praise) {
  RecognitionItem item;
  switch (praise.visibility()) {
    case v1::PRAISE_VISIBILITY_PUBLIC: item.audience = Audience::kPublic; break;
    case v1::PRAISE_VISIBILITY_MANAGER_ONLY: item.audience = Audience::kManagerOnly; break;
    default: item.audience = Audience::kPrivate; break;
  }
  item.author_id = praise.giver_id();
  item.subject_ids = Copy(praise.recipient_ids());
  item.subject_units = Copy(praise.recipient_org_unit_ids());
  return item;
}

RecognitionItem AudienceOf(const v1::CaseFile& case_file) {
  RecognitionItem item;
  item.audience = case_file.status() == v1::CASE_STATUS_PUBLISHED ? Audience::kPublic
                                                                  : Audience::kManagerOnly;
  item.author_id = case_file.nominator_id();
  item.subject_ids = Copy(case_file.subject_ids());
  item.subject_units = Copy(case_file.subject_org_unit_ids());
  return item;
}

absl::StatusOr<v1::RecognitionFeedResponse> QueryRecognitionFeed(
    const Projector::Reader& r, const v1::RecognitionFeedRequest& q, SeesItem sees) {
  RETURN_IF_ERROR(CheckId("org_unit_id", q.org_unit_id(), Presence::kRequired));
  if (q.page_size() > kPageSizeMax) {
    return FieldError("page_size", absl::StrFormat("at most %d", kPageSizeMax));
  }
  const uint32_t limit = q.page_size() == 0 ? kPageSizeDefault : q.page_size();
  ASSIGN_OR_RETURN(auto unit, Get(r, Key({"u", q.org_unit_id()})));
  if (!unit) {
    return absl::NotFoundError(absl::StrCat("org_unit_id: org unit ", q.org_unit_id(),
                                            " not found"));
  }
  const std::string prefix = Key({"f", q.org_unit_id()}) + "/";
  std::string start = prefix;
  if (!q.page_token().empty()) {
    if (!absl::WebSafeBase64Unescape(q.page_token(), &start) || start.size() <= prefix.size() ||
        !absl::StartsWith(start, prefix)) {
      return FieldError("page_token", "not a token of this query");
    }
  }
  const std::string end = PrefixEnd(prefix);
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper(end);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(r.db()->NewIterator(ro, r.family(kRecognitionView)));
  it->Seek(start);
  if (!q.page_token().empty() && it->Valid() && it->key() == rocksdb::Slice(start)) it->Next();
  v1::RecognitionFeedResponse out;
  uint32_t taken = 0;
  size_t read = 0;
  std::string last;
  bool more = false;
  for (; it->Valid(); it->Next()) {
    if (taken == limit || read == limits::kFeedScanRowsMax) {
      more = true;
      break;
    }
    read++;
    last = it->key().ToString();
    const std::string row = it->value().ToString();
    ASSIGN_OR_RETURN(auto value, Get(r, row));
    if (!value) continue;  // a feed key without its row shows nothing
    v1::RecognitionItem item;
    if (absl::StartsWith(row, "p/")) {
      RETURN_IF_ERROR(Parse(*item.mutable_praise(), *value));
      if (!sees(AudienceOf(item.praise()))) continue;
    } else {
      RETURN_IF_ERROR(Parse(*item.mutable_case_file(), *value));
      if (item.case_file().status() != v1::CASE_STATUS_PUBLISHED ||
          !sees(AudienceOf(item.case_file()))) {
        continue;
      }
    }
    *out.add_items() = std::move(item);
    taken++;
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scan the recognition feed"));
  if (more) out.set_next_page_token(absl::WebSafeBase64Escape(last));
  return out;
}

absl::StatusOr<v1::CaseFile> QueryCase(const Projector::Reader& r, const std::string& case_id) {
  RETURN_IF_ERROR(CheckId("case_id", case_id, Presence::kRequired));
  ASSIGN_OR_RETURN(auto value, Get(r, Key({"c", case_id})));
  if (!value) return absl::NotFoundError(absl::StrCat("case_id: case ", case_id, " not found"));
  v1::CaseFile out;
  RETURN_IF_ERROR(Parse(out, *value));
  return out;
}

}  // namespace perfledger::projections
