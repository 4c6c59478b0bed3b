// Drives load at a server and measures every answer.
//
// The runner keeps `concurrency` slots; a slot is one outstanding RPC with its own reusable
// requests. RPCs use gRPC's async API over a few completion-queue threads rather than one blocking
// thread per client: on a 2-core machine the client shares the CPU with the server, and 32 parked
// threads plus their wake-ups would cost the server measurable time.
//
// Closed loop (rate 0): each slot sends its next request as soon as the previous answer arrives.
// Open loop (rate R): a pacer schedules request i at t0 + i/R whatever the answers do, and the
// latency of a request is measured from that intended time, not from when a slot became free.
// So a server stall shows up in the percentiles instead of silently slowing the client down
// ("coordinated omission"). Slots bound the requests in flight; a request waiting for a slot is
// late and that wait counts in its latency.
//
// Counting: a request belongs to the measurement when its (intended) send time falls inside the
// window [warmup, warmup + duration). After the window no new request starts; in-flight ones are
// awaited, each bounded by its deadline, so the run always ends by itself.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include <grpcpp/grpcpp.h>

#include "tools/perfbench/client.h"
#include "tools/perfbench/histogram.h"
#include "tools/perfbench/workload.h"

namespace perfbench {

struct RunOptions {
  std::chrono::milliseconds warmup{2000};
  std::chrono::milliseconds duration{10000};
  double rate = 0;  // requests/s across all slots; 0 = closed loop
  uint32_t concurrency = 32;
  uint32_t io_threads = 2;
  std::chrono::milliseconds call_timeout{5000};  // per-RPC deadline
};

// Outcomes of one kind of request (or of all kinds).
struct KindStats {
  Histogram latency;  // OK answers only, nanoseconds
  uint64_t ok = 0;
  uint64_t deduplicated = 0;  // OK answers flagged as replays; load ids are unique, so expect 0
  std::map<grpc::StatusCode, uint64_t> errors;
  std::map<grpc::StatusCode, std::string> first_message;  // one example message per code

  uint64_t error_count() const;
  void Merge(const KindStats& other);
};

struct RunResult {
  std::array<KindStats, kKindCount> kinds;
  KindStats total;
  // Open loop only: answer time minus actual send time (the server's share of the latency).
  Histogram service;
  double window_seconds = 0;
  // Open loop only: requests due inside the window that never got a slot before the drain limit.
  uint64_t unsent = 0;
};

// Live progress for a monitor thread while Run works: every answer, warmup and drain included.
struct LiveCounters {
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> errors{0};
};

// Runs one measurement and returns when every RPC has answered or expired.
// `live` may be null. Thread-compatible: one Run at a time per Clients is the intended use.
RunResult Run(const Clients& clients, const WorkloadOptions& workload, const Mix& mix,
              const RunOptions& options, LiveCounters* live);

}  // namespace perfbench
