// A view: a fold of the log into rows of its own RocksDB column family ("view.<name>").
//
// The projector calls Apply for every event in log order (per partition; the control stream
// before the data that depends on it) and writes all of a batch's row changes together with
// its checkpoint in one WriteBatch, so a view never sees an event twice or misses one.
// Views are pure: no clock, no randomness, no outside calls (ARCHITECTURE §3 rule 2).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "perfledger/v1/envelope.pb.h"
#include "perfledger/v1/events.pb.h"
#include "projections/view_txn.h"

namespace perfledger::projections {

class View {
 public:
  virtual ~View() = default;
  // Short name; the column family is "view.<name>".
  virtual std::string_view name() const = 0;
  // Folds one event. An error stops the projector (a view that cannot apply an event must not
  // skip it silently).
  virtual absl::Status Apply(const v1::Envelope& envelope, const v1::Event& event,
                             ViewTxn& txn) = 0;
  // After the batch's last Apply, through the same transaction: a view that keeps rows parsed
  // across a batch writes them here, once.
  virtual absl::Status FinishBatch(ViewTxn&) { return absl::OkStatus(); }
  // True when the view's rows are large and never rewritten (a copy of each event): the state
  // store keeps their values in blob files, out of compaction's way.
  virtual bool large_values() const { return false; }
  // How many of its rows the projector keeps in memory between batches (0 = none; the cache
  // starts over when full): for a view that reads the same rows batch after batch, where a
  // memtable holding many versions of each makes every read a long skiplist search.
  virtual size_t cached_rows() const { return 0; }
};

// The employee an event is about (its timeline), or empty.
std::string EmployeeOf(const v1::Envelope& envelope, const v1::Event& event);

// Every view of the product, in a fixed order.
std::vector<std::unique_ptr<View>> AllViews();

std::string ViewFamily(std::string_view view_name);

}  // namespace perfledger::projections
