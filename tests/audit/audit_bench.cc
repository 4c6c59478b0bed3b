// Audit benchmark (not a test): builds an embedded log of N events (mostly metric observations,
// like production), then times
//   - VerifyChain over the whole log (target: 1,000,000 events in under 5 s), and
//   - Explain of one action (target: under 10 ms), through the event_index view, whose grade
//     reads a metric of --observations observations (target: explain of a metric grade over
//     10,000 observations under 50 ms p99), and the listing of all those observations.
//
//   perfledger_audit_bench [--events N] [--partitions N] [--explains N] [--threads N]
//
// The log is written without fsync (the benchmark measures the audit, not the disk).
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "ledger/chain_audit.h"
#include "ledger/limits.h"
#include "projections/audit.h"
#include "projections/projector.h"
#include "projections/views/views.h"
#include "tests/views/history.h"

namespace perfledger::views_test {
namespace {

struct Flags {
  uint64_t events = 1'000'000;
  uint32_t partitions = 8;
  int explains = 1000;
  unsigned threads = 0;
  int observations = 10'000;
};

Flags Parse(int argc, char** argv) {
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    const long long v = std::atoll(argv[i + 1]);
    if (name == "--events") f.events = static_cast<uint64_t>(v);
    else if (name == "--partitions") f.partitions = static_cast<uint32_t>(v);
    else if (name == "--explains") f.explains = static_cast<int>(v);
    else if (name == "--threads") f.threads = static_cast<unsigned>(v);
    else if (name == "--observations") f.observations = static_cast<int>(v);
    else {
      std::fprintf(stderr, "unknown flag %s\n", name.c_str());
      std::exit(2);
    }
  }
  return f;
}

// CPU seconds of this process (all threads): the machine may be shared, so wall time alone
// can hide what the verifier itself costs.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

google::protobuf::Timestamp At(int64_t seconds) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  return t;
}

v1::Event Metric(const std::string& employee, int64_t value) {
  v1::Event e;
  auto* m = e.mutable_metric_observed();
  m->set_subject_id(employee);
  m->set_subject_kind(v1::OWNER_KIND_EMPLOYEE);
  m->set_metric("defect_rate");
  m->set_value_milli(value);
  m->set_unit("%");
  m->set_source("IoT");
  m->set_org_unit_id("LINE1");
  m->set_cycle_id("2026H1");
  return e;
}

int Main(int argc, char** argv) {
  const Flags f = Parse(argc, argv);
  ScratchDir dir("audit-bench");
  auto log = OpenLog(dir.Sub("log"), f.partitions);
  const absl::Time build_start = absl::Now();
  LogWriter w(log.get(), /*keep_history=*/false, /*batch=*/5000);
  const int64_t epoch = 1'767'225'600;
  v1::Event policy;
  policy.mutable_policy_published()->set_policy_id("quality");
  policy.mutable_policy_published()->set_version(1);
  policy.mutable_policy_published()->set_document_json(std::string(2000, ' ') + "{}");
  w.Control("policy/quality", policy, At(epoch));
  // The action to explain: a grade reading the mean of --observations observations of a
  // metric, decided under policy version 1.
  const std::string target = "W00007";
  std::string last_input;
  int64_t sum = 0;
  for (int i = 0; i < f.observations; i++) {
    last_input = w.NextEventId();
    w.Data(target, "metrics/" + target, Metric(target, 1500 + i % 7), At(epoch + i));
    sum += 1500 + i % 7;
  }
  const std::string grade_id = w.NextEventId();
  v1::Event grade;
  auto* g = grade.mutable_grade_finalized();
  g->set_employee_id(target);
  g->set_cycle_id("2026H1");
  g->set_grade("A");
  g->set_score_milli(1500);
  g->set_policy_version(1);
  {
    auto* in = g->add_inputs();
    in->set_event_id(last_input);
    in->set_kind("metric:defect_rate");
    in->set_value_milli(1500);
    in->set_count(static_cast<uint64_t>(f.observations));
    in->set_sum_milli(sum);
  }
  w.Data(target, "employee/" + target, grade, At(epoch + 10));
  const std::string action_id = "0123456789abcdef0123456789abcdef";
  v1::Event action;
  auto* a = action.mutable_action_triggered();
  a->set_action_id(action_id);
  a->set_kind(v1::ACTION_KIND_SALARY_ADJUSTMENT);
  a->set_employee_id(target);
  a->set_rule_id("grade.A.raise");
  a->set_policy_version(1);
  a->add_cause_event_ids(grade_id);
  w.Data(target, "action/" + action_id, action, At(epoch + 11));
  uint64_t i = 0;
  while (w.events() < f.events) {
    const std::string employee = absl::StrFormat("W%05d", i % 10'000);
    w.Data(employee, "metrics/" + employee, Metric(employee, static_cast<int64_t>(i % 8000)),
           At(epoch + 100 + static_cast<int64_t>(i)));
    i++;
  }
  if (absl::Status s = w.Flush(); !s.ok()) {
    std::fprintf(stderr, "append: %s\n", s.ToString().c_str());
    return 1;
  }
  uint64_t total = 0;
  const LogEnds ends = log->Ends();
  for (PartitionId p : ends.partitions()) total += ends[p].value();
  std::printf("log: %llu events, %u data partitions, built in %.1f s\n",
              static_cast<unsigned long long>(total), f.partitions,
              absl::ToDoubleSeconds(absl::Now() - build_start));

  for (int run = 0; run < 3; run++) {
    ChainCheckOptions options;
    options.threads = f.threads;
    uint64_t reports = 0;
    options.progress = [&](uint64_t, uint64_t) {
      reports++;
      return true;
    };
    const absl::Time start = absl::Now();
    const double cpu_start = CpuSeconds();
    auto verdict = VerifyChain(*log, options);
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    const double cpu = CpuSeconds() - cpu_start;
    if (!verdict.ok() || !verdict->ok()) {
      std::fprintf(stderr, "verify failed: %s\n",
                   verdict.ok() ? verdict->broken().reason().c_str()
                                : verdict.status().ToString().c_str());
      return 1;
    }
    std::printf("verify run %d: %llu events in %.2f s wall, %.2f s CPU (%.0f events/s, %llu "
                "progress reports)\n",
                run + 1, static_cast<unsigned long long>(verdict->events_checked()), seconds, cpu,
                verdict->events_checked() / seconds, static_cast<unsigned long long>(reports));
  }

  // Explain reads the event index, and a metric input's observations the timeline; fold the
  // whole log into both, then explain repeatedly.
  std::vector<std::unique_ptr<projections::View>> views;
  views.push_back(projections::MakeEventIndexView());
  views.push_back(projections::MakeTimelineView());
  StateStoreOptions store_options;
  store_options.dir = dir.Sub("state");
  projections::Projector::AddFamilies(views, store_options);
  auto store = StateStore::Open(store_options);
  if (!store.ok()) return 1;
  const absl::Time index_start = absl::Now();
  auto p = projections::Projector::Start(log.get(), store->get(), std::move(views));
  if (!p.ok() || !(*p)->WaitCaughtUp(absl::Now() + absl::Hours(1)).ok()) {
    std::fprintf(stderr, "index failed\n");
    return 1;
  }
  std::printf("event index of %llu events built in %.1f s\n",
              static_cast<unsigned long long>(total),
              absl::ToDoubleSeconds(absl::Now() - index_start));
  std::vector<double> micros;
  size_t steps = 0;
  uint64_t counted = 0;
  v1::ExplainRequest request;
  request.set_action_id(action_id);
  for (int k = 0; k < f.explains; k++) {
    const absl::Time start = absl::Now();
    auto explained = projections::Explain(*log, **p, request);
    micros.push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
    if (!explained.ok() || explained->missing_event_ids_size() > 0) {
      std::fprintf(stderr, "explain failed\n");
      return 1;
    }
    steps = static_cast<size_t>(explained->steps_size());
    for (const auto& step : explained->steps()) {
      if (step.has_observations()) counted = step.observations().count();
    }
  }
  std::sort(micros.begin(), micros.end());
  auto pct = [&](double q) { return micros[static_cast<size_t>(q * (micros.size() - 1))]; };
  std::printf("explain (%zu steps, a metric input over %llu observations): p50 %.0f us, p99 %.0f "
              "us, max %.0f us over %d calls\n",
              steps, static_cast<unsigned long long>(counted), pct(0.5), pct(0.99),
              micros.back(), f.explains);
  // Listing every observation of the grade's metric, in pages of the maximum size.
  micros.clear();
  size_t listed = 0;
  for (int k = 0; k < std::max(1, f.explains / 10); k++) {
    v1::ListObservationsRequest list;
    list.set_employee_id(target);
    list.set_cycle_id("2026H1");
    list.set_metric("defect_rate");
    list.set_page_size(limits::kObservationsPageMax);
    const absl::Time start = absl::Now();
    listed = 0;
    do {
      auto page = projections::ListObservations(**p, list);
      if (!page.ok()) {
        std::fprintf(stderr, "list failed: %s\n", page.status().ToString().c_str());
        return 1;
      }
      listed += static_cast<size_t>(page->observations_size());
      list.set_page_token(page->next_page_token());
    } while (!list.page_token().empty());
    micros.push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
  }
  std::sort(micros.begin(), micros.end());
  std::printf("list observations (%zu of them): p50 %.0f us, p99 %.0f us, max %.0f us over %zu "
              "calls\n",
              listed, pct(0.5), pct(0.99), micros.back(), micros.size());
  return 0;
}

}  // namespace
}  // namespace perfledger::views_test

int main(int argc, char** argv) { return perfledger::views_test::Main(argc, argv); }
