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
#include <string>

#include "absl/status/statusor.h"
#include "tools/perfbench/client.h"

namespace perfbench {

struct FixtureOptions {
  uint32_t subjects = 1000;
  // Org units bench-line-<k> under bench-ou holding the employees in turn (0: everyone in
  // bench-ou), so that observations roll up over two levels as on a shop floor.
  uint32_t lines = 0;
  bool goals = false;
  uint32_t threads = 8;  // parallel setup calls, so group commit amortizes their fsyncs
  std::chrono::milliseconds call_timeout{10000};
};

struct FixtureSummary {
  uint64_t created = 0;       // commands that appended events now
  uint64_t deduplicated = 0;  // replays of an earlier run's commands
  uint64_t existed = 0;       // ALREADY_EXISTS
  double seconds = 0;
  // Ranking fixture only: rows the ranking had before (the one GetRanking check), and whether
  // that was every row, so nothing was sent.
  uint64_t rows_before = 0;
  bool skipped = false;
};

// Creates the fixture. The first failing command's status is returned (code and message name the
// command), after the in-flight ones finish.
absl::StatusOr<FixtureSummary> CreateFixture(const Clients& clients, const FixtureOptions& options);

// The ranking fixture of --scenario ranking, on top of CreateFixture's org unit, manager and
// cycle: org unit bench-rank<N> (N = subjects) with employees bench-rank<N>-0..N-1 (manager
// bench-mgr), each with a finalized grade in bench-cycle whose score is RankScoreMilli(i).
//
// Cheapest path through the API: two single-event commands per person, RegisterEmployee and
// FinalizeGrade with an explicit grade and score. No policy is published, so the reactor derives
// no actions from the grades (a metric-band policy plus ComputeGrades would cost 100 metric
// events per 100 people plus a raise, bonus, PIP or HR review per person). Stable keys
// (bench:rank<N>:ou, bench:rank<N>:emp:<i>, bench:rank<N>:grade:<i>) make it idempotent; an
// interrupted build resumes where it stopped. One GetRanking call first: when the ranking
// already has N rows, nothing is sent. `progress`: a line on stderr every second.
absl::StatusOr<FixtureSummary> CreateRankingFixture(const Clients& clients,
                                                    const FixtureOptions& options, bool progress);

// Publishes a policy document (YAML or JSON) so that the load runs under its rules: the reactor
// then keeps the document's alert windows and grade rules as a deployment would. The idempotency
// key derives from the document's bytes, so a rerun with the same file appends nothing. Returns
// the published event's stream@version.
absl::StatusOr<std::string> PublishPolicy(const Clients& clients, const std::string& document,
                                       std::chrono::milliseconds timeout);

// Rows in the ranking of bench-rank<subjects> in bench-cycle, from one GetRanking call.
absl::StatusOr<uint64_t> RankingRows(const Clients& clients, uint32_t subjects,
                                     std::chrono::milliseconds timeout);

}  // namespace perfbench
