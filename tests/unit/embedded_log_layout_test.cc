// ledger/embedded_log: the family-per-partition layout, and a log of the one-family layout
// (every partition in family "events") copied into it when it is opened.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ledger/embedded_log.h"
#include "ledger/hash_chain.h"
#include "ledger/rocks_util.h"
#include "rocksdb/db.h"
#include "tests/support/log_values.h"
#include "tests/support/temp_dir.h"

namespace perfledger {
namespace {

using testing::TempDir;

std::string Key(uint32_t partition, uint64_t offset) {
  std::string key;
  PutBigEndian32(key, partition);
  PutBigEndian64(key, offset);
  return key;
}

std::string Number(uint32_t v) {
  std::string out;
  PutBigEndian32(out, v);
  return out;
}

// A raw RocksDB handle on a log directory with the given families (created when missing).
class RawDb {
 public:
  RawDb(const std::string& dir, std::vector<std::string> names) : names_(std::move(names)) {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const std::string& name : names_) families.emplace_back(name, options);
    rocksdb::DB* raw = nullptr;
    const rocksdb::Status s = rocksdb::DB::Open(options, dir, families, &handles_, &raw);
    INFO(s.ToString());
    REQUIRE(s.ok());
    db_.reset(raw);
  }
  ~RawDb() {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  rocksdb::ColumnFamilyHandle* family(const std::string& name) {
    auto it = std::find(names_.begin(), names_.end(), name);
    REQUIRE(it != names_.end());
    return handles_[static_cast<size_t>(it - names_.begin())];
  }
  void Put(const std::string& family_name, const std::string& key, const std::string& value) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    REQUIRE(db_->Put(wo, family(family_name), key, value).ok());
  }
  std::optional<std::string> Get(const std::string& family_name, const std::string& key) {
    std::string value;
    const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), family(family_name), key, &value);
    if (s.IsNotFound()) return std::nullopt;
    REQUIRE(s.ok());
    return value;
  }

 private:
  std::vector<std::string> names_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::unique_ptr<rocksdb::DB> db_;
};

std::vector<std::string> Families(const std::string& dir) {
  std::vector<std::string> names;
  REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names).ok());
  std::sort(names.begin(), names.end());
  return names;
}

// What a one-family log holds: each partition's stored bytes in offset order.
using Stored = std::map<uint32_t, std::vector<std::string>>;

// Writes a log of the one-family layout as its server wrote it: the partition count in "meta",
// no layout version, every event in family "events", chained and sealed.
Stored WriteOneFamilyLog(const std::string& dir, uint32_t data_partitions,
                         const std::vector<uint64_t>& counts) {
  Stored stored;
  RawDb db(dir, {rocksdb::kDefaultColumnFamilyName, "events", "meta"});
  db.Put("meta", "data_partitions", Number(data_partitions));
  for (uint32_t p = 0; p < counts.size(); p++) {
    std::string prev = GenesisHash();
    for (uint64_t offset = 0; offset < counts[p]; offset++) {
      v1::Envelope e;
      e.set_event_id(absl::StrCat("e-", p, "-", offset));
      e.set_type("MetricObserved");
      e.set_stream(absl::StrCat("metrics/", p));
      e.set_stream_version(offset + 1);
      e.mutable_position()->set_partition(p);
      e.mutable_position()->set_offset(offset);
      e.set_payload(absl::StrCat("payload ", p, " ", offset));
      SealEnvelope(e, prev, offset);
      prev = e.hash();
      stored[p].push_back(e.SerializeAsString());
      db.Put("events", Key(p, offset), stored[p].back());
    }
  }
  return stored;
}

std::unique_ptr<EmbeddedLog> MustOpen(const std::string& dir, uint32_t partitions = 0) {
  EmbeddedLogOptions options;
  options.dir = dir;
  options.data_partitions = partitions;
  auto log = EmbeddedLog::Open(options);
  INFO(log.status().ToString());
  REQUIRE(log.ok());
  return std::move(*log);
}

// Every stored event of the log, as bytes, checked link by link.
Stored ReadAll(EmbeddedLog& log) {
  Stored out;
  const LogEnds ends = log.Ends();
  for (PartitionId p : AllPartitions(log.partitions())) {
    std::vector<std::string>& bytes = out[p.value()];
    REQUIRE(log.ScanStored(p, Offset(0), SIZE_MAX, [&](Offset offset, std::string_view stored) {
                 REQUIRE(offset.value() == bytes.size());
                 bytes.emplace_back(stored);
                 return true;
               }).ok());
    REQUIRE(bytes.size() == ends[p].value());
    auto events = log.Read(p, Offset(0), SIZE_MAX);
    REQUIRE(events.ok());
    std::string prev = GenesisHash();
    for (uint64_t i = 0; i < events->size(); i++) {
      const absl::Status s = VerifyLink((*events)[i], prev, i);
      INFO("partition " << p << " offset " << i << ": " << s.ToString());
      REQUIRE(s.ok());
      prev = (*events)[i].hash();
    }
    CHECK(log.ChainTips()[p.value()] == prev);
    if (bytes.empty()) out.erase(p.value());
  }
  return out;
}

std::vector<std::string> PartitionFamilies(uint32_t data_partitions) {
  std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName, "meta"};
  for (uint32_t p = 0; p <= data_partitions; p++) names.push_back(absl::StrCat("events.", p));
  std::sort(names.begin(), names.end());
  return names;
}

TEST_CASE("embedded log layout: a new log has a family per partition and records its layout",
          "[embedded_log]") {
  TempDir dir("log");
  { auto log = MustOpen(dir.path(), 3); }
  CHECK(Families(dir.path()) == PartitionFamilies(3));
  RawDb db(dir.path(), {rocksdb::kDefaultColumnFamilyName, "meta", "events.0", "events.1",
                        "events.2", "events.3"});
  CHECK(db.Get("meta", "layout") == Number(2));
  CHECK(db.Get("meta", "data_partitions") == Number(3));
}

TEST_CASE("embedded log layout: an append spanning partitions lands in each one's family",
          "[embedded_log]") {
  TempDir dir("log");
  Stored appended;
  {
    auto log = MustOpen(dir.path(), 2);
    std::vector<v1::Envelope> batch;
    for (uint32_t p : {2u, 0u, 1u, 2u}) {
      v1::Envelope e;
      e.set_event_id(absl::StrCat("a", batch.size()));
      e.set_type("MetricObserved");
      e.set_stream("metrics/x");
      e.set_stream_version(1);
      e.mutable_position()->set_partition(p);
      batch.push_back(std::move(e));
    }
    auto positions = AppendAndWait(*log, std::move(batch));
    REQUIRE(positions.ok());
    appended = ReadAll(*log);
  }
  RawDb db(dir.path(), {rocksdb::kDefaultColumnFamilyName, "meta", "events.0", "events.1",
                        "events.2"});
  for (const auto& [p, events] : appended) {
    for (uint64_t offset = 0; offset < events.size(); offset++) {
      CHECK(db.Get(absl::StrCat("events.", p), Key(p, offset)) == events[offset]);
      // No other family holds it.
      for (uint32_t other = 0; other <= 2; other++) {
        if (other != p) CHECK_FALSE(db.Get(absl::StrCat("events.", other), Key(p, offset)));
      }
    }
  }
}

TEST_CASE("embedded log layout: a one-family log is copied into a family per partition",
          "[embedded_log]") {
  TempDir dir("log");
  const Stored before = WriteOneFamilyLog(dir.path(), 3, {2, 5, 0, 3});
  {
    auto log = MustOpen(dir.path());
    CHECK(log->data_partitions() == 3);
    CHECK(log->Ends() == EndsOf({2, 5, 0, 3}));
    CHECK(ReadAll(*log) == before);
    // The chain goes on from the copied tips.
    v1::Envelope next;
    next.set_event_id("next");
    next.set_type("MetricObserved");
    next.set_stream("metrics/1");
    next.set_stream_version(6);
    next.mutable_position()->set_partition(1);
    auto positions = AppendAndWait(*log, {next});
    REQUIRE(positions.ok());
    CHECK(positions->front() == PositionAt(1, 5));
    CHECK(ReadAll(*log).at(1).size() == 6);
  }
  CHECK(Families(dir.path()) == PartitionFamilies(3));
  {
    RawDb db(dir.path(), {rocksdb::kDefaultColumnFamilyName, "meta", "events.0", "events.1",
                          "events.2", "events.3"});
    CHECK(db.Get("meta", "layout") == Number(2));
  }
  // Opened again, it is already in the layout: nothing is copied twice.
  auto log = MustOpen(dir.path(), 3);
  CHECK(log->Ends() == EndsOf({2, 6, 0, 3}));
}

TEST_CASE("embedded log layout: an interrupted copy is redone", "[embedded_log]") {
  TempDir dir("log");
  const Stored before = WriteOneFamilyLog(dir.path(), 2, {1, 4, 2});
  {
    // A copy stopped half way: one partition family holds part of its events, no version.
    RawDb db(dir.path(), {rocksdb::kDefaultColumnFamilyName, "events", "meta", "events.1"});
    db.Put("events.1", Key(1, 0), before.at(1)[0]);
  }
  auto log = MustOpen(dir.path());
  CHECK(log->Ends() == EndsOf({1, 4, 2}));
  CHECK(ReadAll(*log) == before);
  log.reset();
  CHECK(Families(dir.path()) == PartitionFamilies(2));
}

TEST_CASE("embedded log layout: a copied log whose old family is still there drops it",
          "[embedded_log]") {
  TempDir dir("log");
  Stored written;
  {
    auto log = MustOpen(dir.path(), 1);
    v1::Envelope e;
    e.set_event_id("a");
    e.set_type("MetricObserved");
    e.set_stream("metrics/a");
    e.set_stream_version(1);
    e.mutable_position()->set_partition(1);
    REQUIRE(AppendAndWait(*log, {e}).ok());
    written = ReadAll(*log);
  }
  {
    // The layout version is recorded but the open stopped before the family went.
    RawDb db(dir.path(),
             {rocksdb::kDefaultColumnFamilyName, "meta", "events.0", "events.1", "events"});
    db.Put("events", Key(1, 0), "stale");
  }
  auto log = MustOpen(dir.path());
  CHECK(ReadAll(*log) == written);
  log.reset();
  CHECK(Families(dir.path()) == PartitionFamilies(1));
}

TEST_CASE("embedded log layout: a one-family log that does not fit its partitions stays as is",
          "[embedded_log]") {
  TempDir dir("log");
  WriteOneFamilyLog(dir.path(), 1, {1, 1, 1});  // an event in partition 2 of a 1-partition log
  EmbeddedLogOptions options;
  options.dir = dir.path();
  auto log = EmbeddedLog::Open(options);
  REQUIRE(log.status().code() == absl::StatusCode::kDataLoss);
  CHECK(absl::StrContains(log.status().message(), dir.path()));
  CHECK(absl::StrContains(log.status().message(), "partition 2"));
  RawDb db(dir.path(), {rocksdb::kDefaultColumnFamilyName, "events", "meta", "events.0",
                        "events.1"});
  CHECK_FALSE(db.Get("meta", "layout"));
  CHECK(db.Get("events", Key(2, 0)));
}

TEST_CASE("embedded log layout: a layout version this server does not know is refused",
          "[embedded_log]") {
  TempDir dir("log");
  { auto log = MustOpen(dir.path(), 1); }
  {
    RawDb db(dir.path(), {rocksdb::kDefaultColumnFamilyName, "meta", "events.0", "events.1"});
    db.Put("meta", "layout", Number(3));
  }
  EmbeddedLogOptions options;
  options.dir = dir.path();
  auto log = EmbeddedLog::Open(options);
  REQUIRE(log.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(log.status().message(), dir.path()));
  CHECK(absl::StrContains(log.status().message(), "layout version 3"));
}

}  // namespace
}  // namespace perfledger
