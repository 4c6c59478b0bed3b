// Rebuild benchmark (not a test): builds an embedded log of mixed events (mostly metric
// observations, plus registrations, grades, check-ins, goals and actions), then times
// Projector::Rebuild over every view and prints events/s.
//
// Baseline: RocksDB alone writing what the rebuild wrote. Every row of the rebuilt views is
// read into memory, then written into a fresh state store opened with the same options, in
// WriteBatches of kBaselineBatchRows rows in key order (the cheapest order for memtable
// inserts), with no log reading and no folding. A rebuild far behind the log folds in bulk
// and ingests SST files instead of writing memtables (projections/projector.h), so it can beat
// this baseline; it is printed so that a slow machine shows as such in the same run.
//
//   perfledger_rebuild_bench [--events N] [--employees N] [--partitions N] [--batch N]
//                            [--rebuilds N] [--bulk-mb N] [--bulk-batch N] [--log DIR]
//
// --bulk-mb sets ProjectorOptions::bulk_bytes (0 folds batch by batch, as a projector close
// to the log's end does), --bulk-batch its bulk_batch_events. --log keeps the log in DIR and
// reuses it when it is already there (for profiling runs).
// The log is written without fsync (the benchmark measures the projector, not the disk).
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "projections/projector.h"
#include "projections/views/views.h"
#include "rocksdb/write_batch.h"
#include "tests/views/history.h"

namespace perfledger::views_test {
namespace {

constexpr size_t kBaselineBatchRows = 10'000;  // rows per WriteBatch of the baseline

struct Flags {
  uint64_t events = 1'000'000;
  int employees = 10'000;
  uint32_t partitions = 8;
  size_t batch = 4096;
  size_t bulk_batch = limits::kProjectorBulkBatchEvents;
  int rebuilds = 2;
  size_t bulk_mb = limits::kProjectorBulkBytesMax >> 20;
  std::string log_dir;
};

Flags Parse(int argc, char** argv) {
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    const long long v = std::atoll(argv[i + 1]);
    if (name == "--events") f.events = static_cast<uint64_t>(v);
    else if (name == "--employees") f.employees = static_cast<int>(v);
    else if (name == "--partitions") f.partitions = static_cast<uint32_t>(v);
    else if (name == "--batch") f.batch = static_cast<size_t>(v);
    else if (name == "--bulk-batch") f.bulk_batch = static_cast<size_t>(v);
    else if (name == "--rebuilds") f.rebuilds = static_cast<int>(v);
    else if (name == "--bulk-mb") f.bulk_mb = static_cast<size_t>(v);
    else if (name == "--log") f.log_dir = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown flag %s\n", name.c_str());
      std::exit(2);
    }
  }
  return f;
}

// The mix of a production log: mostly IoT/ERP metrics, some people events.
void BuildLog(const Flags& f, LogWriter& w) {
  std::mt19937_64 rng(42);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const int64_t epoch = 1'767'225'600;
  auto time = [&] { return Ts(epoch + uniform(0, 365 * 86'400)); };
  const std::vector<std::string> orgs = {"U0", "U1", "U2", "U3", "U4", "U5", "U6", "U7"};
  for (const std::string& org : orgs) {
    v1::Event e;
    e.mutable_org_unit_defined()->set_org_unit_id(org);
    w.Control("org/" + org, e, time());
  }
  v1::Event cycle;
  cycle.mutable_cycle_opened()->set_cycle_id("C1");
  w.Control("cycle/C1", cycle, time());
  std::vector<std::string> employees;
  for (int i = 0; i < f.employees; i++) {
    employees.push_back(absl::StrFormat("E%05d", i));
    v1::Event e;
    auto* r = e.mutable_employee_registered();
    r->set_employee_id(employees.back());
    r->set_name("person");
    r->set_org_unit_id(orgs[static_cast<size_t>(i) % orgs.size()]);
    w.Data(employees.back(), "employee/" + employees.back(), e, time());
  }
  std::vector<std::pair<std::string, std::string>> goals;  // (id, owner)
  uint64_t next = 0;
  while (w.events() < f.events) {
    const std::string& emp = employees[static_cast<size_t>(uniform(0, f.employees - 1))];
    const int64_t roll = uniform(0, 99);
    v1::Event e;
    if (roll < 86) {
      auto* m = e.mutable_metric_observed();
      m->set_subject_id(emp);
      m->set_subject_kind(v1::OWNER_KIND_EMPLOYEE);
      m->set_metric("defect_rate");
      m->set_value_milli(uniform(0, 8000));
      m->set_unit("%");
      m->set_source("IoT");
      m->set_org_unit_id("U1");
      w.Data(emp, "metrics/" + emp, e, time());
    } else if (roll < 90) {
      auto* c = e.mutable_check_in_recorded();
      c->set_check_in_id(absl::StrCat("CI", next++));
      c->set_employee_id(emp);
      c->set_manager_id(employees[0]);
      c->set_notes("weekly one-to-one");
      w.Data(emp, "employee/" + emp, e, time());
    } else if (roll < 93) {
      auto* g = e.mutable_grade_finalized();
      g->set_employee_id(emp);
      g->set_cycle_id("C1");
      g->set_score_milli(uniform(0, 5000));
      g->set_grade(g->score_milli() > 2500 ? "A" : "B");
      g->set_org_unit_id("U1");
      g->set_policy_version(1);
      w.Data(emp, "employee/" + emp, e, time());
    } else if (roll < 95 || goals.empty()) {
      auto* g = e.mutable_goal_set();
      const std::string id = absl::StrCat("G", next++);
      g->set_goal_id(id);
      g->set_cycle_id("C1");
      g->set_owner_kind(v1::OWNER_KIND_EMPLOYEE);
      g->set_owner_id(emp);
      g->set_parent_goal_id(goals.empty() || uniform(0, 3) == 0 ? "" : goals[static_cast<size_t>(uniform(0, static_cast<int64_t>(goals.size()) - 1))].first);
      g->set_title("goal");
      auto* kr = g->add_key_results();
      kr->set_key_result_id("kr1");
      kr->set_target_milli(1000);
      goals.push_back({id, emp});
      w.Data(emp, "goal/" + id, e, time());
    } else if (roll < 98) {
      const auto& [id, owner] = goals[static_cast<size_t>(uniform(0, static_cast<int64_t>(goals.size()) - 1))];
      auto* p = e.mutable_key_result_progress_recorded();
      p->set_goal_id(id);
      p->set_key_result_id("kr1");
      p->set_value_milli(uniform(0, 1000));
      p->set_progress_bp(static_cast<uint32_t>(uniform(0, 10000)));
      w.Data(owner, "goal/" + id, e, time());
    } else {
      auto* a = e.mutable_action_triggered();
      const std::string id = absl::StrCat("A", next++);
      a->set_action_id(id);
      a->set_kind(static_cast<v1::ActionKind>(uniform(1, 5)));
      a->set_employee_id(emp);
      a->set_cycle_id("C1");
      a->set_course_id("K1");
      w.Data(emp, "action/" + id, e, time());
    }
  }
}

// CPU seconds of this process (all threads): the machine may be shared, so wall time alone
// can hide what the projector itself costs.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The process's peak resident memory so far (VmHWM), in MB.
long PeakRssMb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

// Waits until `store` has no memtable to flush and no compaction running, so that one phase's
// background work does not take the CPU from the next phase's measurement.
void Quiesce(StateStore& store, const std::vector<std::string>& families) {
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  for (const std::string& f : families) handles.push_back(store.family(f));
  store.db()->Flush(rocksdb::FlushOptions(), handles).PermitUncheckedError();
  for (int i = 0; i < 600; i++) {
    uint64_t flushes = 0, compactions = 0;
    store.db()->GetIntProperty("rocksdb.num-running-flushes", &flushes);
    store.db()->GetIntProperty("rocksdb.num-running-compactions", &compactions);
    if (flushes == 0 && compactions == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// The number of rows of `family`, or -1 if the two stores' rows differ (key or value).
int64_t CompareFamily(StateStore& a, StateStore& b, const std::string& family) {
  std::unique_ptr<rocksdb::Iterator> x(a.db()->NewIterator(rocksdb::ReadOptions(), a.family(family)));
  std::unique_ptr<rocksdb::Iterator> y(b.db()->NewIterator(rocksdb::ReadOptions(), b.family(family)));
  int64_t rows = 0;
  for (x->SeekToFirst(), y->SeekToFirst(); x->Valid() && y->Valid(); x->Next(), y->Next()) {
    if (x->key() != y->key() || x->value() != y->value()) return -1;
    rows++;
  }
  if (x->Valid() || y->Valid() || !x->status().ok() || !y->status().ok()) return -1;
  return rows;
}

int Main(int argc, char** argv) {
  const Flags f = Parse(argc, argv);
  ScratchDir dir("rebuild-bench");
  auto log = OpenLog(f.log_dir.empty() ? dir.Sub("log") : f.log_dir, f.partitions);
  const absl::Time build_start = absl::Now();
  bool empty = true;
  const LogEnds ends = log->Ends();
  for (PartitionId p : ends.partitions()) empty = empty && ends[p] == Offset(0);
  if (empty) {
    LogWriter writer(log.get(), /*keep_history=*/false, /*batch=*/5000);
    BuildLog(f, writer);
    if (absl::Status s = writer.Flush(); !s.ok()) {
      std::fprintf(stderr, "append: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  uint64_t total = 0;
  const LogEnds built = log->Ends();
  for (PartitionId p : built.partitions()) total += built[p].value();
  std::printf("log: %llu events, %u data partitions, built in %.1f s\n",
              static_cast<unsigned long long>(total), f.partitions,
              absl::ToDoubleSeconds(absl::Now() - build_start));

  auto store = OpenStore(dir.Sub("state"));
  projections::ProjectorOptions options;
  options.batch_events = f.batch;
  options.bulk_batch_events = f.bulk_batch;
  options.bulk_bytes = f.bulk_mb << 20;
  if (f.bulk_mb == 0) options.bulk_lag_events = 0;
  const absl::Time first_start = absl::Now();
  auto p = projections::Projector::Start(log.get(), store.get(), projections::AllViews(), options);
  if (!p.ok()) {
    std::fprintf(stderr, "start: %s\n", p.status().ToString().c_str());
    return 1;
  }
  if (absl::Status s = (*p)->WaitCaughtUp(absl::Now() + absl::Hours(1)); !s.ok()) {
    std::fprintf(stderr, "first fold: %s\n", s.ToString().c_str());
    return 1;
  }
  const double first = absl::ToDoubleSeconds(absl::Now() - first_start);
  std::printf("first fold: %.2f s, %.0f events/s\n", first, total / first);

  double rebuild_rate = 0, rebuild_events = 0;
  for (int i = 0; i < f.rebuilds; i++) {
    const absl::Time start = absl::Now();
    const double cpu_start = CpuSeconds();
    if (absl::Status s = (*p)->Rebuild(absl::Now() + absl::Hours(1)); !s.ok()) {
      std::fprintf(stderr, "rebuild: %s\n", s.ToString().c_str());
      return 1;
    }
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    const double cpu = CpuSeconds() - cpu_start;
    const double events = static_cast<double>((*p)->events_applied());
    std::printf("rebuild %d: %.0f events in %.2f s = %.0f events/s (batches %zu, in bulk %zu; "
                "%.2f CPU s, %.0f events per CPU s)\n",
                i + 1, events, seconds, events / seconds, f.batch, f.bulk_mb > 0 ? f.bulk_batch : 0,
                cpu, events / cpu);
    rebuild_rate = events / seconds;
    rebuild_events = events;
    std::fflush(stdout);
  }
  std::printf("peak RSS after the rebuilds: %ld MB\n", PeakRssMb());
  auto digests = (*p)->Digests();
  if (digests.ok()) {
    for (const auto& d : *digests) {
      std::printf("  view %-12s rows %10llu  %s\n", d.view.c_str(),
                  static_cast<unsigned long long>(d.rows), d.digest_hex.substr(0, 16).c_str());
    }
  }
  if (f.rebuilds == 0) return 0;

  // Baseline: the rebuilt views' rows, written into a fresh store with the same families and
  // options.
  std::vector<std::string> families;
  for (const auto& v : projections::AllViews()) families.push_back(projections::ViewFamily(v->name()));
  auto baseline = OpenStore(dir.Sub("baseline"));
  std::vector<rocksdb::WriteBatch> batches;
  uint64_t rows = 0;
  for (const std::string& family : families) {
    std::unique_ptr<rocksdb::Iterator> it(
        store->db()->NewIterator(rocksdb::ReadOptions(), store->family(family)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (rows % kBaselineBatchRows == 0) batches.emplace_back();
      batches.back().Put(baseline->family(family), it->key(), it->value()).PermitUncheckedError();
      rows++;
    }
  }
  Quiesce(*store, families);
  const absl::Time start = absl::Now();
  const double cpu_start = CpuSeconds();
  for (rocksdb::WriteBatch& batch : batches) {
    if (absl::Status s = baseline->Write(&batch, "baseline"); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const double cpu = CpuSeconds() - cpu_start;
  const double baseline_rate = rebuild_events / seconds;
  std::printf("baseline: %.0f events' rows (%llu rows, %zu batches) written in %.2f s = %.0f "
              "events/s (%.2f CPU s)\n",
              rebuild_events, static_cast<unsigned long long>(rows), batches.size(), seconds,
              baseline_rate, cpu);
  std::printf("ratio rebuild/baseline: %.2f\n", rebuild_rate / baseline_rate);

  // The baseline must have written what the rebuild did, family by family.
  int mismatched = 0;
  uint64_t compared = 0;
  for (const std::string& family : families) {
    const int64_t n = CompareFamily(*store, *baseline, family);
    if (n < 0) {
      std::printf("baseline check: %s differs from the rebuilt family\n", family.c_str());
      mismatched++;
    } else {
      compared += static_cast<uint64_t>(n);
    }
  }
  if (mismatched > 0) return 1;
  std::printf("baseline check: %zu families, %llu rows identical to the rebuilt ones\n",
              families.size(), static_cast<unsigned long long>(compared));
  return 0;
}

}  // namespace
}  // namespace perfledger::views_test

int main(int argc, char** argv) { return perfledger::views_test::Main(argc, argv); }
