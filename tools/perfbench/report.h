// Turns a run's measurements into the text or JSON report.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tools/perfbench/baseline.h"
#include "tools/perfbench/kafka_baseline.h"
#include "tools/perfbench/fixture.h"
#include "tools/perfbench/lag.h"
#include "tools/perfbench/runner.h"
#include "tools/perfbench/workload.h"

namespace perfbench {

// One server RSS reading; `phase` says what perfbench was doing (setup, baseline, warmup,
// measure, drain, end).
struct RssSample {
  double t_seconds = 0;  // since perfbench started
  uint64_t rss_kib = 0;
  std::string phase;
};

// Counters from Log.Status, before and after the run.
struct ServerCounters {
  uint64_t total_events = 0;
  uint64_t commands_accepted = 0;
  uint64_t commands_rejected = 0;
  uint64_t appends = 0;
  uint64_t group_commits = 0;
  uint64_t max_view_lag = 0;  // largest lag over the views the server reports
};

struct Report {
  // What was run.
  std::string scenario;  // metrics-batch, commands, mixed, ranking, lag, baseline-only
  std::string server;
  std::string policy;  // --policy: the file and the published stream@version
  Mix mix;
  WorkloadOptions workload;
  RunOptions run_options;
  uint32_t channels = 0;

  std::optional<FixtureSummary> fixture;
  std::optional<FixtureSummary> ranking_fixture;  // --scenario ranking
  std::optional<RunResult> run;
  // --scenario lag: the probe's and the sampler's findings, and how often they looked.
  std::optional<LagResult> lag;
  LagOptions lag_options;

  std::optional<BaselineResult> baseline;
  BaselineOptions baseline_options;
  std::optional<KafkaBaselineOptions> kafka_baseline;  // set: the baseline is raw Kafka
  double baseline_cpu_cores = 0;                     // this process while the baseline ran
  std::optional<double> baseline_machine_cpu_cores;  // every process, same interval

  // Server side (with --server-pid / when Log.Status answers).
  std::vector<RssSample> rss;
  std::optional<uint64_t> peak_rss_kib;
  std::optional<double> server_cpu_cores;  // over warmup + measurement + drain
  // CPU seconds per server thread name over the same interval, most first (threads that
  // ended during the run are missing).
  std::vector<std::pair<std::string, double>> server_thread_cpu_seconds;
  double run_seconds = 0;  // the interval of the CPU figures
  std::optional<ServerCounters> status_before, status_after;
  std::string status_error;  // why Log.Status gave nothing, when it did not
  double client_cpu_cores = 0;
  std::optional<double> machine_cpu_cores;  // every process on the machine, same interval
  unsigned machine_cores = 0;

  // Derived numbers, 0 without a run.
  double requests_per_second() const;
  double events_per_second() const;
  // Open loop: the events/s the run asked for (rate × events per request); 0 in closed loop.
  double asked_events_per_second() const;
  // Server events/s over baseline keys/s; 0 without both.
  double ratio() const;
};

void PrintText(const Report& report, std::ostream& out);
void PrintJson(const Report& report, std::ostream& out);

}  // namespace perfbench
