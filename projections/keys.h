// Key building for views. Ids are limited to [A-Za-z0-9._:-] (ledger/validation.h), so '/'
// separates components unambiguously; numbers are big-endian so keys sort numerically.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "ledger/rocks_util.h"
#include "ledger/types.h"

namespace perfledger::projections {

inline std::string Key(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) {
    if (!out.empty()) out.push_back('/');
    out.append(p.data(), p.size());
  }
  return out;
}

// Appends the order-preserving 8-byte form of a signed value, ascending.
inline void PutOrderedInt64(std::string& out, int64_t v) {
  PutBigEndian64(out, static_cast<uint64_t>(v) ^ (uint64_t{1} << 63));
}

// Same, descending (larger values first).
inline void PutDescendingInt64(std::string& out, int64_t v) {
  PutBigEndian64(out, ~(static_cast<uint64_t>(v) ^ (uint64_t{1} << 63)));
}

inline int64_t GetDescendingInt64(std::string_view in) {
  return static_cast<int64_t>(~GetBigEndian64(in) ^ (uint64_t{1} << 63));
}

// A position as a key suffix (partition, then offset, both big-endian): keys sort in log order
// within a partition.
inline std::string PositionSuffix(LogPosition at) {
  std::string out;
  PutBigEndian32(out, at.partition.value());
  PutBigEndian64(out, at.offset.value());
  return out;
}

// The smallest key greater than every key with this prefix.
inline std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

}  // namespace perfledger::projections
