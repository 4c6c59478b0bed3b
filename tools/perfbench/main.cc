// perfbench: load generator and benchmark for perfledgerd. See README.md in this folder.
//
// Order of a run: connect → fixture (through the API, idempotent) → wait for the views to catch up
// → raw baseline (with --baseline, while the server is idle) → warmup + measured window → report.
// Every phase is bounded in time; the tool only talks to --server and writes only under
// --baseline-dir (or, with --baseline-kafka, to a topic of its own that it deletes afterwards).

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>

#include "tools/perfbench/baseline.h"
#include "tools/perfbench/kafka_baseline.h"
#include "tools/perfbench/client.h"
#include "tools/perfbench/fixture.h"
#include "tools/perfbench/lag.h"
#include "tools/perfbench/procstat.h"
#include "tools/perfbench/report.h"
#include "tools/perfbench/runner.h"
#include "tools/perfbench/workload.h"

namespace perfbench {
namespace {

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0 + 0.5));
}

// A short tag that makes this run's load ids unique: time and pid, in hex.
std::string MakeRunId() {
  const uint64_t now = static_cast<uint64_t>(
      std::chrono::system_clock::now().time_since_epoch() / std::chrono::microseconds(1));
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08llx",
                static_cast<unsigned long long>((now ^ (uint64_t(::getpid()) << 40)) & 0xffffffffffull));
  return buf;
}

absl::StatusOr<ServerCounters> FetchStatus(const Clients& clients) {
  v1::StatusResponse response;
  grpc::ClientContext context;
  clients.Prepare(&context, std::chrono::system_clock::now() + std::chrono::seconds(5));
  const grpc::Status status = clients.at(0).log->Status(&context, v1::StatusRequest(), &response);
  if (!status.ok()) return FromGrpc("Log.Status", status);
  ServerCounters c;
  c.total_events = response.total_events();
  c.commands_accepted = response.commands_accepted();
  c.commands_rejected = response.commands_rejected();
  c.appends = response.appends();
  c.group_commits = response.group_commits();
  for (const v1::ViewLag& view : response.views()) {
    c.max_view_lag = std::max<uint64_t>(c.max_view_lag, view.lag_events());
  }
  // Log.Status leaves `views` empty on the current server, so the projector's own count is
  // what says how far the views are behind. A server without the Views service counts as 0.
  if (absl::StatusOr<uint64_t> lag = ProjectionLag(clients, std::chrono::seconds(5)); lag.ok()) {
    c.max_view_lag = std::max(c.max_view_lag, *lag);
  }
  return c;
}

// Samples the server's RSS on a fixed period and prints progress to stderr during the run.
class Monitor {
 public:
  Monitor(int server_pid, std::chrono::milliseconds period, bool progress, const LiveCounters* live)
      : pid_(server_pid), period_(period), progress_(progress), live_(live), t0_(Clock::now()) {}

  void Start() {
    Sample();
    thread_ = std::thread([this] {
      std::unique_lock lock(mu_);
      while (!cv_.wait_for(lock, period_, [&] { return stop_; })) {
        lock.unlock();
        Sample();
        Progress();
        lock.lock();
      }
    });
  }
  // Stops the thread and takes the final sample. Returns the timeline.
  std::vector<RssSample> Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    SetPhase("end");
    Sample();
    std::lock_guard lock(mu_);
    return samples_;
  }
  void SetPhase(std::string phase) {
    std::lock_guard lock(mu_);
    phase_ = std::move(phase);
  }
  // The measured run starts now: phases warmup → measure → drain follow from the clock.
  void RunStarted(std::chrono::milliseconds warmup, std::chrono::milliseconds duration) {
    std::lock_guard lock(mu_);
    run_start_ = Clock::now();
    warmup_ = warmup;
    duration_ = duration;
    phase_ = "run";
  }

 private:
  std::string PhaseLocked() const {
    if (phase_ != "run") return phase_;
    const auto elapsed = Clock::now() - run_start_;
    if (elapsed < warmup_) return "warmup";
    if (elapsed < warmup_ + duration_) return "measure";
    return "drain";
  }
  void Sample() {
    if (pid_ <= 0) return;
    const std::optional<uint64_t> rss = ReadRssKib(pid_);
    if (!rss) return;
    std::lock_guard lock(mu_);
    samples_.push_back({std::chrono::duration<double>(Clock::now() - t0_).count(), *rss,
                        PhaseLocked()});
  }
  void Progress() {
    if (!progress_ || !live_) return;
    std::string phase;
    uint64_t rss = 0;
    {
      std::lock_guard lock(mu_);
      phase = PhaseLocked();
      if (!samples_.empty()) rss = samples_.back().rss_kib;
    }
    if (phase != "warmup" && phase != "measure" && phase != "drain") return;
    const uint64_t ok = live_->ok.load(), errors = live_->errors.load();
    std::fprintf(stderr, "[perfbench] %6.1fs %-7s ok %llu (+%llu)  errors %llu", 
                 std::chrono::duration<double>(Clock::now() - t0_).count(), phase.c_str(),
                 static_cast<unsigned long long>(ok),
                 static_cast<unsigned long long>(ok - last_ok_),
                 static_cast<unsigned long long>(errors));
    if (pid_ > 0) std::fprintf(stderr, "  server rss %.1f MiB", rss / 1024.0);
    std::fputc('\n', stderr);
    last_ok_ = ok;
  }

  const int pid_;
  const std::chrono::milliseconds period_;
  const bool progress_;
  const LiveCounters* live_;
  const Clock::time_point t0_;
  uint64_t last_ok_ = 0;  // monitor thread only

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::string phase_ = "setup";
  Clock::time_point run_start_;
  std::chrono::milliseconds warmup_{0}, duration_{0};
  std::vector<RssSample> samples_;
  std::thread thread_;
};

// Waits (bounded) until the server's views have applied the log, so one run's projection backlog
// does not slow the next run down. Servers that report no views pass at once. Returns whether
// the views caught up.
bool WaitForViews(const Clients& clients, std::chrono::seconds limit) {
  const auto give_up = Clock::now() + limit;
  bool said = false;
  while (Clock::now() < give_up) {
    absl::StatusOr<ServerCounters> c = FetchStatus(clients);
    if (!c.ok() || c->max_view_lag == 0) {
      if (said) {
        std::fprintf(stderr, "[perfbench] views caught up in %.1f s\n",
                     std::chrono::duration<double>(Clock::now() - (give_up - limit)).count());
      }
      return true;
    }
    if (!said) {
      std::fprintf(stderr, "[perfbench] waiting for views to catch up (lag %llu events)\n",
                   static_cast<unsigned long long>(c->max_view_lag));
      said = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::fprintf(stderr, "[perfbench] views still lag after %llds; measuring anyway\n",
               static_cast<long long>(limit.count()));
  return false;
}

int Main(int argc, char** argv) {
  CLI::App app{"perfbench: drives a running perfledgerd over gRPC and reports throughput, latency "
               "percentiles, server memory and a raw RocksDB baseline measured in the same run."};
  std::string server = "127.0.0.1:7411", token, scenario = "metrics-batch", output = "text";
  std::string policy_file;
  std::string mix_spec = "metric=70,checkin=10,score=10,progress=10";
  std::string baseline_dir = "/tmp";
  std::string baseline_kafka, baseline_kafka_mode = "produce";
  uint32_t baseline_kafka_linger_ms = 0;
  std::vector<std::string> baseline_kafka_set;
  uint32_t concurrency = 32, batch_size = 100, subjects = 1000, io_threads = 2, channels = 0;
  uint32_t lines = 0;
  uint32_t value_bytes = 0, timeout_ms = 5000, probe_interval_ms = 100;
  double duration = 10, warmup = 2, rate = 0, rss_interval = 1;
  int server_pid = 0;
  bool baseline = false, baseline_only = false, no_idempotency_keys = false, quiet = false;

  app.add_option("--server", server, "perfledgerd address host:port")->capture_default_str();
  app.add_option("--token", token, "bearer token (sent as 'authorization: Bearer <token>')");
  app.add_option("--scenario", scenario,
                 "metrics-batch: ObserveMetrics batches; commands: single ObserveMetric "
                 "commands; mixed: single commands drawn from --mix; ranking: GetRanking top-50 "
                 "of an org unit of --subjects people; lag: open-loop metric batches at --rate "
                 "plus a read-your-writes probe of the views; ping: grpc.health.v1.Health/Check, "
                 "the floor of one unary RPC on this server")
      ->check(CLI::IsMember({"metrics-batch", "commands", "mixed", "ranking", "lag", "ping"}))
      ->capture_default_str();
  app.add_option("--mix", mix_spec, "weights for --scenario mixed (metric, checkin, score, "
                 "progress, metrics-batch)")->capture_default_str();
  app.add_option("--concurrency", concurrency, "requests in flight (clients)")
      ->check(CLI::Range(1, 4096))->capture_default_str();
  app.add_option("--batch-size", batch_size, "observations per ObserveMetrics request")
      ->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--duration", duration, "measured seconds")
      ->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  app.add_option("--warmup", warmup, "seconds of load before measuring")
      ->check(CLI::Range(0.0, 600.0))->capture_default_str();
  app.add_option("--rate", rate, "open-loop requests/s across all clients; 0 = closed loop "
                 "(--scenario lag: default 500, i.e. 50,000 events/s in batches of 100)")
      ->check(CLI::Range(0.0, 10000000.0))->capture_default_str();
  app.add_option("--lines", lines,
                 "put the employees on N org units bench-line-<k> under bench-ou (default 0: "
                 "all in bench-ou), so observations roll up over two levels");
  app.add_option("--subjects", subjects, "distinct employees bench-emp-<i> (--scenario ranking: "
                 "the ranked org unit's size, default 100000)")
      ->check(CLI::Range(1, 1000000))->capture_default_str();
  app.add_option("--policy", policy_file,
                 "publish this policy document (YAML or JSON) before the load, so that the reactor "
                 "works as under a deployment's rules, e.g. "
                 "deploy/examples/manufacturing/policy.yaml (its alerts watch defect_rate)")
      ->check(CLI::ExistingFile);
  app.add_flag("--baseline", baseline, "also run the raw RocksDB baseline (before the load)");
  app.add_flag("--baseline-only", baseline_only, "run only the raw baseline; no server needed");
  app.add_option("--baseline-dir", baseline_dir, "parent folder of the scratch baseline database "
                 "(put it on the server's disk)")->capture_default_str();
  app.add_option("--baseline-kafka", baseline_kafka,
                 "bootstrap servers: make the baseline raw librdkafka on this cluster instead of "
                 "RocksDB (idempotent, acks=all, a fresh topic at the cluster's default "
                 "replication), for a server on --log-backend kafka");
  app.add_option("--baseline-kafka-mode", baseline_kafka_mode,
                 "produce: each client's write is its records and their delivery reports; "
                 "transaction: begin, produce, reports, commit (one producer per client)")
      ->check(CLI::IsMember({"produce", "transaction"}))->capture_default_str();
  app.add_option("--baseline-kafka-linger-ms", baseline_kafka_linger_ms,
                 "the baseline producer's linger.ms")->capture_default_str();
  app.add_option("--baseline-kafka-set", baseline_kafka_set,
                 "KEY=VALUE: a librdkafka property of the baseline producers (repeatable)");
  app.add_option("--value-bytes", value_bytes, "baseline value size; 0 = serialized size of a "
                 "typical event envelope of the scenario")->check(CLI::Range(0, 1 << 20));
  app.add_option("--output", output, "report format")
      ->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  app.add_option("--server-pid", server_pid, "perfledgerd pid: sample its RSS and CPU from /proc");
  app.add_option("--rss-interval", rss_interval, "seconds between RSS samples and progress lines")
      ->check(CLI::Range(0.05, 60.0))->capture_default_str();
  app.add_option("--channels", channels, "TCP connections; 0 = one per client (--concurrency)")
      ->check(CLI::Range(0, 4096));
  app.add_option("--io-threads", io_threads, "client completion-queue threads")
      ->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "deadline of each RPC")
      ->check(CLI::Range(1, 600000))->capture_default_str();
  app.add_flag("--no-idempotency-keys", no_idempotency_keys,
               "send load commands without idempotency keys (the fixture always has them)");
  app.add_option("--probe-interval", probe_interval_ms,
                 "--scenario lag: milliseconds between two read-your-writes probes")
      ->check(CLI::Range(1, 60000))->capture_default_str();
  app.add_flag("--quiet", quiet, "no progress lines on stderr");
  CLI11_PARSE(app, argc, argv);
  // Scenario defaults: the targets are about an org unit of 100,000 people and about
  // 50,000 events/s (500 batches of 100); an explicit flag always wins.
  if (scenario == "ranking" && app.count("--subjects") == 0) subjects = 100000;
  if (!baseline_kafka.empty() && !baseline_only) baseline = true;
  if (scenario == "lag" && app.count("--rate") == 0) rate = 500;
  if (scenario == "lag" && rate <= 0) {
    std::cerr << "perfbench: --scenario lag is open loop; it needs --rate > 0\n";
    return 1;
  }

  Report report;
  report.server = server;
  report.scenario = baseline_only ? "baseline-only" : scenario;
  if (scenario == "metrics-batch" || scenario == "lag") {
    report.mix = Mix::Only(EventKind::kMetricBatch);
  } else if (scenario == "ranking") {
    report.mix = Mix::Only(EventKind::kRanking);
  } else if (scenario == "commands") {
    report.mix = Mix::Only(EventKind::kMetric);
  } else if (scenario == "ping") {
    report.mix = Mix::Only(EventKind::kPing);
  } else {
    absl::StatusOr<Mix> mix = Mix::Parse(mix_spec);
    if (!mix.ok()) {
      std::cerr << "perfbench: " << mix.status().message() << '\n';
      return 1;
    }
    report.mix = *mix;
  }
  report.workload.subjects = subjects;
  report.workload.batch_size = batch_size;
  report.workload.idempotency_keys = !no_idempotency_keys;
  report.workload.run_id = MakeRunId();
  report.run_options.warmup = Millis(warmup);
  report.run_options.duration = Millis(duration);
  report.run_options.rate = rate;
  report.run_options.concurrency = concurrency;
  report.run_options.io_threads = io_threads;
  report.run_options.call_timeout = std::chrono::milliseconds(timeout_ms);
  report.channels = channels == 0 ? concurrency : channels;

  // The baseline writes what the scenario's requests append: the same events per write and the
  // mix-weighted size of their stored envelopes.
  double keys = 0, bytes = 0;
  for (EventKind kind : kAllKinds) {
    const double share = double(report.mix.weight(kind)) / report.mix.total();
    keys += share * EventsPerRequest(kind, report.workload);
    bytes += share * TypicalEnvelopeBytes(kind, report.workload);
  }
  BaselineOptions& bo = report.baseline_options;
  bo.parent_dir = baseline_dir;
  bo.threads = concurrency;
  bo.keys_per_batch = std::max<uint32_t>(1, static_cast<uint32_t>(keys + 0.5));
  bo.value_bytes = value_bytes > 0 ? value_bytes : static_cast<size_t>(bytes + 0.5);
  bo.warmup = report.run_options.warmup;
  bo.duration = report.run_options.duration;
  if (!baseline_kafka.empty()) {
    KafkaBaselineOptions kafka;
    kafka.brokers = baseline_kafka;
    kafka.mode = baseline_kafka_mode == "transaction" ? KafkaBaselineMode::kTransaction
                                                      : KafkaBaselineMode::kProduce;
    kafka.linger_ms = baseline_kafka_linger_ms;
    for (const std::string& kv : baseline_kafka_set) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "perfbench: --baseline-kafka-set " << kv << ": expected KEY=VALUE\n";
        return 1;
      }
      kafka.properties.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    report.kafka_baseline = kafka;
  }

  auto print = [&] {
    if (output == "json") {
      PrintJson(report, std::cout);
    } else {
      PrintText(report, std::cout);
    }
  };
  auto run_baseline = [&]() -> bool {
    if (!quiet) {
      std::fprintf(stderr, "[perfbench] baseline: %u threads x %u keys x %zu B, %s, %.1f s\n",
                   bo.threads, bo.keys_per_batch, bo.value_bytes,
                   report.kafka_baseline ? "kafka" : "rocksdb sync", warmup + duration);
    }
    const Clock::time_point started = Clock::now();
    const double self_start = SelfCpuSeconds();
    const std::optional<double> machine_start = MachineBusyCpuSeconds();
    absl::StatusOr<BaselineResult> b =
        report.kafka_baseline ? RunKafkaBaseline(bo, *report.kafka_baseline) : RunBaseline(bo);
    if (!b.ok()) {
      std::cerr << "perfbench: " << b.status().message() << '\n';
      return false;
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    report.baseline_cpu_cores = (SelfCpuSeconds() - self_start) / seconds;
    if (std::optional<double> end = MachineBusyCpuSeconds(); end && machine_start) {
      report.baseline_machine_cpu_cores = (*end - *machine_start) / seconds;
    }
    report.baseline = std::move(*b);
    return true;
  };

  if (baseline_only) {
    if (!run_baseline()) return 1;
    print();
    return 0;
  }

  absl::StatusOr<std::unique_ptr<Clients>> clients =
      Clients::Connect({server, token, report.channels}, std::chrono::seconds(5));
  if (!clients.ok()) {
    std::cerr << "perfbench: " << clients.status().message() << '\n';
    return 1;
  }
  LiveCounters live;
  Monitor monitor(server_pid, Millis(rss_interval), !quiet, &live);
  monitor.Start();

  FixtureOptions fixture_options;
  // The ranking scenario ranks its own org unit's people; the shared fixture gives it only the
  // org unit, manager and cycle.
  fixture_options.subjects = scenario == "ranking" || scenario == "ping" ? 0 : subjects;
  fixture_options.lines = lines;
  fixture_options.goals = report.mix.NeedsGoals();
  if (!quiet) std::fprintf(stderr, "[perfbench] fixture: %u employees%s\n",
                           fixture_options.subjects, fixture_options.goals ? " with goals" : "");
  absl::StatusOr<FixtureSummary> fixture = CreateFixture(**clients, fixture_options);
  if (!fixture.ok()) {
    monitor.Stop();
    std::cerr << "perfbench: " << fixture.status().message() << '\n';
    return 1;
  }
  report.fixture = *fixture;
  if (!policy_file.empty()) {
    std::ifstream in(policy_file, std::ios::binary);
    const std::string document((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    absl::StatusOr<std::string> published =
        PublishPolicy(**clients, document, fixture_options.call_timeout);
    if (!published.ok()) {
      monitor.Stop();
      std::cerr << "perfbench: --policy " << policy_file << ": " << published.status().message()
                << '\n';
      return 1;
    }
    report.policy = policy_file + " (" + *published + ")";
  }
  if (scenario == "ranking") {
    FixtureOptions ranking_options;
    ranking_options.subjects = subjects;
    // Single commands need many in flight for the server's group commit to share its fsyncs.
    ranking_options.threads = 32;
    if (!quiet) {
      std::fprintf(stderr, "[perfbench] ranking fixture: org unit %s of %u people\n",
                   RankOrgUnitId(subjects).c_str(), subjects);
    }
    absl::StatusOr<FixtureSummary> ranked =
        CreateRankingFixture(**clients, ranking_options, !quiet);
    if (!ranked.ok()) {
      monitor.Stop();
      std::cerr << "perfbench: " << ranked.status().message() << '\n';
      return 1;
    }
    report.ranking_fixture = *ranked;
    if (!quiet) {
      std::fprintf(stderr, "[perfbench] ranking fixture: %s in %.1f s\n",
                   ranked->skipped ? "complete already" : "done", ranked->seconds);
    }
    // The projector may be a minute behind a freshly built fixture; measuring reads while it
    // writes would measure the backlog.
    WaitForViews(**clients, std::chrono::seconds(600));
    absl::StatusOr<uint64_t> rows = RankingRows(**clients, subjects, std::chrono::seconds(10));
    if (!rows.ok() || *rows != subjects) {
      monitor.Stop();
      std::cerr << "perfbench: ranking fixture: "
                << (rows.ok() ? "the ranking of " + RankOrgUnitId(subjects) + " has " +
                                    std::to_string(*rows) + " rows, expected " +
                                    std::to_string(subjects)
                              : std::string(rows.status().message()))
                << '\n';
      return 1;
    }
  } else {
    WaitForViews(**clients, std::chrono::seconds(30));
  }

  if (baseline) {
    monitor.SetPhase("baseline");
    if (!run_baseline()) {
      monitor.Stop();
      return 1;
    }
  }

  absl::StatusOr<ServerCounters> before = FetchStatus(**clients);
  const std::optional<double> run_cpu_start =
      server_pid > 0 ? ReadCpuSeconds(server_pid) : std::nullopt;
  const std::map<std::string, double> threads_cpu_start =
      server_pid > 0 ? ReadThreadCpuSeconds(server_pid) : std::map<std::string, double>();
  const double client_cpu_start = SelfCpuSeconds();
  const std::optional<double> machine_cpu_start = MachineBusyCpuSeconds();
  const Clock::time_point run_start = Clock::now();
  monitor.RunStarted(report.run_options.warmup, report.run_options.duration);
  if (!quiet) {
    std::fprintf(stderr, "[perfbench] %s: warmup %.1f s, measure %.1f s\n", scenario.c_str(),
                 warmup, duration);
  }
  std::unique_ptr<Clients> probe_clients;
  std::unique_ptr<LagProbe> probe;
  if (scenario == "lag") {
    ClientOptions probe_connection{server, token, 1, report.channels};
    absl::StatusOr<std::unique_ptr<Clients>> connected =
        Clients::Connect(probe_connection, std::chrono::seconds(5));
    if (!connected.ok()) {
      monitor.Stop();
      std::cerr << "perfbench: probe: " << connected.status().message() << '\n';
      return 1;
    }
    probe_clients = std::move(*connected);
    report.lag_options.probe_interval = std::chrono::milliseconds(probe_interval_ms);
    report.lag_options.call_timeout = report.run_options.call_timeout;
    report.lag_options.probe_employee = EmployeeId(0);
    report.lag_options.run_id = report.workload.run_id;
    report.lag_options.progress = !quiet;
    probe = std::make_unique<LagProbe>(*probe_clients, report.lag_options);
    const Clock::time_point window_start = run_start + report.run_options.warmup;
    probe->Start(window_start, window_start + report.run_options.duration);
  }
  report.run = Run(**clients, report.workload, report.mix, report.run_options, &live);
  if (probe) report.lag = probe->Stop();
  const double run_seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
  report.client_cpu_cores = (SelfCpuSeconds() - client_cpu_start) / run_seconds;
  if (std::optional<double> end = MachineBusyCpuSeconds(); end && machine_cpu_start) {
    report.machine_cpu_cores = (*end - *machine_cpu_start) / run_seconds;
    report.machine_cores = std::thread::hardware_concurrency();
  }
  if (run_cpu_start) {
    if (std::optional<double> end = ReadCpuSeconds(server_pid)) {
      report.server_cpu_cores = (*end - *run_cpu_start) / run_seconds;
    }
    for (const auto& [name, seconds] : ReadThreadCpuSeconds(server_pid)) {
      const auto before_it = threads_cpu_start.find(name);
      const double spent =
          seconds - (before_it == threads_cpu_start.end() ? 0.0 : before_it->second);
      if (spent > 0) report.server_thread_cpu_seconds.emplace_back(name, spent);
    }
    std::sort(report.server_thread_cpu_seconds.begin(), report.server_thread_cpu_seconds.end(),
              [](const auto& a, const auto& b) { return a.second > b.second; });
  }
  report.run_seconds = run_seconds;
  absl::StatusOr<ServerCounters> after = FetchStatus(**clients);
  if (before.ok() && after.ok()) {
    report.status_before = *before;
    report.status_after = *after;
  } else {
    report.status_error = std::string((before.ok() ? after : before).status().message());
  }
  report.rss = monitor.Stop();
  if (server_pid > 0) report.peak_rss_kib = ReadPeakRssKib(server_pid);

  print();
  return report.run->total.ok == 0 ? 3 : 0;
}

}  // namespace
}  // namespace perfbench

int main(int argc, char** argv) { return perfbench::Main(argc, argv); }
