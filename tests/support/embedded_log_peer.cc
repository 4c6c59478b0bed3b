#include "tests/support/embedded_log_peer.h"

#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"

namespace perfledger {

absl::Status EmbeddedLogTestPeer::Tamper(EmbeddedLog& log, LogPosition at,
                                         const v1::Envelope& replacement) {
  RETURN_IF_ERROR(
      CheckReadPartition(at.partition, static_cast<uint32_t>(log.partition_cfs_.size())));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(log.db_->Put(wo, log.partition_cfs_[at.partition.value()],
                                EmbeddedLog::StoredKey(at), replacement.SerializeAsString()),
                   "tamper");
}

}  // namespace perfledger
