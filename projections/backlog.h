// Admission control for commands: bounds how far the views and the policy reactor may fall
// behind the log.
//
// The log accepts events faster than the projectors fold them (a durable append is one synced
// write; a fold touches several rows per event). Without a bound, a writer that never pauses
// leaves the views minutes behind: reads with min_position time out, actions come late, and
// the backlog only shrinks once the writers stop. BacklogGate holds a command back while a
// projector is more than `max_events` behind the log's end, until it is within the bound again
// or the wait ends (the command's deadline, at most `max_wait`), then refuses it with
// UNAVAILABLE naming the projector and its lag: a client backs off and retries. So writers go
// at the pace of the slowest fold, and the staleness of every view stays bounded.
//
// A projector that is rebuilding is not waited for: a rebuild replays the whole log, and writes
// go on meanwhile.
//
// Thread safety: Admit is thread-safe.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "projections/projector.h"

namespace perfledger::projections {

class BacklogGate {
 public:
  struct Source {
    std::string name;       // in the error: "views", "reactor"
    Projector* projector;   // must outlive the gate's callers
  };
  BacklogGate(std::vector<Source> sources, uint64_t max_events, absl::Duration max_wait)
      : sources_(std::move(sources)), max_events_(max_events), max_wait_(max_wait) {}

  // OK once every source is at most max_events behind the log; UNAVAILABLE if that takes past
  // `deadline` or max_wait, or if a source stopped on an error while too far behind.
  absl::Status Admit(absl::Time deadline);

  // The server is shutting down: a command waiting now or later is refused at once (within one
  // wake-up, 100 ms), so that the drain does not sit out admission waits of up to max_wait.
  void Close() { closed_.store(true); }

  // Commands that had to wait, and commands refused.
  uint64_t waited() const { return waited_.load(); }
  uint64_t refused() const { return refused_.load(); }

 private:
  const std::vector<Source> sources_;
  const uint64_t max_events_;
  const absl::Duration max_wait_;
  std::atomic<uint64_t> waited_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<bool> closed_{false};
};

}  // namespace perfledger::projections
