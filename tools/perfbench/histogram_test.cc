// The histogram against a trivially correct model: sorted samples.
#include "tools/perfbench/histogram.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "tools/perfbench/workload.h"

namespace perfbench {
namespace {

TEST_CASE("histogram: empty reports zeros", "[perfbench]") {
  Histogram h;
  CHECK(h.count() == 0);
  CHECK(h.ValueAtQuantile(0.99) == 0);
  CHECK(h.max_ns() == 0);
  CHECK(h.min_ns() == 0);
}

TEST_CASE("histogram: small values are exact", "[perfbench]") {
  Histogram h;
  for (uint64_t v = 0; v < 100; ++v) h.Record(v);
  CHECK(h.ValueAtQuantile(0.5) == 49);
  CHECK(h.ValueAtQuantile(1.0) == 99);
  CHECK(h.min_ns() == 0);
}

TEST_CASE("histogram: quantiles within 1/64 above the exact ones", "[perfbench]") {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> latency(std::log(2e6), 1.0);  // ~2 ms median, long tail
  Histogram h;
  std::vector<uint64_t> samples;
  for (int i = 0; i < 200000; ++i) {
    const uint64_t v = static_cast<uint64_t>(latency(rng));
    samples.push_back(v);
    h.Record(v);
  }
  std::sort(samples.begin(), samples.end());
  for (double q : {0.5, 0.9, 0.99, 0.999, 1.0}) {
    const uint64_t exact = samples[static_cast<size_t>(std::ceil(q * samples.size())) - 1];
    const uint64_t got = h.ValueAtQuantile(q);
    INFO("q=" << q << " exact=" << exact << " got=" << got);
    CHECK(got >= exact);
    CHECK(got <= exact + exact / 64 + 1);
  }
  CHECK(h.max_ns() == samples.back());
}

TEST_CASE("histogram: merge equals recording into one", "[perfbench]") {
  Histogram a, b, all;
  for (uint64_t v = 1; v < 1000000; v = v * 3 + 1) {
    ((v % 2) ? a : b).Record(v);
    all.Record(v);
  }
  a.Merge(b);
  CHECK(a.count() == all.count());
  for (double q : {0.1, 0.5, 0.9, 1.0}) CHECK(a.ValueAtQuantile(q) == all.ValueAtQuantile(q));
  CHECK(a.min_ns() == all.min_ns());
  CHECK(a.max_ns() == all.max_ns());
}

TEST_CASE("histogram: huge values saturate instead of overflowing", "[perfbench]") {
  Histogram h;
  h.Record(UINT64_MAX);
  CHECK(h.count() == 1);
  CHECK(h.ValueAtQuantile(0.5) == UINT64_MAX);  // clamped to the exact max
}

TEST_CASE("mix: parses weights and rejects bad input", "[perfbench]") {
  auto mix = Mix::Parse("metric=70,checkin=10,score=10,progress=10");
  REQUIRE(mix.ok());
  CHECK(mix->total() == 100);
  CHECK(mix->weight(EventKind::kMetric) == 70);
  CHECK(mix->NeedsGoals());
  CHECK(!Mix::Parse("metric=1,metric=2").ok());
  CHECK(!Mix::Parse("metrc=1").ok());
  CHECK(!Mix::Parse("metric=x").ok());
  CHECK(!Mix::Parse("metric=0").ok());
  CHECK(!Mix::Parse("metric").ok());
}

TEST_CASE("workload: load ids fit the 64-byte id limit", "[perfbench]") {
  WorkloadOptions options;
  options.run_id = "ffffffffff";
  options.subjects = 1000000;
  RequestBuilder builder(options, Mix::Only(EventKind::kCheckIn), 4095, 1);
  v1::RecordCheckInRequest request;
  for (int i = 0; i < 3; ++i) builder.Fill(&request);
  CHECK(request.check_in_id().size() <= 64);
  CHECK(request.meta().idempotency_key().size() <= 64);
  CHECK(request.check_in_id().rfind("bench-", 0) == 0);
}

TEST_CASE("workload: a typical envelope is a few hundred bytes", "[perfbench]") {
  WorkloadOptions options;
  for (EventKind kind : kAllKinds) {
    const size_t bytes = TypicalEnvelopeBytes(kind, options);
    INFO(KindName(kind) << " " << bytes);
    CHECK(bytes >= 250);
    CHECK(bytes <= 700);
  }
}

}  // namespace
}  // namespace perfbench
