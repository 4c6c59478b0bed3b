// Test access to the embedded log's storage: what the product never does, the tests do to
// prove the hash chain catches it.
#pragma once

#include "absl/status/status.h"
#include "ledger/embedded_log.h"
#include "ledger/types.h"
#include "perfledger/v1/envelope.pb.h"

namespace perfledger {

class EmbeddedLogTestPeer {
 public:
  // Rewrites the stored bytes of the event at `at` with `replacement`, bypassing the chain (a
  // synced write straight into the partition's family). INVALID_ARGUMENT for a partition the
  // log does not have.
  static absl::Status Tamper(EmbeddedLog& log, LogPosition at, const v1::Envelope& replacement);
};

}  // namespace perfledger
