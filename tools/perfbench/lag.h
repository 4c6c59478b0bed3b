// --scenario lag: how soon an acknowledged write is visible in the views under sustained ingest.
//
// While the runner drives open-loop metric batches, a probe thread appends one small command
// (ObserveMetric) every probe interval and, as soon as it is acknowledged, asks a view that the
// projector updates for every event (GetTimeline of the probed employee, page size 1) with
// min_position = the append's position. The server answers that query once the views have
// applied the write, so "acknowledged → answered" is the write's visible-after latency as a
// client doing read-your-writes sees it, query round trip included. A sampler thread reads the
// projector's lag in events (Views.GetProjectionStatus) every lag interval.
//
// The probe has its own connection: on a load connection its small request would queue behind
// the batches' frames and measure the client's HTTP/2 queue rather than the views. Probes are
// due on a fixed schedule (every probe interval) and run on a few threads in turn, because one
// probe under load takes longer than the interval (append plus wait plus query): a single thread
// would silently probe less often than asked.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/perfbench/client.h"
#include "tools/perfbench/histogram.h"

namespace perfbench {

// The target (b): under 50,000 events/s of ingest, every write visible within 1 s.
inline constexpr double kLagTargetEventsPerSecond = 50000;
inline constexpr double kLagTargetSeconds = 1.0;
// Below this share of the asked ingest rate the run did not apply the target's load.
inline constexpr double kLagTargetRateShare = 0.95;

struct LagOptions {
  std::chrono::milliseconds probe_interval{100};
  uint32_t probe_threads = 8;  // probes in flight at most; a late one delays its thread's next
  std::chrono::milliseconds lag_interval{1000};
  std::chrono::milliseconds call_timeout{5000};  // the probe's append and the status calls
  // The probe's query: longer than the server's own 10 s cap on a min_position wait, so a write
  // that never becomes visible ends as the server's DEADLINE_EXCEEDED, not as a client timeout.
  std::chrono::milliseconds query_timeout{12000};
  std::string probe_employee;  // subject of the probe's observations (a fixture employee)
  std::string run_id;          // part of the probe's idempotency keys
  bool progress = true;        // print each lag sample on stderr
};

struct LagSample {
  double t_seconds = 0;  // since the probe started
  uint64_t lag_events = 0;
};

struct LagResult {
  // Probes whose append was acknowledged inside the measured window.
  Histogram visible;  // acknowledgement → view answer, ns
  Histogram append;   // the probe's own append latency, ns
  uint64_t probes_ok = 0;
  uint64_t probe_errors = 0;
  uint64_t probes_late = 0;  // started more than one interval after their due time  // append or query failed (a write not visible in 10 s included)
  std::string first_error;
  // Projector lag samples inside the window (all of them in `timeline`).
  uint64_t lag_samples = 0;
  uint64_t max_lag_events = 0;
  uint64_t lag_errors = 0;
  std::vector<LagSample> timeline;
};

// The verdict on target (b) for one run.
struct LagVerdict {
  bool applicable = false;  // the run asked for at least 50,000 events/s
  bool pass = false;
  double max_ms = 0;     // the slowest probe's visible-after latency
  std::string reasons;   // why it failed, "; "-separated; empty on PASS
};

// Pure: PASS needs at least one probe, no failed probe, max ≤ 1 s and an achieved ingest rate of
// at least 95 % of the asked one (a server that cannot take the load has not met the target,
// however fresh its views).
LagVerdict EvaluateLag(double asked_events_per_s, double achieved_events_per_s,
                       const LagResult& result);

// The projector's lag in events from Views.GetProjectionStatus.
absl::StatusOr<uint64_t> ProjectionLag(const Clients& clients, std::chrono::milliseconds timeout);

// Runs the probe and the sampler on two threads between Start and Stop. Only what happens in
// [window_start, window_end) is counted; everything is kept in the timeline.
class LagProbe {
 public:
  using Clock = std::chrono::steady_clock;

  LagProbe(const Clients& clients, LagOptions options);
  ~LagProbe();
  LagProbe(const LagProbe&) = delete;
  LagProbe& operator=(const LagProbe&) = delete;

  void Start(Clock::time_point window_start, Clock::time_point window_end);
  LagResult Stop();

 private:
  // Thread `k` of `n` sends probes k, k + n, k + 2n, ...
  void ProbeLoop(uint32_t k, uint32_t n);
  void SampleLoop();
  bool InWindow(Clock::time_point t) const { return t >= window_start_ && t < window_end_; }
  // Sleeps until `t` or until Stop; false when stopping.
  bool SleepUntil(Clock::time_point t);

  const Clients& clients_;
  const LagOptions options_;
  Clock::time_point t0_, window_start_, window_end_;

  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  LagResult result_;  // guarded by mu_
  std::vector<std::thread> probes_;
  std::thread sampler_;
};

}  // namespace perfbench
