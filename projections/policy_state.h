// The policies the reactor folded (the "pol/" rows of its state, reactor_rows.h): every
// published version and the one in force, written as PolicyPublished events are applied, read
// by the fold (through the batch's ViewTxn) and by queries (through a Projector::Reader).
// Internal to projections/; the services reach it through Reactor (reactor.h).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "ledger/policy.h"
#include "perfledger/v1/envelope.pb.h"
#include "perfledger/v1/events.pb.h"
#include "perfledger/v1/policies.pb.h"
#include "projections/projector.h"
#include "projections/view.h"

namespace perfledger::projections {

// Folds a PolicyPublished: stores the version and makes it the one in force.
void FoldPolicyPublished(const v1::Envelope& e, const v1::PolicyPublished& p, ViewTxn& txn);

// The version in force as the batch being applied sees it; 0 when none was published.
absl::StatusOr<uint64_t> PolicyVersionInForce(ViewTxn& txn);
// The same from the committed rows.
absl::StatusOr<uint64_t> PolicyVersionInForce(const Projector::Reader& reader);

// The published policies, parsed. A version's document never changes once published, so each
// is parsed once and then shared. Thread-safe: the fold and the queries use one cache.
class PolicyCache {
 public:
  // The policy of `version` as the batch being applied sees it; null for version 0 or a
  // version not published. An error when the row cannot be read or its document not parsed.
  absl::StatusOr<std::shared_ptr<const policy::Policy>> At(ViewTxn& txn, uint64_t version);
  // The same from the committed rows, for a query.
  absl::StatusOr<std::shared_ptr<const policy::Policy>> At(const Projector::Reader& reader,
                                                          uint64_t version);

 private:
  std::shared_ptr<const policy::Policy> Cached(uint64_t version);
  absl::StatusOr<std::shared_ptr<const policy::Policy>> Parse(uint64_t version,
                                                             const std::string& stored);

  std::mutex mu_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<const policy::Policy>> policies_;
};

// Policies.GetPolicy: the policy of `version` (0 = the one in force). NOT_FOUND when none.
absl::StatusOr<v1::PolicyInfo> QueryPolicy(const Projector::Reader& reader, uint64_t version);
// Policies.ListPolicies: every published version, oldest first.
absl::StatusOr<v1::ListPoliciesResponse> QueryPolicies(const Projector::Reader& reader);

}  // namespace perfledger::projections
