#include "projections/policy_state.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "perfledger/internal/reactor.pb.h"
#include "projections/reactor_rows.h"

namespace perfledger::projections {
namespace {

constexpr char kInForceKey[] = "pol/current";
constexpr char kVersionPrefix[] = "pol/v/";

std::string VersionKey(uint64_t version) {
  std::string key = kVersionPrefix;
  PutBigEndian64(key, version);
  return key;
}

}  // namespace

void FoldPolicyPublished(const v1::Envelope& e, const v1::PolicyPublished& p, ViewTxn& txn) {
  internal::StoredPolicy stored;
  auto* info = stored.mutable_info();
  info->set_version(p.version());
  info->set_policy_id(p.policy_id());
  info->set_document_json(p.document_json());
  info->set_document_sha256(p.document_sha256());
  info->set_event_id(e.event_id());
  *info->mutable_published_at() = e.occurred_at();
  info->set_comment(p.comment());
  txn.Put(VersionKey(p.version()), stored.SerializeAsString());
  std::string version;
  PutBigEndian64(version, p.version());
  txn.Put(kInForceKey, version);
}

absl::StatusOr<uint64_t> PolicyVersionInForce(ViewTxn& txn) {
  ASSIGN_OR_RETURN(auto current, txn.Get(kInForceKey));
  return current ? GetBigEndian64(*current) : 0;
}

absl::StatusOr<uint64_t> PolicyVersionInForce(const Projector::Reader& reader) {
  std::string current;
  rocksdb::Status s = reader.db()->Get(rocksdb::ReadOptions(), reader.family(kReactorView),
                                       kInForceKey, &current);
  if (s.IsNotFound()) return 0;
  RETURN_IF_ERROR(FromRocks(s, "read policy"));
  return GetBigEndian64(current);
}

// ---------------------------------------------------------------- PolicyCache

std::shared_ptr<const policy::Policy> PolicyCache::Cached(uint64_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = policies_.find(version);
  return it == policies_.end() ? nullptr : it->second;
}

absl::StatusOr<std::shared_ptr<const policy::Policy>> PolicyCache::Parse(
    uint64_t version, const std::string& stored_row) {
  internal::StoredPolicy stored;
  stored.ParseFromString(stored_row);
  ASSIGN_OR_RETURN(policy::Policy parsed,
                   policy::ParsePolicy(stored.info().document_json(), policy::Format::kJson));
  auto shared = std::make_shared<const policy::Policy>(std::move(parsed));
  std::lock_guard<std::mutex> lock(mu_);
  policies_[version] = shared;
  return shared;
}

absl::StatusOr<std::shared_ptr<const policy::Policy>> PolicyCache::At(ViewTxn& txn,
                                                                      uint64_t version) {
  if (version == 0) return std::shared_ptr<const policy::Policy>();
  if (auto cached = Cached(version)) return cached;
  ASSIGN_OR_RETURN(auto value, txn.Get(VersionKey(version)));
  if (!value) return std::shared_ptr<const policy::Policy>();
  return Parse(version, *value);
}

absl::StatusOr<std::shared_ptr<const policy::Policy>> PolicyCache::At(
    const Projector::Reader& reader, uint64_t version) {
  if (version == 0) return std::shared_ptr<const policy::Policy>();
  if (auto cached = Cached(version)) return cached;
  std::string value;
  rocksdb::Status s = reader.db()->Get(rocksdb::ReadOptions(), reader.family(kReactorView),
                                       VersionKey(version), &value);
  if (s.IsNotFound()) return std::shared_ptr<const policy::Policy>();
  RETURN_IF_ERROR(FromRocks(s, "read policy"));
  return Parse(version, value);
}

// ---------------------------------------------------------------- queries

absl::StatusOr<v1::PolicyInfo> QueryPolicy(const Projector::Reader& reader, uint64_t version) {
  if (version == 0) {
    ASSIGN_OR_RETURN(version, PolicyVersionInForce(reader));
    if (version == 0) return absl::NotFoundError("version: no policy has been published");
  }
  std::string value;
  rocksdb::Status s = reader.db()->Get(rocksdb::ReadOptions(), reader.family(kReactorView),
                                       VersionKey(version), &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat("version: no policy version ", version));
  }
  RETURN_IF_ERROR(FromRocks(s, "read policy"));
  internal::StoredPolicy stored;
  stored.ParseFromString(value);
  return stored.info();
}

absl::StatusOr<v1::ListPoliciesResponse> QueryPolicies(const Projector::Reader& reader) {
  v1::ListPoliciesResponse out;
  std::unique_ptr<rocksdb::Iterator> it(
      reader.db()->NewIterator(rocksdb::ReadOptions(), reader.family(kReactorView)));
  for (it->Seek(kVersionPrefix); it->Valid() && it->key().starts_with(kVersionPrefix);
       it->Next()) {
    internal::StoredPolicy stored;
    stored.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()));
    *out.add_policies() = stored.info();
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "list policies"));
  return out;
}

}  // namespace perfledger::projections
