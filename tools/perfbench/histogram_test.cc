// The histogram against a trivially correct model: sorted samples.
#include "tools/perfbench/histogram.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <thread>
#include <string>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "tools/perfbench/lag.h"
#include "tools/perfbench/procstat.h"
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
  // A query has its own fixture and scenario; it must not slip into a command mix.
  CHECK(!Mix::Parse("metric=1,ranking=1").ok());
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
    if (EventsPerRequest(kind, options) == 0) {  // a query stores nothing
      CHECK(TypicalEnvelopeBytes(kind, options) == 0);
      continue;
    }
    const size_t bytes = TypicalEnvelopeBytes(kind, options);
    INFO(KindName(kind) << " " << bytes);
    CHECK(bytes >= 250);
    CHECK(bytes <= 700);
  }
}

TEST_CASE("ranking fixture: ids fit the 64-byte id and key limits", "[perfbench]") {
  CHECK(RankOrgUnitId(100000) == "bench-rank100000");
  CHECK(RankEmployeeId(100000, 99999) == "bench-rank100000-99999");
  CHECK(RankEmployeeId(1000000, 999999).size() <= 64);
  // The fixture's longest idempotency key.
  CHECK(("bench:rank1000000:grade:" + std::to_string(999999)).size() <= 64);
}

TEST_CASE("ranking fixture: scores are stable, in range and spread over every grade",
          "[perfbench]") {
  std::map<std::string, int> grades;
  std::set<int64_t> distinct;
  int64_t previous = -1;
  int ascending = 0;
  for (uint32_t i = 0; i < 100000; ++i) {
    const int64_t score = RankScoreMilli(i);
    REQUIRE(score >= 0);
    REQUIRE(score <= 5000);
    CHECK(RankScoreMilli(i) == score);  // reruns send identical commands
    ++grades[std::string(RankGrade(score))];
    distinct.insert(score);
    ascending += score > previous;
    previous = score;
  }
  CHECK(distinct.size() > 4900);  // nearly every value of 0..5000 occurs
  // Not in registration order: about half of the neighbours go up, half down.
  CHECK(ascending > 45000);
  CHECK(ascending < 55000);
  // 0..1999 D, 2000..2999 C, 3000..3999 B, 4000..5000 A: ~40/20/20/20 %.
  CHECK(grades["D"] > 38000);
  CHECK(grades["C"] > 18000);
  CHECK(grades["B"] > 18000);
  CHECK(grades["A"] > 18000);
}

TEST_CASE("ranking fixture: grade bands", "[perfbench]") {
  CHECK(RankGrade(0) == "D");
  CHECK(RankGrade(1999) == "D");
  CHECK(RankGrade(2000) == "C");
  CHECK(RankGrade(3000) == "B");
  CHECK(RankGrade(3999) == "B");
  CHECK(RankGrade(4000) == "A");
  CHECK(RankGrade(5000) == "A");
}

TEST_CASE("workload: a ranking request asks for the top 50 of the fixture's org unit",
          "[perfbench]") {
  WorkloadOptions options;
  options.subjects = 100000;
  RequestBuilder builder(options, Mix::Only(EventKind::kRanking), 0, 1);
  CHECK(builder.NextKind() == EventKind::kRanking);
  v1::RankingRequest request;
  builder.Fill(&request);
  builder.Fill(&request);  // reused requests stay the same
  CHECK(request.cycle_id() == kCycleId);
  CHECK(request.org_unit_id() == "bench-rank100000");
  CHECK(request.page_size() == 50);
  CHECK(request.page_token().empty());
  CHECK(EventsPerRequest(EventKind::kRanking, options) == 0);
}

LagResult Probes(std::initializer_list<uint64_t> visible_ms, uint64_t errors = 0) {
  LagResult r;
  for (uint64_t ms : visible_ms) {
    r.visible.Record(ms * 1000000);
    ++r.probes_ok;
  }
  r.probe_errors = errors;
  return r;
}

TEST_CASE("lag target: passes only with fresh views at the asked rate", "[perfbench]") {
  const LagVerdict ok = EvaluateLag(50000, 49000, Probes({3, 12, 950}));
  CHECK(ok.applicable);
  CHECK(ok.pass);
  CHECK(ok.reasons.empty());
  CHECK(ok.max_ms == Approx(950).epsilon(1.0 / 64));

  const LagVerdict slow = EvaluateLag(50000, 50000, Probes({3, 1200}));
  CHECK(!slow.pass);
  CHECK(slow.reasons.find("visible after 1200 ms") != std::string::npos);

  // Fresh views do not help when the server could not take the load.
  const LagVerdict short_of_rate = EvaluateLag(50000, 47000, Probes({3}));
  CHECK(!short_of_rate.pass);
  CHECK(short_of_rate.reasons.find("below 95% of the 50000 asked") != std::string::npos);
  CHECK(EvaluateLag(50000, 47500, Probes({3})).pass);  // exactly 95 %

  CHECK(!EvaluateLag(50000, 50000, Probes({})).pass);      // no probe, no verdict
  CHECK(!EvaluateLag(50000, 50000, Probes({3}, 1)).pass);  // a write never seen fails

  CHECK(!EvaluateLag(10000, 10000, Probes({3})).applicable);
  CHECK(EvaluateLag(60000, 60000, Probes({3})).applicable);
}

}  // namespace
}  // namespace perfbench

TEST_CASE("per-thread CPU is summed by thread name", "[procstat]") {
  std::atomic<bool> stop{false};
  std::thread burner([&] {
    pthread_setname_np(pthread_self(), "pb-burner");
    volatile uint64_t x = 0;
    while (!stop.load()) x = x + 1;
  });
  const auto start = std::chrono::steady_clock::now();
  std::map<std::string, double> threads;
  // Tick granularity is 10 ms: burn until the kernel has counted some.
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    threads = perfbench::ReadThreadCpuSeconds(static_cast<int>(::getpid()));
    if (threads.count("pb-burner") > 0 && threads["pb-burner"] >= 0.05) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop = true;
  burner.join();
  REQUIRE(threads.count("pb-burner") == 1);
  CHECK(threads["pb-burner"] >= 0.05);
  CHECK(perfbench::ReadThreadCpuSeconds(-1).empty());  // no such process: nothing, no throw
}
