// AlertWindow (projections/alert_window.h) against its model, policy::RollingWindow: random
// observations (in order, late, out of order, equal times, far in the future) through a real
// state store, the batch committed at random points the way the projector commits it, the
// window loaded for a rule's aggregate that now and then changes (a new policy version). After
// every observation all four aggregates and the size must equal the model's; at the end the
// stored samples are exactly the window and the stored candidates exactly the monotonic queue
// of those samples.

#include <catch2/catch.hpp>

#include <random>

#include "ledger/policy_eval.h"
#include "ledger/rocks_util.h"
#include "perfledger/internal/reactor.pb.h"
#include "projections/alert_window.h"
#include "projections/keys.h"
#include "tests/views/history.h"

namespace perfledger::views_test {
namespace {

using projections::AlertWindow;
using projections::ViewRows;
using projections::ViewTxn;

constexpr policy::Aggregate kAggregates[] = {policy::Aggregate::kMean, policy::Aggregate::kLast,
                                            policy::Aggregate::kMax, policy::Aggregate::kMin};

// A scratch state store and the family the windows under test write to: any view's family
// will do, the window only needs rows.
struct WindowStore {
  explicit WindowStore(const std::string& name)
      : dir(name), store(OpenStore(dir.Sub("state"))), db(store->db()),
        cf(store->family(projections::ViewFamily("ranking"))) {
    REQUIRE(cf != nullptr);
  }
  ScratchDir dir;
  std::unique_ptr<StateStore> store;
  rocksdb::DB* db;
  rocksdb::ColumnFamilyHandle* cf;
};

// Writes the batch's rows the way the projector does, and starts a new batch.
void Commit(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, ViewRows& rows) {
  rocksdb::WriteBatch batch;
  for (const auto& [key, value] : rows) {
    if (value) REQUIRE(batch.Put(cf, key, *value).ok());
    else REQUIRE(batch.Delete(cf, key).ok());
  }
  REQUIRE(db->Write(rocksdb::WriteOptions(), &batch).ok());
  rows.clear();
}

// Rows of the family with a prefix, as stored: key without the prefix, and value.
std::vector<std::pair<std::string, int64_t>> StoredRows(rocksdb::DB* db,
                                                        rocksdb::ColumnFamilyHandle* cf,
                                                        const std::string& prefix) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
  std::vector<std::pair<std::string, int64_t>> out;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    out.emplace_back(it->key().ToString().substr(prefix.size()),
                     static_cast<int64_t>(GetBigEndian64(it->value().ToStringView())));
  }
  return out;
}

// The candidates as stored: suffix and value, in key order. Each must link to its neighbours in
// that order (CHECKed here).
std::vector<std::pair<std::string, int64_t>> StoredCandidates(rocksdb::DB* db,
                                                              rocksdb::ColumnFamilyHandle* cf,
                                                              const std::string& prefix) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
  std::vector<std::pair<std::string, int64_t>> out;
  std::vector<internal::WindowCandidate> nodes;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    internal::WindowCandidate node;
    REQUIRE(node.ParseFromString(it->value().ToString()));
    out.emplace_back(it->key().ToString().substr(prefix.size()), node.value());
    nodes.push_back(node);
  }
  for (size_t i = 0; i < nodes.size(); i++) {
    CHECK(nodes[i].prev() == (i > 0 ? out[i - 1].first : ""));
    CHECK(nodes[i].next() == (i + 1 < nodes.size() ? out[i + 1].first : ""));
  }
  return out;
}

// The candidates a max (min) window must keep: the samples greater (smaller) than every later
// one, computed the plain way.
std::vector<std::pair<std::string, int64_t>> ExpectedCandidates(
    const std::vector<std::pair<std::string, int64_t>>& samples, policy::Aggregate aggregate) {
  std::vector<std::pair<std::string, int64_t>> out;
  if (aggregate != policy::Aggregate::kMax && aggregate != policy::Aggregate::kMin) return out;
  for (size_t i = 0; i < samples.size(); i++) {
    bool kept = true;
    for (size_t j = i + 1; j < samples.size() && kept; j++) {
      kept = aggregate == policy::Aggregate::kMax ? samples[j].second < samples[i].second
                                                  : samples[j].second > samples[i].second;
    }
    if (kept) out.push_back(samples[i]);
  }
  return out;
}

TEST_CASE("alert window: rows-backed window equals RollingWindow over random observations",
          "[alert_window]") {
  WindowStore ws("alert-window");
  rocksdb::DB* db = ws.db;
  rocksdb::ColumnFamilyHandle* cf = ws.cf;

  for (uint64_t seed = 1; seed <= 24; seed++) {
    std::mt19937_64 rng(seed);
    const uint32_t days = 1 + static_cast<uint32_t>(rng() % 3);
    const size_t cap = seed % 3 == 0 ? 1 : 2 + rng() % 40;
    const std::string subject = "S" + std::to_string(seed);
    policy::Aggregate tracked = kAggregates[seed % 4];
    policy::RollingWindow model(days, cap);
    ViewRows rows;
    int64_t clock = 1'700'000'000;
    for (int i = 0; i < 600; i++) {
      // Now and then the rule's aggregate changes: the window rebuilds its candidates.
      if (rng() % 60 == 0) tracked = kAggregates[rng() % 4];
      INFO("seed " << seed << " step " << i << " days " << days << " cap " << cap
                   << " tracked " << policy::ToString(tracked));
      // Mostly forward in small steps; sometimes late (up to two windows back), a tie, or a jump.
      const uint64_t kind = rng() % 20;
      int64_t at = clock;
      if (kind < 12) {
        clock += static_cast<int64_t>(rng() % 7200);
        at = clock;
      } else if (kind < 16) {
        at = clock - static_cast<int64_t>(rng() % (2 * 86400 * days));
      } else if (kind == 16) {
        clock += 86400 * days + static_cast<int64_t>(rng() % 86400);  // everything expires
        at = clock;
      }
      const int32_t nanos = static_cast<int32_t>(rng() % 3) * 500'000'000;
      // Few distinct values in some runs, so that ties are common.
      const int64_t value = seed % 2 == 0 ? static_cast<int64_t>(rng() % 20'001) - 10'000
                                          : static_cast<int64_t>(rng() % 5);
      google::protobuf::Timestamp ts = Ts(at, nanos);

      ViewTxn txn({.db = db, .family = cf, .rows = &rows});
      auto window = AlertWindow::Load(txn, "rule", subject, days, tracked, cap);
      REQUIRE(window.ok());
      REQUIRE(window->Add(txn, ts, value).ok());
      model.Add(ts, value);
      CHECK(window->size() == model.size());
      for (policy::Aggregate a : kAggregates) {
        auto got = window->Aggregate(txn, a);
        REQUIRE(got.ok());
        CHECK(*got == model.Aggregate(a));
      }
      if (rng() % 4 == 0) Commit(db, cf, rows);
    }
    Commit(db, cf, rows);
    // Evicted samples are deleted, not just skipped: the rows are exactly the window.
    const auto samples = StoredRows(db, cf, projections::Key({"ws", "rule", subject}) + "/");
    CHECK(samples.size() == model.size());
    CHECK(StoredCandidates(db, cf, projections::Key({"wx", "rule", subject}) + "/") ==
          ExpectedCandidates(samples, tracked));
  }
}

TEST_CASE("alert window: max and min over a long falling, then rising series",
          "[alert_window]") {
  // Every sample of a falling series is a max candidate, and every one of a rising series
  // evicts all the others: both extremes of the queue's work, over a full-size window.
  WindowStore ws("alert-window-series");
  rocksdb::DB* db = ws.db;
  rocksdb::ColumnFamilyHandle* cf = ws.cf;
  for (policy::Aggregate a : {policy::Aggregate::kMax, policy::Aggregate::kMin}) {
    policy::RollingWindow model(1, 100);
    ViewRows rows;
    for (int i = 0; i < 2000; i++) {
      INFO(policy::ToString(a) << " step " << i);
      const int64_t value = i < 1000 ? 1'000'000 - i : i;  // falling, then rising
      const google::protobuf::Timestamp ts = Ts(1'700'000'000 + i * 60, 0);
      ViewTxn txn({.db = db, .family = cf, .rows = &rows});
      auto window = AlertWindow::Load(txn, "series", policy::ToString(a), 1, a, 100);
      REQUIRE(window.ok());
      REQUIRE(window->Add(txn, ts, value).ok());
      model.Add(ts, value);
      auto got = window->Aggregate(txn, a);
      REQUIRE(got.ok());
      CHECK(*got == model.Aggregate(a));
      Commit(db, cf, rows);
    }
    const std::string subject(policy::ToString(a));
    const auto samples = StoredRows(db, cf, projections::Key({"ws", "series", subject}) + "/");
    CHECK(samples.size() == 100);
    CHECK(StoredCandidates(db, cf, projections::Key({"wx", "series", subject}) + "/") ==
          ExpectedCandidates(samples, a));
  }
}

TEST_CASE("alert window: a header from before samples were rows is migrated", "[alert_window]") {
  WindowStore ws("alert-window-migrate");
  rocksdb::DB* db = ws.db;
  rocksdb::ColumnFamilyHandle* cf = ws.cf;
  internal::WindowState old;
  old.set_breached(true);
  policy::RollingWindow model(30);
  for (int i = 0; i < 10; i++) {
    auto* s = old.add_samples();
    *s->mutable_at() = Ts(1'700'000'000 + i * 3600, 0);
    s->set_value_milli(1000 * i);
    model.Add(s->at(), s->value_milli());
  }
  REQUIRE(db->Put(rocksdb::WriteOptions(), cf, projections::Key({"win", "r", "E1"}),
                  old.SerializeAsString())
              .ok());
  ViewRows rows;
  ViewTxn txn({.db = db, .family = cf, .rows = &rows});
  // Loaded for a max rule: the migrated samples become candidates too.
  auto window = AlertWindow::Load(txn, "r", "E1", 30, policy::Aggregate::kMax);
  REQUIRE(window.ok());
  CHECK(window->breached());
  CHECK(window->size() == 10);
  REQUIRE(window->Add(txn, Ts(1'700'100'000, 0), 50'000).ok());
  model.Add(Ts(1'700'100'000, 0), 50'000);
  for (policy::Aggregate a : kAggregates) CHECK(*window->Aggregate(txn, a) == model.Aggregate(a));
}

}  // namespace
}  // namespace perfledger::views_test
