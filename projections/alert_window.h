// An alert rule's rolling window for one subject, kept as rows of the reactor's family so that an
// observation costs O(1) amortized instead of O(window):
//   "win/<rule>/<subject>"                         header (internal::WindowState): count, sum,
//                                                  newest, last sample, oldest sample's key
//   "ws/<rule>/<subject>/" + time + arrival seq    one row per sample: its value
//   "wx/<rule>/<subject>/" + time + arrival seq    for a max (min) rule: the candidates, samples
//                                                  greater (smaller) than every later one, each
//                                                  linked to its neighbours
// An observation writes its sample row and deletes the few rows that left the window, reading
// them from the oldest one's key (a seek past earlier deletions, not a scan over them). A window
// kept as one row of up to limits::kRollingWindowSamplesMax samples would be parsed, rebuilt
// and rewritten by every observation: O(window) per event, slower as windows fill.
//
// Max and min: the candidates form a monotonic queue. Their values fall (max) or rise (min) in
// key order, so the oldest one is the window's extreme, kept in the header. A new sample removes
// the candidates right before it that it dominates; an evicted sample that is the oldest
// candidate hands the extreme to the next one. Each sample enters and leaves the queue at most
// once: O(1) amortized for samples in order, where reading every sample row cost O(window) per
// observation. A late sample first walks back over the candidates newer than it. The queue is a
// linked list of rows, followed with point reads: iterating over it, backwards especially, would
// step over the tombstone of every candidate ever pruned, and that cost grew with the window.
//
// Semantics are policy::RollingWindow's (the model the tests compare against): the samples with
// time in (newest - window_days, newest], at most max_samples of the latest, ordered by time with
// ties in arrival order; a sample already out of the window when it arrives is dropped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/timestamp.pb.h"
#include "ledger/limits.h"
#include "ledger/policy.h"
#include "perfledger/internal/reactor.pb.h"
#include "projections/view.h"

namespace perfledger::projections {

class AlertWindow {
 public:
  // The window of `rule_id` for `subject` as of `txn` (empty when it has no header yet).
  // `aggregate` is the rule's: for kMax and kMin the window keeps candidates so that
  // Aggregate() answers from the header. A window whose rule changed aggregate (a new policy
  // version) rebuilds them here, once, from its samples.
  static absl::StatusOr<AlertWindow> Load(ViewTxn& txn, std::string_view rule_id,
                                          std::string_view subject, uint32_t window_days,
                                          policy::Aggregate aggregate,
                                          size_t max_samples = limits::kRollingWindowSamplesMax);

  // Adds a sample and evicts what left the window; writes the rows through `txn`, the header
  // included.
  absl::Status Add(ViewTxn& txn, const google::protobuf::Timestamp& at, int64_t value_milli);

  // Over the samples in the window; nullopt when empty. kMax and kMin answer from the header
  // when the window was loaded for that aggregate, and otherwise read every sample row.
  absl::StatusOr<std::optional<int64_t>> Aggregate(ViewTxn& txn, policy::Aggregate aggregate) const;

  uint64_t size() const { return header_.count(); }
  bool breached() const { return header_.breached(); }
  // Records whether the window is in breach (one alert per excursion); writes the header.
  void SetBreached(ViewTxn& txn, bool breached);

 private:
  AlertWindow(std::string header_key, std::string sample_prefix, std::string candidate_prefix,
              uint32_t window_days, size_t max_samples)
      : header_key_(std::move(header_key)),
        sample_prefix_(std::move(sample_prefix)),
        candidate_prefix_(std::move(candidate_prefix)),
        window_days_(window_days),
        max_samples_(max_samples) {}

  absl::Status Migrate(ViewTxn& txn);
  absl::Status Evict(ViewTxn& txn);
  // Candidates: rebuilt for another kind (0 none, 1 max, 2 min), a new sample offered, the
  // oldest one evicted. `suffix` is a sample's key without its prefix (time, arrival).
  absl::Status TrackExtreme(ViewTxn& txn, int32_t kind);
  absl::Status OfferCandidate(ViewTxn& txn, std::string_view suffix, int64_t value);
  absl::Status DropFrontCandidate(ViewTxn& txn);
  absl::StatusOr<internal::WindowCandidate> GetCandidate(ViewTxn& txn, std::string_view suffix);
  void PutCandidate(ViewTxn& txn, std::string_view suffix,
                    const internal::WindowCandidate& candidate);
  // True when a sample of value `later` makes an earlier one of value `earlier` useless.
  bool Dominates(int64_t later, int64_t earlier) const;
  __int128 sum() const;
  void set_sum(__int128 sum);
  void SaveHeader(ViewTxn& txn);

  std::string header_key_;
  std::string sample_prefix_;
  std::string candidate_prefix_;
  uint32_t window_days_;
  size_t max_samples_;
  internal::WindowState header_;
};

}  // namespace perfledger::projections
