// The one place RocksDB statuses become absl::Status, and the key encodings shared by stores.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/status.h"

namespace perfledger {

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what);

// Big-endian fixed-width integers sort like numbers in RocksDB's bytewise order.
void PutBigEndian32(std::string& out, uint32_t v);
void PutBigEndian64(std::string& out, uint64_t v);
uint32_t GetBigEndian32(std::string_view in);
uint64_t GetBigEndian64(std::string_view in);

}  // namespace perfledger
