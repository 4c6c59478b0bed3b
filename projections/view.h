// A view: a fold of the log into rows of its own RocksDB column family ("view.<name>").
//
// The projector calls Apply for every event in log order (per partition; the control stream
// before the data that depends on it) and writes all of a batch's row changes together with
// its checkpoint in one WriteBatch, so a view never sees an event twice or misses one.
// Views are pure: no clock, no randomness, no outside calls (DESIGN §3 rule 2).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "perfledger/v1/envelope.pb.h"
#include "perfledger/v1/events.pb.h"
#include "rocksdb/db.h"
#include "rocksdb/utilities/write_batch_with_index.h"

namespace perfledger::projections {

// Reads and writes of one view within the batch being applied: reads see the batch's own
// earlier writes. Not thread-safe; owned by the projector thread.
class ViewTxn {
 public:
  ViewTxn(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, rocksdb::WriteBatchWithIndex* batch)
      : db_(db), cf_(cf), batch_(batch) {}

  // The value of `key`, or nullopt. A read error is returned, never mistaken for absence.
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key);
  void Put(std::string_view key, std::string_view value);
  void Delete(std::string_view key);
  // An iterator over the view that includes this batch's writes. Caller owns it.
  std::unique_ptr<rocksdb::Iterator> NewIterator();

 private:
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  rocksdb::WriteBatchWithIndex* batch_;
};

class View {
 public:
  virtual ~View() = default;
  // Short name; the column family is "view.<name>".
  virtual std::string_view name() const = 0;
  // Folds one event. An error stops the projector (a view that cannot apply an event must not
  // skip it silently).
  virtual absl::Status Apply(const v1::Envelope& envelope, const v1::Event& event,
                             ViewTxn& txn) = 0;
};

// The employee an event is about (its timeline), or empty.
std::string EmployeeOf(const v1::Envelope& envelope, const v1::Event& event);

// Every view of the product, in a fixed order.
std::vector<std::unique_ptr<View>> AllViews();

std::string ViewFamily(std::string_view view_name);

}  // namespace perfledger::projections
