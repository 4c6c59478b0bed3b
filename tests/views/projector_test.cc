// projections/projector: exactly-once resume after a stop mid-log, deterministic rebuilds,
// rebuild under concurrent queries, control-version gating and read-your-writes (ARCHITECTURE §5).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "ledger/partitioner.h"
#include "projections/hook_queries.h"
#include "projections/projector.h"
#include "projections/queries.h"
#include "projections/views/views.h"
#include "tests/views/history.h"
#include "tests/support/embedded_log_peer.h"

namespace perfledger::views_test {
namespace {

using projections::Projector;
using projections::ProjectorOptions;

std::unique_ptr<Projector> StartWith(EventLog* log, StateStore* store, ProjectorOptions options,
                                     std::vector<std::unique_ptr<projections::View>> views =
                                         projections::AllViews()) {
  auto p = Projector::Start(log, store, std::move(views), options);
  INFO(p.status().ToString());
  REQUIRE(p.ok());
  return std::move(*p);
}

std::unique_ptr<Projector> StartProjector(EventLog* log, StateStore* store,
                                          size_t batch_events = 4096, size_t apply_threads = 2,
                                          size_t parallel_min_events = 512) {
  ProjectorOptions options;
  options.batch_events = batch_events;
  options.apply_threads = apply_threads;
  options.parallel_min_events = parallel_min_events;
  return StartWith(log, store, options);
}

std::vector<projections::ViewDigest> Digests(Projector& p) {
  auto d = p.Digests();
  INFO(d.status().ToString());
  REQUIRE(d.ok());
  return *d;
}

void RequireSameDigests(const std::vector<projections::ViewDigest>& a,
                        const std::vector<projections::ViewDigest>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); i++) {
    INFO("view " << a[i].view);
    CHECK(a[i].view == b[i].view);
    CHECK(a[i].rows == b[i].rows);
    CHECK(a[i].digest_hex == b[i].digest_hex);
  }
}

void RequireCaughtUp(Projector& p) {
  const absl::Status s = p.WaitCaughtUp(absl::Now() + absl::Seconds(60));
  INFO(s.ToString());
  REQUIRE(s.ok());
}

// The digests of a clean fold of `log` into a fresh store.
std::vector<projections::ViewDigest> CleanDigests(EventLog* log, const std::string& dir,
                                                  size_t batch_events, size_t apply_threads = 2,
                                                  size_t parallel_min_events = 512) {
  auto store = OpenStore(dir);
  auto p = StartProjector(log, store.get(), batch_events, apply_threads, parallel_min_events);
  RequireCaughtUp(*p);
  return Digests(*p);
}

// Appends a random history (tests/views/history.h) of `events` data events; returns how many
// events the log got in all.
uint64_t WriteHistory(EventLog* log, uint64_t seed, int events) {
  LogWriter writer(log, /*keep_history=*/false);
  HistoryOptions history;
  history.seed = seed;
  history.events = events;
  GenerateHistory(history, writer);
  REQUIRE(writer.Flush().ok());
  return writer.events();
}

// Events up to `ends`, all partitions together.
uint64_t Sum(const LogEnds& ends) {
  uint64_t sum = 0;
  for (PartitionId p : ends.partitions()) sum += ends[p].value();
  return sum;
}

TEST_CASE("a projector stopped mid-log resumes exactly once", "[projector]") {
  ScratchDir dir("views-resume");
  auto log = OpenLog(dir.Sub("log"), 4);
  const uint64_t total = WriteHistory(log.get(), 11, 20'000);

  // Stop (destroy) the projector three times part-way, reopening the store each time as a
  // restarted process would; small batches make each stop land between batches mid-log. Each
  // start resumes from the checkpoint written with the last batch before the stop.
  int resumed_mid_log = 0;
  for (uint64_t target : {total / 5, total / 2, total * 4 / 5, total}) {
    auto store = OpenStore(dir.Sub("state"));
    auto p = StartProjector(log.get(), store.get(), /*batch_events=*/16);
    const uint64_t resumed = Sum(p->Applied());
    if (resumed > 0 && resumed < total) resumed_mid_log++;
    if (target == total) {
      RequireCaughtUp(*p);
      CHECK(Sum(p->Applied()) == total);
      // Every event applied exactly once over the four runs.
      break;
    }
    while (resumed + p->events_applied() < target && p->health().ok()) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    REQUIRE(p->health().ok());
  }
  CHECK(resumed_mid_log > 0);

  auto store = OpenStore(dir.Sub("state"));
  auto p = StartProjector(log.get(), store.get(), 16);
  RequireCaughtUp(*p);
  CHECK(Sum(p->Applied()) == total);
  const auto resumed = Digests(*p);

  // Equal to a clean fold in a fresh store, and to a rebuild in place.
  RequireSameDigests(resumed, CleanDigests(log.get(), dir.Sub("clean"), 4096));
  REQUIRE(p->Rebuild(absl::Now() + absl::Seconds(60)).ok());
  RequireSameDigests(resumed, Digests(*p));
}

// Counts events into one row, read back through the row cache on every event: a value that
// did not come from a committed batch would show up as a wrong count.
class CountingView final : public projections::View {
 public:
  std::string_view name() const override { return "counting"; }
  size_t cached_rows() const override { return 4; }
  absl::Status Apply(const v1::Envelope& e, const v1::Event&, projections::ViewTxn& txn) override {
    for (const std::string& key :
         {std::string("total"), "p" + std::to_string(e.position().partition())}) {
      auto current = txn.Get(key);
      if (!current.ok()) return current.status();
      const uint64_t n = *current ? std::stoull(**current) : 0;
      // Both ways into the cache: "total" through its reads, the partitions' counters also
      // through PutReadBack (at commit only, or a discarded batch would leave its counts).
      if (key == "total") txn.Put(key, std::to_string(n + 1));
      else txn.PutReadBack(key, std::to_string(n + 1));
    }
    return absl::OkStatus();
  }
};

TEST_CASE("the row cache holds only committed rows: a discarded batch and a rebuild leave no trace",
          "[projector]") {
  ScratchDir dir("views-row-cache");
  auto log = OpenLog(dir.Sub("log"), 4);
  LogWriter writer(log.get(), /*keep_history=*/false, /*batch=*/50);
  HistoryOptions history;
  history.seed = 5;
  history.events = 3'000;
  GenerateHistory(history, writer);
  REQUIRE(writer.Flush().ok());
  const uint64_t total = writer.events();

  std::vector<std::unique_ptr<projections::View>> views;
  views.push_back(std::make_unique<CountingView>());
  StateStoreOptions store_options;
  store_options.dir = dir.Sub("state");
  Projector::AddFamilies(views, store_options);
  auto store = StateStore::Open(store_options);
  REQUIRE(store.ok());
  ProjectorOptions options;
  options.batch_events = 64;  // many batches; the cache (4 rows) fills and starts over
  // Every third batch is discarded once after it was applied (as when the reactor's append
  // fails) and retried: its rows must not have reached the cache.
  class FailingObserver final : public projections::BatchObserver {
   public:
    void OnBatchStart() override {}
    absl::Status BeforeCommit() override {
      if (batches++ % 3 == 1) return absl::UnavailableError("injected");
      return absl::OkStatus();
    }
    // Each batch commits on its own, as the reactor's do.
    bool AllowsBulk() const override { return false; }
    std::atomic<int> batches{0};
  };
  auto observer = std::make_shared<FailingObserver>();
  const std::atomic<int>& batches = observer->batches;
  options.observer = observer;
  options.linger = absl::ZeroDuration();
  auto p = Projector::Start(log.get(), store->get(), std::move(views), options);
  REQUIRE(p.ok());
  auto count = [&](const std::string& key) -> uint64_t {
    std::string value;
    auto reader = (*p)->Read();
    rocksdb::Status s = reader.db()->Get(rocksdb::ReadOptions(), reader.family("counting"), key,
                                         &value);
    return s.ok() ? std::stoull(value) : 0;
  };
  RequireCaughtUp(**p);
  CHECK(count("total") == total);
  uint64_t per_partition = 0;
  for (int part = 0; part <= 4; part++) per_partition += count("p" + std::to_string(part));
  CHECK(per_partition == total);
  CHECK(batches.load() > 3);

  // A rebuild drops the family: cached counts must go with it.
  REQUIRE((*p)->Rebuild(absl::Now() + absl::Seconds(120)).ok());
  CHECK(count("total") == total);
}

TEST_CASE("rebuilds are deterministic whatever the batch size", "[projector]") {
  ScratchDir dir("views-determinism");
  auto log = OpenLog(dir.Sub("log"), 5);
  WriteHistory(log.get(), 12, 8000);

  auto store = OpenStore(dir.Sub("state"));
  auto p = StartProjector(log.get(), store.get());
  RequireCaughtUp(*p);
  const auto first = Digests(*p);
  for (const auto& d : first) {
    INFO("view " << d.view);
    CHECK(d.rows > 0);  // the history touches every view
  }
  REQUIRE(p->Rebuild(absl::Now() + absl::Seconds(60)).ok());
  RequireSameDigests(first, Digests(*p));
  REQUIRE(p->Rebuild(absl::Now() + absl::Seconds(60)).ok());
  RequireSameDigests(first, Digests(*p));
  // Other batch sizes interleave the partitions differently: same log, same views.
  RequireSameDigests(first, CleanDigests(log.get(), dir.Sub("b1"), 1));
  RequireSameDigests(first, CleanDigests(log.get(), dir.Sub("b7"), 7));
  // Views folded by one thread, or shared out among four from the smallest batch on.
  RequireSameDigests(first, CleanDigests(log.get(), dir.Sub("serial"), 4096, 1));
  RequireSameDigests(first, CleanDigests(log.get(), dir.Sub("parallel"), 64, 4, 1));
}

TEST_CASE("ViewTxn: reads see the batch's own writes over the stored rows", "[projector]") {
  ScratchDir dir("views-txn");
  auto store = OpenStore(dir.Sub("state"));
  rocksdb::DB* db = store->db();
  rocksdb::ColumnFamilyHandle* cf = store->family(projections::ViewFamily("ranking"));
  REQUIRE(cf != nullptr);
  rocksdb::WriteBatch stored;
  for (const char* key : {"a/1", "a/2", "a/4", "b/1", "\xff\xff/1", "\xff\xffz"}) {
    REQUIRE(stored.Put(cf, key, absl::StrCat("stored ", key)).ok());
  }
  REQUIRE(db->Write(rocksdb::WriteOptions(), &stored).ok());

  projections::ViewRows rows;
  projections::ViewTxn txn({.db = db, .family = cf, .rows = &rows});
  txn.Put("a/3", "new");
  txn.Put("a/4", "rewritten");
  txn.Delete("a/2");
  txn.Put("\xff\xff/2", "new");

  CHECK(txn.Get("a/1").value() == std::optional<std::string>("stored a/1"));
  CHECK(txn.Get("a/2").value() == std::nullopt);  // deleted in the batch hides the stored row
  CHECK(txn.Get("a/3").value() == std::optional<std::string>("new"));
  CHECK(txn.Get("a/4").value() == std::optional<std::string>("rewritten"));
  CHECK(txn.Get("a/5").value() == std::nullopt);

  using Rows = std::vector<std::pair<std::string, std::string>>;
  CHECK(txn.Scan("a/").value() ==
        Rows{{"a/1", "stored a/1"}, {"a/3", "new"}, {"a/4", "rewritten"}});
  CHECK(txn.Scan("b/").value() == Rows{{"b/1", "stored b/1"}});
  CHECK(txn.Scan("c/").value().empty());
  // From a key on, at most `limit` rows, the batch's deletions skipped.
  CHECK(txn.Scan("a/", "a/2", 1).value() == Rows{{"a/3", "new"}});
  CHECK(txn.Scan("a/", std::string("a/3\0", 4), 5).value() == Rows{{"a/4", "rewritten"}});
  CHECK(txn.Scan("a/", "", 2).value() == Rows{{"a/1", "stored a/1"}, {"a/3", "new"}});
  CHECK(txn.Scan("b/", "a/9", 5).value() == Rows{{"b/1", "stored b/1"}});
  // A prefix of 0xff bytes has no successor key: the scan must still stop at the prefix.
  CHECK(txn.Scan("\xff\xff/").value() ==
        Rows{{"\xff\xff/1", "stored \xff\xff/1"}, {"\xff\xff/2", "new"}});
  // Nothing reached the database: the batch is written by the projector, with its checkpoint.
  std::string value;
  CHECK(db->Get(rocksdb::ReadOptions(), cf, "a/3", &value).IsNotFound());
  // The batch's rows are kept in key order (the projector writes them in that order).
  std::vector<std::string> keys;
  for (const auto& [key, v] : rows) keys.push_back(key);
  CHECK(std::is_sorted(keys.begin(), keys.end()));
}

TEST_CASE("rebuild while queries run", "[projector]") {
  ScratchDir dir("views-rebuild-queries");
  auto log = OpenLog(dir.Sub("log"), 4);
  WriteHistory(log.get(), 13, 4000);
  auto store = OpenStore(dir.Sub("state"));
  auto p = StartProjector(log.get(), store.get(), 256);
  RequireCaughtUp(*p);
  const auto before = Digests(*p);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> queries{0}, failures{0};
  auto query_loop = [&](int which) {
    uint64_t i = 0;
    while (!stop.load()) {
      auto r = p->Read();
      absl::Status s;
      const std::string emp = absl::StrFormat("E%03d", i++ % 24);
      switch ((which + i) % 6) {
        case 0: {
          v1::RankingRequest q;
          q.set_cycle_id("C1");
          s = projections::QueryRanking(r, q).status();
          break;
        }
        case 1: {
          v1::TimelineRequest q;
          q.set_employee_id(emp);
          s = projections::QueryTimeline(r, q).status();
          break;
        }
        case 2: {
          v1::GoalTreeRequest q;
          q.set_cycle_id("C2");
          s = projections::QueryGoalTree(r, q).status();
          break;
        }
        case 3: {
          v1::ListPayrollItemsRequest q;
          q.set_state(v1::PAYROLL_STATE_PENDING);
          s = projections::QueryPayrollItems(r, q).status();
          break;
        }
        case 4: {
          v1::ListTrainingRequest q;
          q.set_employee_id(emp);
          s = projections::QueryTraining(r, q).status();
          break;
        }
        default: {
          v1::ListPipsRequest q;
          q.set_open_only(true);
          s = projections::QueryPips(r, q).status();
          break;
        }
      }
      queries++;
      if (!s.ok()) failures++;
      // Back-to-back readers starve Rebuild's exclusive lock (glibc's rwlock prefers readers:
      // a rebuild waited 27 s behind two such loops). A short pause keeps this test about
      // crashes and answers, not about that starvation, which is reported separately.
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };
  std::thread a(query_loop, 0), b(query_loop, 3);
  for (int i = 0; i < 3; i++) {
    const absl::Status s = p->Rebuild(absl::Now() + absl::Seconds(60));
    INFO(s.ToString());
    CHECK(s.ok());
  }
  stop = true;
  a.join();
  b.join();
  CHECK(queries.load() > 0);
  CHECK(failures.load() == 0);
  RequireSameDigests(before, Digests(*p));
}

v1::Event Grade(const std::string& employee, int64_t score) {
  v1::Event e;
  auto* g = e.mutable_grade_finalized();
  g->set_employee_id(employee);
  g->set_cycle_id("C1");
  g->set_grade("B");
  g->set_score_milli(score);
  g->set_org_unit_id("U1");
  g->set_policy_version(1);
  return e;
}

v1::Event Policy(uint64_t version) {
  v1::Event e;
  e.mutable_policy_published()->set_policy_id("default");
  e.mutable_policy_published()->set_version(version);
  return e;
}

uint64_t RankingTotal(Projector& p) {
  v1::RankingRequest q;
  q.set_cycle_id("C1");
  auto r = projections::QueryRanking(p.Read(), q);
  REQUIRE(r.ok());
  return r->total();
}

TEST_CASE("a data event waits for the control stream it was decided against", "[projector]") {
  ScratchDir dir("views-gating");
  auto log = OpenLog(dir.Sub("log"), 2);
  auto store = OpenStore(dir.Sub("state"));
  LogWriter writer(log.get(), false);
  writer.Control("policy/default", Policy(1), Ts(1));
  REQUIRE(writer.Flush().ok());
  // Decided against a control stream of 3 events, of which the log holds only 1 so far (on
  // Kafka the control partition can lag the data partitions).
  writer.DataWithControlVersion("E1", "employee/E1", Grade("E1", 3000), Ts(2), 3);
  REQUIRE(writer.Flush().ok());
  const LogPosition gated = writer.last_appended().at(0);
  // A later event of the same partition with no control dependency still waits behind it:
  // a partition is applied in order.
  writer.DataWithControlVersion("E1", "employee/E1", Grade("E1", 4000), Ts(3), 0);
  REQUIRE(writer.Flush().ok());
  const LogPosition behind = writer.last_appended().at(0);
  REQUIRE(behind.partition == gated.partition);

  auto p = StartProjector(log.get(), store.get());
  const absl::Status early = p->WaitFor({gated}, absl::Now() + absl::Milliseconds(300));
  CHECK(absl::IsDeadlineExceeded(early));
  CHECK(p->Applied()[kControlPartition] == Offset(1));
  CHECK(p->Applied()[gated.partition] == gated.offset);
  CHECK(RankingTotal(*p) == 0);

  writer.Control("policy/default", Policy(2), Ts(4));
  REQUIRE(writer.Flush().ok());
  CHECK(absl::IsDeadlineExceeded(
      p->WaitFor({gated}, absl::Now() + absl::Milliseconds(300))));
  writer.Control("policy/default", Policy(3), Ts(5));
  REQUIRE(writer.Flush().ok());
  REQUIRE(p->WaitFor({behind}, absl::Now() + absl::Seconds(10)).ok());
  CHECK(RankingTotal(*p) == 1);
  v1::RankingRequest q;
  q.set_cycle_id("C1");
  auto r = projections::QueryRanking(p->Read(), q);
  REQUIRE(r.ok());
  REQUIRE(r->entries_size() == 1);
  CHECK(r->entries(0).score_milli() == 4000);  // both applied, in partition order
}

TEST_CASE("WaitFor(min_position) gives read-your-writes", "[projector]") {
  ScratchDir dir("views-ryw");
  auto log = OpenLog(dir.Sub("log"), 3);
  auto store = OpenStore(dir.Sub("state"));
  auto p = StartProjector(log.get(), store.get());
  LogWriter writer(log.get(), false);

  for (int i = 0; i < 200; i++) {
    const std::string emp = absl::StrCat("E", i % 17);
    const std::string action = absl::StrCat("A", i);
    v1::Event trigger;
    auto* t = trigger.mutable_action_triggered();
    t->set_action_id(action);
    t->set_kind(i % 2 == 0 ? v1::ACTION_KIND_BONUS : v1::ACTION_KIND_SALARY_ADJUSTMENT);
    t->set_employee_id(emp);
    t->set_cycle_id("C1");
    writer.Data(emp, "action/" + action, trigger, Ts(i));
    v1::Event ack;
    ack.mutable_action_acknowledged()->set_action_id(action);
    ack.mutable_action_acknowledged()->set_consumer_reference(absl::StrCat("ref", i));
    writer.Data(emp, "action/" + action, ack, Ts(i));
    REQUIRE(writer.Flush().ok());

    REQUIRE(p->WaitFor(writer.last_appended(), absl::Now() + absl::Seconds(10)).ok());
    v1::ListPayrollItemsRequest q;
    q.set_employee_id(emp);
    q.set_page_size(1000);
    auto r = projections::QueryPayrollItems(p->Read(), q);
    REQUIRE(r.ok());
    bool seen = false;
    for (const auto& item : r->items()) {
      if (item.action_id() != action) continue;
      seen = true;
      CHECK(item.state() == v1::PAYROLL_STATE_APPLIED);
      CHECK(item.consumer_reference() == absl::StrCat("ref", i));
    }
    INFO("action " << action);
    REQUIRE(seen);
  }

  const LogPosition nowhere{PartitionId(99), Offset(0)};
  CHECK(absl::IsInvalidArgument(p->WaitFor({nowhere}, absl::Now() + absl::Seconds(1))));
}

// KNOWN ISSUE (projections/views/distribution.cc, not fixed here): the view keeps "the policy
// version of the latest grade" per cycle as the last one it applied. Grades of different
// employees live in different partitions, so which one is applied last depends on how the
// projector interleaves partitions: a live fold and a rebuild of the same log disagree, against
// ARCHITECTURE §3 rule 4 and §5. Tagged [!shouldfail]: when the view is fixed (e.g. keep the highest
// version), this test fails and the tag must go.
TEST_CASE("KNOWN ISSUE: distribution policy version depends on partition interleaving",
          "[projector][!shouldfail]") {
  ScratchDir dir("views-mixed-policy");
  auto log = OpenLog(dir.Sub("log"), 4);
  // Two employees whose partitions a rebuild applies in the order (newer grade, older grade).
  std::string newer, older;
  for (int i = 0; i < 100 && (newer.empty() || older.empty()); i++) {
    const std::string id = absl::StrCat("E", i);
    const PartitionId part = DataPartitionFor(id, 4);
    if (part == PartitionId(1) && newer.empty()) newer = id;
    if (part == PartitionId(3) && older.empty()) older = id;
  }
  REQUIRE((!newer.empty() && !older.empty()));
  auto store = OpenStore(dir.Sub("state"));
  auto p = StartProjector(log.get(), store.get());
  LogWriter writer(log.get(), false);
  auto grade = [&](const std::string& emp, uint64_t version) {
    v1::Event e = Grade(emp, 3000);
    e.mutable_grade_finalized()->set_policy_version(version);
    writer.Data(emp, "employee/" + emp, e, Ts(10));
    REQUIRE(writer.Flush().ok());
    REQUIRE(p->WaitCaughtUp(absl::Now() + absl::Seconds(10)).ok());
  };
  writer.Control("policy/default", Policy(1), Ts(1));
  grade(older, 1);
  writer.Control("policy/default", Policy(2), Ts(2));
  grade(newer, 2);
  const auto live = Digests(*p);
  REQUIRE(p->Rebuild(absl::Now() + absl::Seconds(10)).ok());
  RequireSameDigests(live, Digests(*p));
}


// ---------------------------------------------------------------- bulk folding
// (ProjectorOptions::bulk_lag_events): a projector far behind the log keeps its rows in memory
// across batches and writes them as ingested SST files. The thresholds here are tiny, so a
// small history goes through many bulk batches and several ingests.

namespace bulk {

ProjectorOptions Options(size_t batch_events, size_t bulk_bytes) {
  ProjectorOptions options;
  options.batch_events = batch_events;
  options.bulk_batch_events = batch_events;
  options.bulk_lag_events = 500;
  options.bulk_bytes = bulk_bytes;
  options.linger = absl::ZeroDuration();
  return options;
}

}  // namespace bulk

TEST_CASE("a payload that does not parse stops the fold with DATA_LOSS naming the first one",
          "[projector][bulk]") {
  ScratchDir dir("views-bad-payload");
  auto log = OpenLog(dir.Sub("log"), 1);  // one data partition: batch order is offset order
  WriteHistory(log.get(), 31, 3'000);
  const uint64_t end = log->Ends()[PartitionId(1)].value();
  REQUIRE(end > 1000);
  // Two broken payloads in one batch, one in each thread's share of the parsing.
  for (uint64_t offset : {end - 10, uint64_t{10}}) {
    auto stored = log->Read(PartitionId(1), Offset(offset), 1);
    REQUIRE(stored.ok());
    REQUIRE(stored->size() == 1);
    v1::Envelope broken = stored->front();
    broken.set_payload("\xff\xff\xff");  // a truncated varint tag
    REQUIRE(EmbeddedLogTestPeer::Tamper(*log, {PartitionId(1), Offset(offset)}, broken).ok());
  }
  const bool in_bulk = GENERATE(false, true);
  INFO((in_bulk ? "bulk" : "batch by batch"));
  ProjectorOptions options = bulk::Options(8192, size_t{1} << 30);
  if (!in_bulk) options.bulk_lag_events = 0;
  auto store = OpenStore(dir.Sub(in_bulk ? "bulk" : "plain"));
  auto p = StartWith(log.get(), store.get(), options);
  const absl::Status s = p->WaitCaughtUp(absl::Now() + absl::Seconds(60));
  INFO(s.ToString());
  CHECK(absl::IsDataLoss(s));
  CHECK(absl::StrContains(s.message(), "partition 1 offset 10: payload does not parse"));
  // Nothing of the batch was applied.
  CHECK(p->Applied()[PartitionId(1)] == Offset(0));
  CHECK(p->events_applied() == 0);
}

TEST_CASE("bulk folding writes the same views as folding batch by batch", "[projector][bulk]") {
  ScratchDir dir("views-bulk");
  auto log = OpenLog(dir.Sub("log"), 5);
  const uint64_t total = WriteHistory(log.get(), 21, 12'000);
  // Batch by batch: bulk folding off.
  ProjectorOptions plain;
  plain.bulk_lag_events = 0;
  std::vector<projections::ViewDigest> expected;
  {
    auto store = OpenStore(dir.Sub("plain"));
    auto p = StartWith(log.get(), store.get(), plain);
    RequireCaughtUp(*p);
    expected = Digests(*p);
  }
  struct Case {
    const char* name;
    size_t batch_events, bulk_bytes, apply_threads;
  };
  for (const Case& c : {Case{"one ingest", 256, 1 << 30, 2}, Case{"many ingests", 64, 32 << 10, 2},
                        Case{"one thread", 97, 100 << 10, 1},
                        Case{"four threads", 128, 64 << 10, 4}}) {
    DYNAMIC_SECTION(c.name) {
      auto store = OpenStore(dir.Sub(c.name));
      ProjectorOptions options = bulk::Options(c.batch_events, c.bulk_bytes);
      options.apply_threads = c.apply_threads;
      options.parallel_min_events = 1;
      auto p = StartWith(log.get(), store.get(), options);
      RequireCaughtUp(*p);
      RequireSameDigests(expected, Digests(*p));
      CHECK(p->events_applied() == total);
      // A rebuild in place folds in bulk again, over the ingested files it drops.
      REQUIRE(p->Rebuild(absl::Now() + absl::Seconds(60)).ok());
      RequireSameDigests(expected, Digests(*p));
      // The fold is back to batch by batch at the log's end: a new event is applied and
      // visible promptly.
      v1::Event e;
      e.mutable_org_unit_defined()->set_org_unit_id("U-late");
      LogWriter late(log.get(), false);
      late.Control("org/U-late", e, Ts(1'800'000'000));
      REQUIRE(late.Flush().ok());
      RequireCaughtUp(*p);
      CHECK(p->events_applied() == total + 1);
    }
  }
}

TEST_CASE("a projector stopped during a bulk fold resumes from its last ingest, exactly once",
          "[projector][bulk]") {
  ScratchDir dir("views-bulk-resume");
  auto log = OpenLog(dir.Sub("log"), 4);
  const uint64_t total = WriteHistory(log.get(), 22, 20'000);
  // Stopped (destroyed) part-way, three times: what was folded since the last ingest is lost
  // with the process and folded again by the next one; Applied() never counts it.
  int resumed_mid_log = 0;
  for (uint64_t target : {total / 4, total / 2, total * 3 / 4}) {
    auto store = OpenStore(dir.Sub("state"));
    auto p = StartWith(log.get(), store.get(), bulk::Options(64, 48 << 10));
    const uint64_t resumed = Sum(p->Applied());
    if (resumed > 0 && resumed < total) resumed_mid_log++;
    while (resumed + p->events_applied() < target && p->health().ok()) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    REQUIRE(p->health().ok());
    CHECK(Sum(p->Applied()) <= resumed + p->events_applied());
  }
  CHECK(resumed_mid_log > 0);
  auto store = OpenStore(dir.Sub("state"));
  auto p = StartWith(log.get(), store.get(), bulk::Options(64, 48 << 10));
  RequireCaughtUp(*p);
  CHECK(Sum(p->Applied()) == total);
  ProjectorOptions plain;
  plain.bulk_lag_events = 0;
  auto clean_store = OpenStore(dir.Sub("clean"));
  auto clean = StartWith(log.get(), clean_store.get(), plain);
  RequireCaughtUp(*clean);
  RequireSameDigests(Digests(*clean), Digests(*p));
}

// Counts events into one row per partition; fails once with UNAVAILABLE at a chosen event, in
// the middle of a bulk fold's uncommitted batches.
class FlakyCountingView final : public projections::View {
 public:
  explicit FlakyCountingView(uint64_t fail_at_offset) : fail_at_(fail_at_offset) {}
  std::string_view name() const override { return "counting"; }
  absl::Status Apply(const v1::Envelope& e, const v1::Event&, projections::ViewTxn& txn) override {
    if (e.position().partition() == 1 && e.position().offset() == fail_at_ && !failed_) {
      failed_ = true;
      return absl::UnavailableError("injected");
    }
    const std::string key = "p" + std::to_string(e.position().partition());
    auto current = txn.Get(key);
    if (!current.ok()) return current.status();
    const uint64_t n = *current ? std::stoull(**current) : 0;
    txn.Put(key, std::to_string(n + 1));
    // Rows written once each, so the pending batches hold many rows.
    txn.Put(absl::StrCat("e/", e.position().partition(), "/", e.position().offset()), "x");
    return absl::OkStatus();
  }
  bool failed_ = false;

 private:
  uint64_t fail_at_;
};

TEST_CASE("a bulk fold that fails drops its uncommitted batches and folds them again",
          "[projector][bulk]") {
  ScratchDir dir("views-bulk-retry");
  auto log = OpenLog(dir.Sub("log"), 4);
  const uint64_t total = WriteHistory(log.get(), 23, 6'000);
  const LogEnds ends = log->Ends();
  REQUIRE(ends[PartitionId(1)] > Offset(1000));

  // All the batches before the failure uncommitted, or most of them ingested, or being
  // ingested by another thread when it happens.
  const size_t bulk_bytes = GENERATE(size_t{1} << 30, size_t{16} << 10, size_t{64} << 10);
  INFO("bulk_bytes " << bulk_bytes);
  std::vector<std::unique_ptr<projections::View>> views;
  auto flaky = std::make_unique<FlakyCountingView>(ends[PartitionId(1)].value() * 2 / 3);
  FlakyCountingView* raw = flaky.get();
  views.push_back(std::move(flaky));
  StateStoreOptions store_options;
  store_options.dir = dir.Sub(absl::StrCat("state-", bulk_bytes));
  Projector::AddFamilies(views, store_options);
  auto store = StateStore::Open(store_options);
  REQUIRE(store.ok());
  auto p = StartWith(log.get(), store->get(), bulk::Options(64, bulk_bytes), std::move(views));
  RequireCaughtUp(*p);
  CHECK(raw->failed_);
  CHECK(p->events_applied() == total);
  uint64_t counted = 0;
  for (PartitionId part : ends.partitions()) {
    std::string value;
    auto reader = p->Read();
    rocksdb::Status s = reader.db()->Get(rocksdb::ReadOptions(), reader.family("counting"),
                                         "p" + std::to_string(part.value()), &value);
    REQUIRE(s.ok());
    CHECK(std::stoull(value) == ends[part].value());
    counted += std::stoull(value);
  }
  CHECK(counted == total);
}

TEST_CASE("ViewTxn: a bulk fold's earlier batches are read newest first, over the stored rows",
          "[projector][bulk]") {
  ScratchDir dir("views-txn-pending");
  auto store = OpenStore(dir.Sub("state"));
  rocksdb::DB* db = store->db();
  rocksdb::ColumnFamilyHandle* cf = store->family(projections::ViewFamily("ranking"));
  rocksdb::WriteBatch stored;
  for (const char* key : {"a/1", "a/2", "a/3", "a/9"}) {
    REQUIRE(stored.Put(cf, key, absl::StrCat("stored ", key)).ok());
  }
  REQUIRE(db->Write(rocksdb::WriteOptions(), &stored).ok());

  projections::PendingRows pending(3);
  pending[0]["a/1"] = "old";
  pending[0]["a/4"] = "old";
  pending[0]["a/5"] = "old";
  pending[1]["a/1"] = "newer";
  pending[1]["a/2"] = std::nullopt;  // deleted by a later batch
  pending[1]["a/6"] = "newer";
  pending[2]["a/4"] = std::nullopt;
  pending[2]["a/7"] = "newest";
  projections::ViewRows rows;
  projections::ViewTxn txn({.db = db, .family = cf, .rows = &rows, .pending = &pending});
  txn.Put("a/5", "this batch");

  CHECK(txn.Get("a/1").value() == std::optional<std::string>("newer"));
  CHECK(txn.Get("a/2").value() == std::nullopt);
  CHECK(txn.Get("a/3").value() == std::optional<std::string>("stored a/3"));
  CHECK(txn.Get("a/4").value() == std::nullopt);
  CHECK(txn.Get("a/5").value() == std::optional<std::string>("this batch"));
  CHECK(txn.Get("a/6").value() == std::optional<std::string>("newer"));
  using Rows = std::vector<std::pair<std::string, std::string>>;
  const Rows all = {{"a/1", "newer"}, {"a/3", "stored a/3"}, {"a/5", "this batch"},
                    {"a/6", "newer"}, {"a/7", "newest"},     {"a/9", "stored a/9"}};
  CHECK(txn.Scan("a/").value() == all);
  CHECK(txn.Scan("a/", "a/2", 2).value() == Rows(all.begin() + 1, all.begin() + 3));
  // Reading merged the batches as it went (fewer maps to look through), keeping every
  // deletion: a merged map still hides the stored rows it deleted.
  CHECK(pending.size() < 3);
  CHECK(txn.Get("a/2").value() == std::nullopt);
  CHECK(txn.Scan("a/").value() == all);
}

}  // namespace
}  // namespace perfledger::views_test
