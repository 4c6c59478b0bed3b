// A latency histogram with HDR-style log-linear buckets.
//
// Why not store samples: a 60 s run at 100k req/s would keep millions of samples; the histogram is
// a fixed ~18 KB whatever the run length, and its relative error is below 1/64 (1.6 %) at every
// magnitude, which is far finer than the run-to-run noise of an fsync-bound server.
//
// Layout: values below 128 ns have one bucket each; above, every power of two [2^k, 2^(k+1)) is
// split into 64 equal sub-buckets. Values at or above 2^40 ns (~18 minutes) land in the last bucket.
//
// Thread safety: none. Each runner thread owns its histograms and they are merged after the run.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace perfbench {

class Histogram {
 public:
  Histogram();

  // Records one value in nanoseconds.
  void Record(uint64_t value_ns);
  // Adds every count of `other` into this one.
  void Merge(const Histogram& other);

  uint64_t count() const { return count_; }
  uint64_t min_ns() const { return count_ == 0 ? 0 : min_ns_; }
  uint64_t max_ns() const { return max_ns_; }
  double mean_ns() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_ns_) / count_; }

  // The value at quantile q (0 < q <= 1): the upper edge of the bucket holding the ceil(q*count)-th
  // smallest value, clamped to the exact maximum. So a reported p99 is never below the true p99
  // (HDR's "highest equivalent value"). 0 when empty.
  uint64_t ValueAtQuantile(double q) const;

 private:
  static constexpr int kSubBucketBits = 7;                   // 128 linear buckets at the bottom
  static constexpr uint64_t kSubBuckets = 1u << kSubBucketBits;
  static constexpr uint64_t kHalf = kSubBuckets / 2;         // sub-buckets per octave above
  static constexpr int kMaxBits = 40;                        // 2^40 ns ~ 18 min
  static constexpr size_t kBuckets = kSubBuckets + (kMaxBits - kSubBucketBits) * kHalf;

  static size_t IndexOf(uint64_t value_ns);
  static uint64_t UpperEdge(size_t index);

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ns_ = 0;
  uint64_t min_ns_ = UINT64_MAX;
  uint64_t max_ns_ = 0;
};

}  // namespace perfbench
