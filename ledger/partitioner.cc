#include "ledger/partitioner.h"

namespace perfledger {

int32_t Murmur2(std::string_view key) {
  const uint32_t seed = 0x9747b28c;
  const uint32_t m = 0x5bd1e995;
  const int r = 24;
  const size_t length = key.size();
  uint32_t h = seed ^ static_cast<uint32_t>(length);
  const size_t length4 = length / 4;
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  for (size_t i = 0; i < length4; i++) {
    const size_t i4 = i * 4;
    uint32_t k = (data[i4 + 0] & 0xff) + ((data[i4 + 1] & 0xff) << 8) +
                 ((data[i4 + 2] & 0xff) << 16) + ((uint32_t{data[i4 + 3]} & 0xff) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  switch (length % 4) {
    case 3:
      h ^= (data[(length & ~size_t{3}) + 2] & 0xff) << 16;
      [[fallthrough]];
    case 2:
      h ^= (data[(length & ~size_t{3}) + 1] & 0xff) << 8;
      [[fallthrough]];
    case 1:
      h ^= data[length & ~size_t{3}] & 0xff;
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

PartitionId DataPartitionFor(std::string_view key, uint32_t data_partitions) {
  const uint32_t positive = static_cast<uint32_t>(Murmur2(key)) & 0x7fffffff;
  return PartitionId(1 + positive % data_partitions);
}

}  // namespace perfledger
