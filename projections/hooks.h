// Hook subscriptions (ARCHITECTURE §7, proto/perfledger/v1/hooks.proto): which items a payroll or LMS
// consumer receives and when, read from the hooks view (views/hooks.cc).
//
// A HookSubscription is the state of one open stream: the items it sent and not yet saw resolved
// (in flight, with their send time for redelivery) and its cursor. Poll() is called whenever the
// views advance or a redelivery falls due; it returns what to send now. The source of truth for
// "done" is the log (acknowledgements are events, folded by the hooks view), so a subscription
// holds nothing that a restart would need: a new stream re-sends every open item.
//
// Not thread-safe: one stream owns it.
#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ledger/types.h"
#include "perfledger/v1/hooks.pb.h"
#include "projections/projector.h"

namespace perfledger::projections {

// Cursor text: "c1:" then "<partition>=<next offset>" pairs joined by ',' (partitions left out
// are at 0), e.g. "c1:0=3,4=120". Opaque to clients; stable across server versions of c1.
std::string FormatHookCursor(const LogEnds& cursor);
// "" is the start of the log. INVALID_ARGUMENT naming `cursor` for malformed text or a
// partition the log does not have.
absl::StatusOr<LogEnds> ParseHookCursor(absl::string_view text, uint32_t partitions);

struct SubscriptionOptions {
  std::string consumer;
  std::vector<v1::ActionKind> kinds;
  absl::Duration redeliver_after;
  size_t max_in_flight = 0;
  bool include_resolved = false;
  LogEnds cursor;
};

// Validates a request (fields named in INVALID_ARGUMENT) and applies the defaults.
absl::StatusOr<SubscriptionOptions> ParseSubscribeRequest(const v1::SubscribeRequest& request,
                                                          uint32_t partitions,
                                                          absl::Duration default_redeliver);

class HookSubscription {
 public:
  explicit HookSubscription(SubscriptionOptions options);

  // What to send now, at most limits::kHookPollItemsMax items: redeliveries that fell due, then
  // open actions and cancellation notices not in flight (while in-flight room lasts), then with
  // include_resolved the resolved actions after the cursor. Items resolved since they were sent
  // leave the in-flight set here.
  absl::StatusOr<std::vector<v1::HookItem>> Poll(const Projector::Reader& reader, absl::Time now);

  // When the earliest in-flight item falls due for redelivery (InfiniteFuture when none).
  absl::Time NextDue() const;
  size_t in_flight() const { return in_flight_.size(); }
  const SubscriptionOptions& options() const { return options_; }

 private:
  struct Flight {
    std::string record_key;  // the hooks view's "a/" row
    std::string index_key;   // the "o/" or "n/" entry whose presence means still to do, or
                             // for an erasure notice the "ea/" entry whose absence does
    v1::HookItemType type = v1::HOOK_ITEM_TYPE_UNSPECIFIED;
    absl::Time sent;
    uint32_t attempt = 0;
  };

  absl::Status ScanIndex(const Projector::Reader& reader, char index, v1::ActionKind kind,
                         absl::Time now, std::vector<v1::HookItem>& out);
  absl::Status ScanResolved(const Projector::Reader& reader, std::vector<v1::HookItem>& out);
  // Erasure notices this consumer has not acknowledged (payroll and LMS subscriptions).
  absl::Status ScanErasures(const Projector::Reader& reader, absl::Time now,
                            std::vector<v1::HookItem>& out);
  bool Full(const std::vector<v1::HookItem>& out) const;

  SubscriptionOptions options_;
  absl::flat_hash_map<std::string, Flight> in_flight_;  // "<type>/<action id>" → flight
};

}  // namespace perfledger::projections
