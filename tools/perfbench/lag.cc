#include "tools/perfbench/lag.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "perfledger/v1/views.grpc.pb.h"

namespace perfbench {
namespace {

uint64_t Nanos(LagProbe::Clock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

}  // namespace

LagVerdict EvaluateLag(double asked_events_per_s, double achieved_events_per_s,
                       const LagResult& result) {
  LagVerdict v;
  v.applicable = asked_events_per_s >= kLagTargetEventsPerSecond;
  v.max_ms = result.visible.max_ns() / 1e6;
  std::vector<std::string> why;
  if (result.probes_ok == 0) why.push_back("no probe succeeded");
  if (result.probe_errors > 0) {
    why.push_back(absl::StrCat(result.probe_errors, " probes failed"));
  }
  if (result.probes_ok > 0 && v.max_ms > kLagTargetSeconds * 1000) {
    why.push_back(absl::StrCat("slowest write visible after ", static_cast<int64_t>(v.max_ms),
                               " ms"));
  }
  if (achieved_events_per_s < kLagTargetRateShare * asked_events_per_s) {
    why.push_back(absl::StrCat("ingest ", static_cast<int64_t>(achieved_events_per_s + 0.5),
                               " events/s is below 95% of the ",
                               static_cast<int64_t>(asked_events_per_s + 0.5), " asked"));
  }
  for (const std::string& w : why) absl::StrAppend(&v.reasons, v.reasons.empty() ? "" : "; ", w);
  v.pass = why.empty();
  return v;
}

absl::StatusOr<uint64_t> ProjectionLag(const Clients& clients, std::chrono::milliseconds timeout) {
  v1::ProjectionStatusResponse response;
  grpc::ClientContext context;
  clients.Prepare(&context, std::chrono::system_clock::now() + timeout);
  const grpc::Status status =
      clients.at(0).views->GetProjectionStatus(&context, v1::ProjectionStatusRequest(), &response);
  if (!status.ok()) return FromGrpc("GetProjectionStatus", status);
  return response.lag_events();
}

LagProbe::LagProbe(const Clients& clients, LagOptions options)
    : clients_(clients), options_(std::move(options)) {}

LagProbe::~LagProbe() { Stop(); }

void LagProbe::Start(Clock::time_point window_start, Clock::time_point window_end) {
  t0_ = Clock::now();
  window_start_ = window_start;
  window_end_ = window_end;
  const uint32_t n = std::max<uint32_t>(1, options_.probe_threads);
  for (uint32_t k = 0; k < n; ++k) probes_.emplace_back([this, k, n] { ProbeLoop(k, n); });
  sampler_ = std::thread([this] { SampleLoop(); });
}

LagResult LagProbe::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  for (std::thread& t : probes_) {
    if (t.joinable()) t.join();
  }
  if (sampler_.joinable()) sampler_.join();
  std::lock_guard lock(mu_);
  return result_;
}

bool LagProbe::SleepUntil(Clock::time_point t) {
  std::unique_lock lock(mu_);
  return !stop_cv_.wait_until(lock, t, [&] { return stop_; });
}

void LagProbe::ProbeLoop(uint32_t k, uint32_t n) {
  v1::ObserveMetricRequest append;
  v1::Observation* o = append.mutable_observation();
  o->set_subject_id(options_.probe_employee);
  o->set_subject_kind(v1::OWNER_KIND_EMPLOYEE);
  o->set_metric("defect_rate");
  o->set_unit("%");
  o->set_source("perfbench-probe");
  o->set_cycle_id("bench-cycle");
  v1::TimelineRequest query;
  query.set_employee_id(options_.probe_employee);
  query.set_page_size(1);  // the answer's size does not matter, only when it comes
  for (uint64_t i = k;; i += n) {
    const Clock::time_point due = t0_ + options_.probe_interval * static_cast<int64_t>(i);
    if (!SleepUntil(due)) return;
    // Lateness does not bias the measurement (it starts at the acknowledgement), but a run
    // whose probes are mostly late probed less often than it says.
    const bool late = Clock::now() - due > options_.probe_interval;
    append.mutable_meta()->set_idempotency_key(
        absl::StrCat("bench-", options_.run_id, "-probe-", i, "-k"));
    o->set_value_milli(static_cast<int64_t>(i % 8000));
    v1::CommandResult appended;
    grpc::ClientContext append_ctx;
    clients_.Prepare(&append_ctx, std::chrono::system_clock::now() + options_.call_timeout);
    const Clock::time_point sent = Clock::now();
    const grpc::Status append_status =
        clients_.at(0).metrics->ObserveMetric(&append_ctx, append, &appended);
    const Clock::time_point acked = Clock::now();
    const bool counted = InWindow(acked);

    grpc::Status query_status = append_status;
    const char* what = "probe ObserveMetric";
    Clock::time_point answered = acked;
    if (append_status.ok() && appended.events_size() == 0) {
      query_status = grpc::Status(grpc::StatusCode::INTERNAL, "acknowledged without a position");
    } else if (append_status.ok()) {
      what = "probe GetTimeline(min_position)";
      query.mutable_consistency()->clear_min_position();
      *query.mutable_consistency()->add_min_position() = appended.events(0).position();
      v1::TimelineResponse timeline;
      grpc::ClientContext query_ctx;
      clients_.Prepare(&query_ctx, std::chrono::system_clock::now() + options_.query_timeout);
      query_status = clients_.at(0).views->GetTimeline(&query_ctx, query, &timeline);
      answered = Clock::now();
    }
    if (!counted) continue;
    std::lock_guard lock(mu_);
    result_.probes_late += late;
    if (query_status.ok()) {
      ++result_.probes_ok;
      result_.append.Record(Nanos(acked - sent));
      result_.visible.Record(Nanos(answered - acked));
    } else {
      ++result_.probe_errors;
      if (result_.first_error.empty()) result_.first_error = std::string(FromGrpc(what, query_status).message());
    }
  }
}

void LagProbe::SampleLoop() {
  for (Clock::time_point due = Clock::now();; due += options_.lag_interval) {
    if (due < Clock::now()) due = Clock::now();
    if (!SleepUntil(due)) return;
    const absl::StatusOr<uint64_t> lag = ProjectionLag(clients_, options_.call_timeout);
    const Clock::time_point now = Clock::now();
    const double t = std::chrono::duration<double>(now - t0_).count();
    std::lock_guard lock(mu_);
    if (!lag.ok()) {
      if (InWindow(now)) ++result_.lag_errors;
      continue;
    }
    result_.timeline.push_back({t, *lag});
    if (InWindow(now)) {
      ++result_.lag_samples;
      result_.max_lag_events = std::max(result_.max_lag_events, *lag);
    }
    if (options_.progress) {
      std::fprintf(stderr, "[perfbench] %6.1fs view lag %llu events; probes ok %llu, failed %llu\n",
                   t, static_cast<unsigned long long>(*lag),
                   static_cast<unsigned long long>(result_.probes_ok),
                   static_cast<unsigned long long>(result_.probe_errors));
    }
  }
}

}  // namespace perfbench
