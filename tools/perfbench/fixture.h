// The benchmark's own fixture, created through the real API before anything is measured:
// org unit bench-ou, manager bench-mgr, employees bench-emp-0..N-1, cycle bench-cycle and, when the
// mix needs them, one goal bench-goal-<i> (key result kr1) per employee.
//
// Idempotent: every command carries a stable idempotency key (bench:emp:<i>, bench:goal:<i>, ...),
// so a rerun against the same server gets deduplicated answers and appends nothing. ALREADY_EXISTS
// (the id exists under another key, e.g. created by an older perfbench) is accepted as well.
#pragma once

#include <chrono>
#include <cstdint>

#include "absl/status/statusor.h"
#include "tools/perfbench/client.h"

namespace perfbench {

struct FixtureOptions {
  uint32_t subjects = 1000;
  bool goals = false;
  uint32_t threads = 8;  // parallel setup calls, so group commit amortizes their fsyncs
  std::chrono::milliseconds call_timeout{10000};
};

struct FixtureSummary {
  uint64_t created = 0;       // commands that appended events now
  uint64_t deduplicated = 0;  // replays of an earlier run's commands
  uint64_t existed = 0;       // ALREADY_EXISTS
  double seconds = 0;
};

// Creates the fixture. The first failing command's status is returned (code and message name the
// command), after the in-flight ones finish.
absl::StatusOr<FixtureSummary> CreateFixture(const Clients& clients, const FixtureOptions& options);

}  // namespace perfbench
