#include "tools/perfbench/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace perfbench {

Histogram::Histogram() = default;

size_t Histogram::IndexOf(uint64_t value_ns) {
  if (value_ns < kSubBuckets) return static_cast<size_t>(value_ns);
  value_ns = std::min<uint64_t>(value_ns, (uint64_t{1} << kMaxBits) - 1);
  const int msb = 63 - std::countl_zero(value_ns);   // >= kSubBucketBits
  const int shift = msb - (kSubBucketBits - 1);      // leaves 7 significant bits: [64, 127]
  const uint64_t sub = (value_ns >> shift) - kHalf;  // [0, 63]
  return kSubBuckets + static_cast<size_t>(msb - kSubBucketBits) * kHalf + sub;
}

uint64_t Histogram::UpperEdge(size_t index) {
  if (index < kSubBuckets) return index;
  const size_t octave = (index - kSubBuckets) / kHalf;
  const uint64_t sub = (index - kSubBuckets) % kHalf;
  const int shift = static_cast<int>(octave) + 1;
  return ((kHalf + sub) << shift) + (uint64_t{1} << shift) - 1;
}

void Histogram::Record(uint64_t value_ns) {
  ++counts_[IndexOf(value_ns)];
  ++count_;
  sum_ns_ += value_ns;
  min_ns_ = std::min(min_ns_, value_ns);
  max_ns_ = std::max(max_ns_, value_ns);
}

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ns_ += other.sum_ns_;
  min_ns_ = std::min(min_ns_, other.min_ns_);
  max_ns_ = std::max(max_ns_, other.max_ns_);
}

uint64_t Histogram::ValueAtQuantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * count_)));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen < rank) continue;
    // The last bucket also holds every saturated value: only the exact max is honest there.
    return i == kBuckets - 1 ? max_ns_ : std::min(UpperEdge(i), max_ns_);
  }
  return max_ns_;
}

}  // namespace perfbench
