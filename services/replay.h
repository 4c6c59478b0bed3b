// The auditor's replay: rebuild every view from offset 0 of the log into a scratch state store,
// away from the live server, and report the views' digests. Equal logs fold to equal views
// (views are pure functions of the log), so the digests must equal the live server's once it
// has applied the same log (Views.GetProjectionStatus with digests, or Views.Rebuild).
//
// The log is only read: Kafka is opened as a read replica (no producer, nothing can be
// written or fenced); the embedded log is opened from --data-dir, which works only while no
// server holds it.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "projections/projector.h"
#include "services/config.h"

namespace perfledger::services {

struct ReplayResult {
  std::vector<projections::ViewDigest> digests;
  uint64_t events = 0;  // events applied
  double seconds = 0;
};

// Replays the log `config` names into `scratch_dir`/state (created; it must not already hold a
// state store, so an old replay is never mistaken for a fresh one). Waits at most `timeout` for
// the projector to reach the log's end as of the start. FAILED_PRECONDITION when the scratch
// directory is in use, the log's errors otherwise.
absl::StatusOr<ReplayResult> ReplayToScratch(const ServerConfig& config,
                                             const std::string& scratch_dir,
                                             absl::Duration timeout);

}  // namespace perfledger::services
