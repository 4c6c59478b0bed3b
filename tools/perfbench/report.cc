#include "tools/perfbench/report.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "tools/perfbench/client.h"

namespace perfbench {
namespace {

constexpr double kKibPerMib = 1024.0;

uint64_t Micros(uint64_t ns) { return (ns + 500) / 1000; }

std::string Format(const char* fmt, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, value);
  return buf;
}

uint64_t EventsOk(const RunResult& run, const WorkloadOptions& workload) {
  uint64_t events = 0;
  for (EventKind kind : kAllKinds) {
    events += run.kinds[static_cast<size_t>(kind)].ok * EventsPerRequest(kind, workload);
  }
  return events;
}

// The targets that this run's configuration can speak to.
struct Target {
  std::string name;
  double value;
  double limit;
  bool at_least;  // value >= limit passes; else value <= limit passes
  bool pass() const { return at_least ? value >= limit : value <= limit; }
};

// The target (c) is about an org unit of 100,000 people; smaller ones do not speak to it.
constexpr uint32_t kRankingTargetSubjects = 100000;

std::vector<Target> ApplicableTargets(const Report& r) {
  std::vector<Target> targets;
  if (!r.run) return targets;
  const bool closed = r.run_options.rate <= 0;
  const double p99_us = Micros(r.run->total.latency.ValueAtQuantile(0.99));
  if (r.scenario == "metrics-batch" && closed) {
    targets.push_back({"(a) durable events/s >= 100000", r.events_per_second(), 100000, true});
    if (r.baseline) targets.push_back({"(a) ratio to raw baseline >= 0.80", r.ratio(), 0.8, true});
  }
  if (r.scenario == "commands" || r.scenario == "mixed") {
    if (closed && r.run_options.concurrency == 32) {
      targets.push_back({"(b) commands/s from 32 clients >= 8000", r.requests_per_second(), 8000,
                         true});
      targets.push_back({"(b) p99 us from 32 clients <= 10000", p99_us, 10000, false});
    }
    if (r.run_options.rate == 1000) {
      targets.push_back({"(b) commands/s achieved at --rate 1000 >= 990", r.requests_per_second(),
                         990, true});
      targets.push_back({"(b) p99 us at 1000/s <= 2000", p99_us, 2000, false});
    }
  }
  return targets;
}

// Target (c), printed as "X ms": the other targets' format has no unit suffix.
std::optional<Target> RankingTarget(const Report& r) {
  if (!r.run || r.scenario != "ranking" || r.workload.subjects < kRankingTargetSubjects) {
    return std::nullopt;
  }
  const double p99_ms = r.run->total.latency.ValueAtQuantile(0.99) / 1e6;
  return Target{"(c) ranking top-50 p99 <= 2 ms", p99_ms, 2.0, false};
}

std::optional<LagVerdict> LagTarget(const Report& r) {
  if (!r.run || !r.lag) return std::nullopt;
  LagVerdict v = EvaluateLag(r.asked_events_per_second(), r.events_per_second(), *r.lag);
  if (!v.applicable) return std::nullopt;
  return v;
}

std::string Millis(uint64_t ns) { return Format("%.1f", ns / 1e6); }

std::string MillisLine(const Histogram& h) {
  return "p50 " + Millis(h.ValueAtQuantile(0.5)) + "  p90 " + Millis(h.ValueAtQuantile(0.9)) +
         "  p99 " + Millis(h.ValueAtQuantile(0.99)) + "  max " + Millis(h.max_ns());
}

std::string LatencyLine(const Histogram& h) {
  std::string s;
  s += "p50 " + std::to_string(Micros(h.ValueAtQuantile(0.50)));
  s += "  p90 " + std::to_string(Micros(h.ValueAtQuantile(0.90)));
  s += "  p99 " + std::to_string(Micros(h.ValueAtQuantile(0.99)));
  s += "  p999 " + std::to_string(Micros(h.ValueAtQuantile(0.999)));
  s += "  max " + std::to_string(Micros(h.max_ns()));
  s += "  mean " + std::to_string(Micros(static_cast<uint64_t>(h.mean_ns())));
  return s;
}

nlohmann::json LatencyJson(const Histogram& h) {
  return {{"count", h.count()},
          {"p50_us", Micros(h.ValueAtQuantile(0.50))},
          {"p90_us", Micros(h.ValueAtQuantile(0.90))},
          {"p99_us", Micros(h.ValueAtQuantile(0.99))},
          {"p999_us", Micros(h.ValueAtQuantile(0.999))},
          {"max_us", Micros(h.max_ns())},
          {"min_us", Micros(h.min_ns())},
          {"mean_us", h.mean_ns() / 1000.0}};
}

nlohmann::json ErrorsJson(const KindStats& k) {
  nlohmann::json errors = nlohmann::json::object();
  for (const auto& [code, count] : k.errors) {
    const auto message = k.first_message.find(code);
    errors[CodeName(code)] = {
        {"count", count},
        {"example", message == k.first_message.end() ? "" : message->second}};
  }
  return errors;
}

std::string ModeText(const RunOptions& o) {
  return o.rate > 0 ? "open loop at " + Format("%.0f", o.rate) + " req/s" : "closed loop";
}

// At most `limit` samples, evenly spread, always keeping the first and the last.
template <typename Sample>
std::vector<Sample> Thin(const std::vector<Sample>& all, size_t limit) {
  if (all.size() <= limit) return all;
  std::vector<Sample> out;
  for (size_t i = 0; i < limit; ++i) out.push_back(all[i * (all.size() - 1) / (limit - 1)]);
  return out;
}

// What was run, on one line.
void PrintHeader(const Report& r, std::ostream& out) {
  const RunOptions& o = r.run_options;
  if (!r.run) {
    out << "perfbench  " << r.scenario << "  warmup " << o.warmup.count() / 1000.0
        << "s  duration " << o.duration.count() / 1000.0 << "s\n";
    return;
  }
  out << "perfbench  server " << r.server << "  scenario " << r.scenario << "  " << ModeText(o)
      << "  concurrency " << o.concurrency << " (" << r.channels << " connections, "
      << o.io_threads << " io threads)";
  if (r.scenario == "metrics-batch" || r.scenario == "lag") {
    out << "  batch " << r.workload.batch_size;
  }
  if (r.scenario == "ranking") {
    out << "  org unit " << RankOrgUnitId(r.workload.subjects) << " page " << kRankPageSize;
  }
  if (r.scenario == "mixed") {
    out << "  mix";
    for (EventKind kind : kAllKinds) {
      if (r.mix.weight(kind) > 0) out << ' ' << KindName(kind) << '=' << r.mix.weight(kind);
    }
  }
  out << "  subjects " << r.workload.subjects << "  warmup " << o.warmup.count() / 1000.0
      << "s  duration " << o.duration.count() / 1000.0 << "s\n";
}

}  // namespace

double Report::requests_per_second() const {
  return run && run->window_seconds > 0 ? run->total.ok / run->window_seconds : 0;
}

double Report::events_per_second() const {
  return run && run->window_seconds > 0 ? EventsOk(*run, workload) / run->window_seconds : 0;
}

double Report::asked_events_per_second() const {
  if (run_options.rate <= 0) return 0;
  double events = 0;  // per request, weighted by the mix
  for (EventKind kind : kAllKinds) {
    events += double(mix.weight(kind)) / mix.total() * EventsPerRequest(kind, workload);
  }
  return run_options.rate * events;
}

double Report::ratio() const {
  if (!run || !baseline || baseline->keys_per_second() <= 0) return 0;
  return events_per_second() / baseline->keys_per_second();
}

void PrintText(const Report& r, std::ostream& out) {
  const RunOptions& o = r.run_options;
  PrintHeader(r, out);
  if (!r.policy.empty()) out << "policy     " << r.policy << '\n';
  if (r.fixture) {
    out << "fixture    " << r.fixture->created << " created, " << r.fixture->deduplicated
        << " deduplicated, " << r.fixture->existed << " already existed, in "
        << Format("%.2f", r.fixture->seconds) << " s\n";
  }
  if (r.ranking_fixture) {
    const FixtureSummary& f = *r.ranking_fixture;
    out << "fixture    ranking " << RankOrgUnitId(r.workload.subjects) << ": ";
    if (f.skipped) {
      out << "complete already (" << f.rows_before << " rows), nothing sent\n";
    } else {
      out << f.rows_before << " rows before; " << f.created << " commands created, "
          << f.deduplicated << " deduplicated, " << f.existed << " already existed, in "
          << Format("%.1f", f.seconds) << " s";
      if (f.seconds > 0) {
        out << " (" << Format("%.0f", (f.created + f.deduplicated + f.existed) / f.seconds)
            << " commands/s)";
      }
      out << '\n';
    }
  }
  out << '\n';

  // The one-line summary.
  if (r.run) {
    const Histogram& h = r.run->total.latency;
    out << r.scenario;
    if (r.scenario != "ranking" && r.scenario != "ping") out << "  events/s " << Format("%.0f", r.events_per_second());
    out << "  req/s " << Format("%.0f", r.requests_per_second()) << "  p50 "
        << Micros(h.ValueAtQuantile(0.5)) << "us p99 " << Micros(h.ValueAtQuantile(0.99))
        << "us p999 " << Micros(h.ValueAtQuantile(0.999)) << "us";
    if (r.baseline) {
      out << "   baseline " << Format("%.0f", r.baseline->keys_per_second()) << " events/s   ratio "
          << Format("%.2f", r.ratio());
    }
    out << "\n\n";
  }

  if (r.run) {
    const RunResult& run = *r.run;
    out << "requests   ok " << run.total.ok << "  errors " << run.total.error_count()
        << "  deduplicated " << run.total.deduplicated;
    if (o.rate > 0) out << "  unsent " << run.unsent;
    out << "  in " << run.window_seconds << " s\n";
    out << "latency us " << LatencyLine(run.total.latency)
        << (o.rate > 0 ? "   (from the intended send time)" : "") << '\n';
    if (o.rate > 0) out << "service us " << LatencyLine(run.service) << "   (from the actual send)\n";
    for (const auto& [code, count] : run.total.errors) {
      const auto message = run.total.first_message.find(code);
      out << "errors     " << CodeName(code) << ' ' << count << "  e.g. \""
          << (message == run.total.first_message.end() ? "" : message->second) << "\"\n";
    }
    size_t kinds_used = 0;
    for (EventKind kind : kAllKinds) kinds_used += r.mix.weight(kind) > 0;
    if (kinds_used > 1) {
      for (EventKind kind : kAllKinds) {
        const KindStats& k = run.kinds[static_cast<size_t>(kind)];
        if (r.mix.weight(kind) == 0) continue;
        char name[16];
        std::snprintf(name, sizeof name, "%-9s", std::string(KindName(kind)).c_str());
        out << "  " << name << " req/s " << Format("%.0f", k.ok / run.window_seconds)
            << "  errors " << k.error_count() << "  " << LatencyLine(k.latency) << '\n';
      }
    }
  }

  if (r.baseline) {
    const BaselineResult& b = *r.baseline;
    const BaselineOptions& bo = r.baseline_options;
    if (r.kafka_baseline) {
      out << "baseline   kafka " << KafkaBaselineModeName(r.kafka_baseline->mode)
          << " (idempotent, acks=all, linger.ms " << r.kafka_baseline->linger_ms;
      for (const auto& [key, value] : r.kafka_baseline->properties) out << ", " << key << " " << value;
      out << "), "
          << bo.threads << " threads x " << bo.keys_per_batch << " records x " << bo.value_bytes
          << " B to topic " << b.db_path << " on " << r.kafka_baseline->brokers << "\n";
    } else {
      out << "baseline   rocksdb sync WriteBatch, " << bo.threads << " threads x "
          << bo.keys_per_batch << " keys x " << bo.value_bytes << " B in " << b.db_path << "\n";
    }
    out << "baseline   events/s " << Format("%.0f", b.keys_per_second()) << "  batches/s "
        << Format("%.0f", b.batches_per_second()) << "  latency us " << LatencyLine(b.latency)
        << '\n';
    out << "baseline   cpu cores " << Format("%.2f", r.baseline_cpu_cores);
    if (r.baseline_machine_cpu_cores) {
      out << "  other processes "
          << Format("%.2f", std::max(0.0, *r.baseline_machine_cpu_cores - r.baseline_cpu_cores));
    }
    out << '\n';
  }

  if (r.lag) {
    const LagResult& l = *r.lag;
    out << "visible ms " << MillisLine(l.visible) << "   (append acknowledged -> GetTimeline with "
        << "its min_position answered; " << l.probes_ok << " probes every "
        << r.lag_options.probe_interval.count() << " ms, " << l.probe_errors << " failed, "
        << l.probes_late << " started late)\n";
    out << "probe ms   append " << MillisLine(l.append) << '\n';
    if (!l.first_error.empty()) out << "probe      first failure: " << l.first_error << '\n';
    out << "view lag   max " << l.max_lag_events << " events over " << l.lag_samples
        << " samples (GetProjectionStatus every " << r.lag_options.lag_interval.count()
        << " ms";
    if (l.lag_errors > 0) out << ", " << l.lag_errors << " failed";
    out << ")\nview lag timeline (seconds: events)";
    const std::vector<LagSample> shown = Thin(l.timeline, 32);
    for (size_t i = 0; i < shown.size(); ++i) {
      out << (i % 8 == 0 ? "\n  " : " | ") << Format("%.1f", shown[i].t_seconds) << ": "
          << shown[i].lag_events;
    }
    out << '\n';
    if (r.asked_events_per_second() > 0) {
      out << "ingest     asked " << Format("%.0f", r.asked_events_per_second())
          << " events/s, achieved " << Format("%.0f", r.events_per_second()) << " ("
          << Format("%.1f", 100 * r.events_per_second() / r.asked_events_per_second())
          << " %)\n";
    }
  }

  if (r.status_before && r.status_after) {
    const ServerCounters& a = *r.status_before;
    const ServerCounters& z = *r.status_after;
    const uint64_t appends = z.appends - a.appends;
    const uint64_t commits = z.group_commits - a.group_commits;
    out << "server     commands +" << z.commands_accepted - a.commands_accepted << " accepted +"
        << z.commands_rejected - a.commands_rejected << " rejected; events +"
        << z.total_events - a.total_events << "; appends +" << appends << " in " << commits
        << " group commits";
    if (commits > 0) out << " (" << Format("%.1f", double(appends) / commits) << " per commit)";
    out << "; view lag at end " << z.max_view_lag << '\n';
  } else if (!r.status_error.empty()) {
    out << "server     Log.Status: " << r.status_error << '\n';
  }
  if (r.run) {
    // On a shared machine "other" is the noise floor of every number above.
    out << "cpu cores  server " << (r.server_cpu_cores ? Format("%.2f", *r.server_cpu_cores) : "?")
        << "  client " << Format("%.2f", r.client_cpu_cores);
    if (r.machine_cpu_cores) {
      const double other =
          *r.machine_cpu_cores - r.client_cpu_cores - r.server_cpu_cores.value_or(0);
      out << "  other processes " << Format("%.2f", std::max(0.0, other)) << "  (machine busy "
          << Format("%.2f", *r.machine_cpu_cores) << " of " << r.machine_cores << ")";
    }
    out << '\n';
    // CPU per request says what a request costs, whatever else shared the machine.
    if (r.requests_per_second() > 0) {
      out << "cpu us     per request: server "
          << (r.server_cpu_cores
                  ? Format("%.0f", *r.server_cpu_cores * 1e6 / r.requests_per_second())
                  : "?")
          << "  client " << Format("%.0f", r.client_cpu_cores * 1e6 / r.requests_per_second());
      if (r.server_cpu_cores && r.events_per_second() > r.requests_per_second()) {
        out << "   per event: server "
            << Format("%.1f", *r.server_cpu_cores * 1e6 / r.events_per_second());
      }
      out << '\n';
    }
    // Where the server's CPU went, per thread name; per event (or request) so that runs of
    // different lengths compare.
    if (!r.server_thread_cpu_seconds.empty() && r.run_seconds > 0) {
      // As "per event" above: the thread's cores over the run, divided by the measured rate.
      const double rate = std::max(r.events_per_second(), r.requests_per_second());
      out << "cpu threads us per " << (r.events_per_second() > r.requests_per_second()
                                           ? "event"
                                           : "request")
          << ':';
      for (const auto& [name, seconds] : r.server_thread_cpu_seconds) {
        if (rate <= 0) break;
        const double us = seconds / r.run_seconds * 1e6 / rate;
        if (us < 0.05) continue;
        out << ' ' << name << ' ' << Format("%.1f", us);
      }
      out << "  (gRPC handler threads that ended are missing)\n";
    }
  }
  if (!r.rss.empty()) {
    uint64_t max_kib = 0;
    for (const RssSample& s : r.rss) max_kib = std::max(max_kib, s.rss_kib);
    out << "server rss MiB  start " << Format("%.1f", r.rss.front().rss_kib / kKibPerMib)
        << "  max " << Format("%.1f", max_kib / kKibPerMib) << "  end "
        << Format("%.1f", r.rss.back().rss_kib / kKibPerMib);
    if (r.peak_rss_kib) out << "  (VmHWM " << Format("%.1f", *r.peak_rss_kib / kKibPerMib) << ")";
    // "t: MiB" pairs, eight to a line; a phase name marks where each phase begins.
    out << "\nserver rss MiB timeline (seconds: MiB)";
    const std::vector<RssSample> shown = Thin(r.rss, 64);
    std::string last_phase;
    for (size_t i = 0; i < shown.size(); ++i) {
      const RssSample& s = shown[i];
      out << (i % 8 == 0 ? "\n  " : " | ") << Format("%.1f", s.t_seconds) << ": "
          << Format("%.1f", s.rss_kib / kKibPerMib);
      if (s.phase != last_phase) out << " [" << (last_phase = s.phase) << ']';
    }
    out << '\n';
  }

  const std::vector<Target> targets = ApplicableTargets(r);
  for (const Target& t : targets) {
    out << "target     " << t.name << ": " << Format(t.limit < 10 ? "%.2f" : "%.0f", t.value)
        << (t.pass() ? "  PASS" : "  FAIL") << '\n';
  }
  if (std::optional<Target> t = RankingTarget(r)) {
    out << "target     " << t->name << ": " << Format("%.2f", t->value) << " ms"
        << (t->pass() ? "  PASS" : "  FAIL") << '\n';
  }
  if (std::optional<LagVerdict> v = LagTarget(r)) {
    out << "target     (b) view lag under 50k events/s <= 1 s: max " << Format("%.0f", v->max_ms)
        << " ms" << (v->pass ? "  PASS" : "  FAIL (" + v->reasons + ")") << '\n';
  } else if (r.lag) {
    out << "target     (b) view lag: not applicable, the run asked for "
        << Format("%.0f", r.asked_events_per_second()) << " events/s, fewer than 50000\n";
  }
}

void PrintJson(const Report& r, std::ostream& out) {
  using nlohmann::json;
  const RunOptions& o = r.run_options;
  json mix = json::object();
  for (EventKind kind : kAllKinds) {
    if (r.mix.weight(kind) > 0) mix[std::string(KindName(kind))] = r.mix.weight(kind);
  }
  json j = {
      {"scenario", r.scenario},
      {"server", r.server},
      {"config",
       {{"concurrency", o.concurrency},
        {"connections", r.channels},
        {"io_threads", o.io_threads},
        {"rate", o.rate},
        {"batch_size", r.workload.batch_size},
        {"subjects", r.workload.subjects},
        {"warmup_s", o.warmup.count() / 1000.0},
        {"duration_s", o.duration.count() / 1000.0},
        {"idempotency_keys", r.workload.idempotency_keys},
        {"mix", mix}}},
  };
  if (!r.policy.empty()) j["policy"] = r.policy;
  if (r.fixture) {
    j["fixture"] = {{"created", r.fixture->created},
                    {"deduplicated", r.fixture->deduplicated},
                    {"existed", r.fixture->existed},
                    {"seconds", r.fixture->seconds}};
  }
  if (r.run) {
    const RunResult& run = *r.run;
    json kinds = json::object();
    for (EventKind kind : kAllKinds) {
      const KindStats& k = run.kinds[static_cast<size_t>(kind)];
      if (r.mix.weight(kind) == 0) continue;
      kinds[std::string(KindName(kind))] = {{"ok", k.ok},
                                            {"requests_per_s", k.ok / run.window_seconds},
                                            {"errors", ErrorsJson(k)},
                                            {"latency", LatencyJson(k.latency)}};
    }
    j["result"] = {{"ok", run.total.ok},
                   {"errors_total", run.total.error_count()},
                   {"errors", ErrorsJson(run.total)},
                   {"deduplicated", run.total.deduplicated},
                   {"window_s", run.window_seconds},
                   {"requests_per_s", r.requests_per_second()},
                   {"events_per_s", r.events_per_second()},
                   {"latency", LatencyJson(run.total.latency)},
                   {"kinds", kinds}};
    if (o.rate > 0) {
      j["result"]["service_latency"] = LatencyJson(run.service);
      j["result"]["unsent"] = run.unsent;
    }
  }
  if (r.baseline) {
    const BaselineResult& b = *r.baseline;
    j["baseline"] = {{"kind", r.kafka_baseline
                                  ? std::string("kafka ") +
                                        KafkaBaselineModeName(r.kafka_baseline->mode)
                                  : std::string("rocksdb")},
                     {"threads", r.baseline_options.threads},
                     {"keys_per_batch", r.baseline_options.keys_per_batch},
                     {"value_bytes", r.baseline_options.value_bytes},
                     {"dir", b.db_path},
                     {"batches", b.batches},
                     {"events_per_s", b.keys_per_second()},
                     {"batches_per_s", b.batches_per_second()},
                     {"latency", LatencyJson(b.latency)},
                     {"cpu_cores", r.baseline_cpu_cores}};
    if (r.baseline_machine_cpu_cores) {
      j["baseline"]["machine_busy_cpu_cores"] = *r.baseline_machine_cpu_cores;
    }
    if (r.run) j["ratio"] = r.ratio();
  }
  if (r.status_before && r.status_after) {
    const ServerCounters& a = *r.status_before;
    const ServerCounters& z = *r.status_after;
    j["server_status"] = {{"commands_accepted", z.commands_accepted - a.commands_accepted},
                          {"commands_rejected", z.commands_rejected - a.commands_rejected},
                          {"events", z.total_events - a.total_events},
                          {"appends", z.appends - a.appends},
                          {"group_commits", z.group_commits - a.group_commits},
                          {"view_lag_at_end", z.max_view_lag}};
  } else if (!r.status_error.empty()) {
    j["server_status_error"] = r.status_error;
  }
  j["client_cpu_cores"] = r.client_cpu_cores;
  if (r.server_cpu_cores) j["server_cpu_cores"] = *r.server_cpu_cores;
  if (!r.server_thread_cpu_seconds.empty()) {
    nlohmann::json threads = nlohmann::json::object();
    for (const auto& [name, seconds] : r.server_thread_cpu_seconds) threads[name] = seconds;
    j["server_thread_cpu_seconds"] = threads;
  }
  if (r.machine_cpu_cores) {
    j["machine_busy_cpu_cores"] = *r.machine_cpu_cores;
    j["machine_cores"] = r.machine_cores;
  }
  if (!r.rss.empty()) {
    json timeline = json::array();
    for (const RssSample& s : r.rss) {
      timeline.push_back({{"t_s", s.t_seconds}, {"rss_kib", s.rss_kib}, {"phase", s.phase}});
    }
    j["server_rss"] = {{"timeline", timeline}};
    if (r.peak_rss_kib) j["server_rss"]["vmhwm_kib"] = *r.peak_rss_kib;
  }
  if (r.ranking_fixture) {
    const FixtureSummary& f = *r.ranking_fixture;
    j["ranking_fixture"] = {{"org_unit", RankOrgUnitId(r.workload.subjects)},
                            {"rows_before", f.rows_before},
                            {"skipped", f.skipped},
                            {"created", f.created},
                            {"deduplicated", f.deduplicated},
                            {"existed", f.existed},
                            {"seconds", f.seconds}};
  }
  if (r.lag) {
    const LagResult& l = *r.lag;
    json timeline = json::array();
    for (const LagSample& s : l.timeline) {
      timeline.push_back({{"t_s", s.t_seconds}, {"lag_events", s.lag_events}});
    }
    j["lag"] = {{"probe_interval_ms", r.lag_options.probe_interval.count()},
                {"probes_ok", l.probes_ok},
                {"probe_errors", l.probe_errors},
                {"probes_late", l.probes_late},
                {"first_error", l.first_error},
                {"visible", LatencyJson(l.visible)},
                {"probe_append", LatencyJson(l.append)},
                {"max_lag_events", l.max_lag_events},
                {"lag_samples", l.lag_samples},
                {"lag_errors", l.lag_errors},
                {"lag_timeline", timeline},
                {"asked_events_per_s", r.asked_events_per_second()}};
  }
  json targets = json::array();
  for (const Target& t : ApplicableTargets(r)) {
    targets.push_back({{"name", t.name}, {"value", t.value}, {"pass", t.pass()}});
  }
  if (std::optional<Target> t = RankingTarget(r)) {
    targets.push_back({{"name", t->name}, {"value", t->value}, {"pass", t->pass()}});
  }
  if (std::optional<LagVerdict> v = LagTarget(r)) {
    targets.push_back({{"name", "(b) view lag under 50k events/s <= 1 s (max ms)"},
                       {"value", v->max_ms},
                       {"pass", v->pass},
                       {"reasons", v->reasons}});
  }
  j["targets"] = targets;
  out << j.dump(2) << '\n';
}

}  // namespace perfbench
