// crash_test: SIGKILL perfledgerd while several clients stream commands at it, restart it on the
// same data directory, and check that nothing acknowledged was lost or moved, that every
// partition is still a contiguous, verifiable hash chain, and that the server carries on: three
// kill/restart rounds in one test.
//
// Every command carries an idempotency key. Commands whose outcome the kill made unknown are
// re-sent after the restart (ARCHITECTURE §4: "a retry returns the first answer"), so that at the end
// of each round the log must hold exactly the events the clients know about, each once.

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e_listener.h"

namespace perfledger::e2e {
namespace {

constexpr int kEmployees = 12;
constexpr const char* kCycle = kLoadCycle;
constexpr const char* kManager = kLoadManager;
constexpr int kWriters = 3;
constexpr int kRounds = 3;
// A round kills the server once this many events are acknowledged (or after kMaxWriting).
constexpr size_t kAckedEventsPerRound = 400;
constexpr auto kMinWriting = milliseconds(300);
constexpr auto kMaxWriting = seconds(5);
// Unary calls get a deadline generous enough for a loaded 2-core machine.
constexpr auto kCallDeadline = seconds(15);

std::string Employee(int i) { return LoadEmployee(i); }

enum class Kind { kMetrics, kScore, kCheckIn };

struct Command {
  Kind kind = Kind::kMetrics;
  std::string key;
  v1::ObserveMetricsRequest metrics;
  v1::SubmitScoreRequest score;
  v1::RecordCheckInRequest check_in;
};

Command MakeCommand(std::mt19937& rng, const std::string& key) {
  Command c;
  c.key = key;
  auto employee = [&] { return Employee(1 + static_cast<int>(rng() % kEmployees)); };
  const unsigned pick = rng() % 10;
  if (pick < 6) {
    // A batch spanning several partitions: appended atomically or not at all.
    c.kind = Kind::kMetrics;
    c.metrics.mutable_meta()->set_idempotency_key(key);
    const int n = 5 + static_cast<int>(rng() % 36);
    for (int i = 0; i < n; i++) {
      v1::Observation* o = c.metrics.add_observations();
      if (rng() % 8 == 0) {
        o->set_subject_id("OPS");
        o->set_subject_kind(v1::OWNER_KIND_ORG_UNIT);
      } else {
        o->set_subject_id(employee());
        o->set_subject_kind(v1::OWNER_KIND_EMPLOYEE);
      }
      o->set_metric("units_per_hour");
      o->set_value_milli(static_cast<int64_t>(rng() % 100'000));
      o->set_unit("pcs");
      o->set_source("e2e");
      o->set_cycle_id(kCycle);
    }
  } else if (pick < 8) {
    c.kind = Kind::kScore;
    c.score.mutable_meta()->set_idempotency_key(key);
    c.score.set_score_id("s-" + key);
    c.score.set_employee_id(employee());
    c.score.set_cycle_id(kCycle);
    c.score.set_reviewer_id(kManager);
    c.score.set_source(v1::SCORE_SOURCE_MANAGER);
    auto* q = c.score.add_scores();
    q->set_dimension("quality");
    q->set_score_milli(static_cast<int64_t>(rng() % 5000));
    auto* t = c.score.add_scores();
    t->set_dimension("teamwork");
    t->set_score_milli(static_cast<int64_t>(rng() % 5000));
  } else {
    c.kind = Kind::kCheckIn;
    c.check_in.mutable_meta()->set_idempotency_key(key);
    c.check_in.set_check_in_id("ci-" + key);
    c.check_in.set_employee_id(employee());
    c.check_in.set_cycle_id(kCycle);
    c.check_in.set_notes("crash test " + key);
  }
  return c;
}

grpc::Status Send(const std::shared_ptr<grpc::Channel>& channel, const Command& c,
                  v1::CommandResult* result) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kCallDeadline));
  switch (c.kind) {
    case Kind::kMetrics:
      return v1::Metrics::NewStub(channel)->ObserveMetrics(&context, c.metrics, result);
    case Kind::kScore:
      return v1::Reviews::NewStub(channel)->SubmitScore(&context, c.score, result);
    case Kind::kCheckIn:
      return v1::CheckIns::NewStub(channel)->RecordCheckIn(&context, c.check_in, result);
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, "unknown kind");
}

struct Outcome {
  Command command;
  bool acked = false;
  v1::CommandResult result;
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
  bool after_kill = false;  // the failure was observed once the kill had begun
};

struct Round {
  std::mutex mu;
  std::vector<Outcome> outcomes;
  std::atomic<size_t> acked_events{0};
  std::atomic<size_t> acked_commands{0};
  std::atomic<int> writers_done{0};
  std::atomic<bool> killing{false};
  std::atomic<bool> stop{false};
};

void Writer(int writer, int round, std::shared_ptr<grpc::Channel> channel, Round* r) {
  std::mt19937 rng(static_cast<unsigned>(7919 * round + writer));
  for (int n = 0; !r->stop.load(); n++) {
    Outcome o;
    o.command = MakeCommand(rng, "r" + std::to_string(round) + "-w" + std::to_string(writer) +
                                     "-" + std::to_string(n));
    const grpc::Status s = Send(channel, o.command, &o.result);
    o.acked = s.ok();
    o.code = s.error_code();
    o.message = s.error_message();
    o.after_kill = r->killing.load();
    if (o.acked) {
      r->acked_events += static_cast<size_t>(o.result.events_size());
      r->acked_commands++;
    }
    {
      std::lock_guard<std::mutex> lock(r->mu);
      r->outcomes.push_back(std::move(o));
    }
    // Any failure ends this writer: after the kill the rest would fail the same way, before it
    // the failure is a finding the main thread reports.
    if (!s.ok()) break;
  }
  r->writers_done++;
}

// Joins the writers on every exit path (a failed REQUIRE must not leave joinable threads).
struct Writers {
  Round* round;
  std::vector<std::thread> threads;
  void Join() {
    round->stop = true;
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
  }
  ~Writers() { Join(); }
};

std::set<std::pair<std::string, std::string>> EventSet(const v1::CommandResult& r) {
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& e : r.events()) {
    out.emplace(e.event_id(), std::to_string(e.position().partition()) + ":" +
                                  std::to_string(e.position().offset()));
  }
  return out;
}

bool SamePosition(const v1::Position& a, const v1::Position& b) {
  return a.partition() == b.partition() && a.offset() == b.offset();
}


std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

TEST_CASE("crash_test: SIGKILL under concurrent appends loses no acknowledged event (3 rounds)",
          "[e2e][crash]") {
  TempDir dir("crash");
  ServerProcess server(dir.Sub("data"), dir.path(),
                       {"--data-partitions", "4", "--shutdown-grace-seconds", "5"});
  server.Start();
  SeedLoadOrg(dir, server, kEmployees);

  // Every event the clients know of (seed included): event id → position.
  std::map<std::string, v1::Position> known;
  {
    const WholeLog seeded = ReadWholeLog(server.NewChannel());
    const auto problems = CheckLog(seeded);
    INFO(Join(problems));
    REQUIRE(problems.empty());
    REQUIRE(seeded.total() == 2 + 1 + kEmployees + 1);
    known = seeded.ByEventId();
  }

  for (int round = 1; round <= kRounds; round++) {
    INFO("round " << round << " (server logs in " << dir.path() << ")");
    Round r;
    {
      Writers writers{&r, {}};
      for (int w = 0; w < kWriters; w++) {
        writers.threads.emplace_back(Writer, w, round, server.NewChannel(), &r);
      }
      const auto start = Clock::now();
      for (;;) {
        const auto elapsed = Clock::now() - start;
        if (r.writers_done.load() == kWriters) break;  // all failed: reported below
        if (elapsed >= kMinWriting && r.acked_events.load() >= kAckedEventsPerRound) break;
        if (elapsed >= kMaxWriting && r.acked_commands.load() > 0) break;
        if (elapsed >= kReadyTimeout) break;
        std::this_thread::sleep_for(milliseconds(5));
      }
      // Mid-stream: the writers are still sending when the server dies.
      r.killing = true;
      const ExitStatus killed = server.Kill();
      writers.Join();
      INFO("perfledgerd ended with " << killed.Describe() << "\n" << Tail(server.stderr_path()));
      REQUIRE_FALSE(killed.exited);
      REQUIRE(killed.signal == SIGKILL);
    }

    // Failures before the kill are findings; failures after it are unknown outcomes.
    std::vector<const Outcome*> unknown;
    std::vector<const Outcome*> acked;
    for (const Outcome& o : r.outcomes) {
      if (o.acked) {
        acked.push_back(&o);
      } else if (!o.after_kill) {
        FAIL_CHECK("command " << o.command.key << " failed before the kill: "
                              << static_cast<int>(o.code) << " " << o.message);
      } else {
        unknown.push_back(&o);
      }
    }
    REQUIRE_FALSE(acked.empty());
    for (const Outcome* o : acked) {
      for (const auto& e : o->result.events()) {
        auto [it, fresh] = known.emplace(e.event_id(), e.position());
        CHECK(fresh);  // event ids are never reused
      }
    }
    UNSCOPED_INFO("round " << round << ": " << acked.size() << " commands ("
                           << r.acked_events.load() << " events) acknowledged, "
                           << unknown.size() << " unknown at the kill");

    // Restart on the same data directory.
    server.Start();
    auto channel = server.NewChannel();
    {
      const WholeLog log = ReadWholeLog(channel);
      const auto problems = CheckLog(log);
      INFO(Join(problems));
      CHECK(problems.empty());
      const auto by_id = log.ByEventId();
      std::vector<std::string> lost;
      for (const auto& [id, position] : known) {
        auto it = by_id.find(id);
        if (it == by_id.end()) {
          lost.push_back(id + " (acknowledged at " + std::to_string(position.partition()) + ":" +
                         std::to_string(position.offset()) + ") is missing");
        } else if (!SamePosition(it->second, position)) {
          lost.push_back(id + " moved to " + std::to_string(it->second.partition()) + ":" +
                         std::to_string(it->second.offset()));
        }
      }
      INFO(Join(lost));
      REQUIRE(lost.empty());
    }

    // Unknown outcomes: the same command again either replays the first answer (it landed
    // before the kill) or appends now; either way the clients learn where its events are.
    for (const Outcome* o : unknown) {
      v1::CommandResult result;
      const grpc::Status s = Send(channel, o->command, &result);
      INFO("retry of " << o->command.key << ": " << s.error_message());
      REQUIRE(s.ok());
      for (const auto& e : result.events()) {
        auto [it, fresh] = known.emplace(e.event_id(), e.position());
        if (!fresh) CHECK(SamePosition(it->second, e.position()));
      }
    }
    // Acknowledged commands: a retry is answered with the first answer and appends nothing.
    for (size_t i = 0; i < acked.size(); i += std::max<size_t>(1, acked.size() / 12)) {
      const Outcome* o = acked[i];
      v1::CommandResult result;
      const grpc::Status s = Send(channel, o->command, &result);
      INFO("retry of acknowledged " << o->command.key << ": " << s.error_message());
      REQUIRE(s.ok());
      CHECK(result.deduplicated());
      CHECK(EventSet(result) == EventSet(o->result));
    }

    // The server accepts new commands and the chain continues at the end of each partition.
    {
      const v1::StatusResponse before = GetStatus(channel);
      Command c;
      c.key = "after-restart-" + std::to_string(round);
      c.kind = Kind::kScore;
      c.score.mutable_meta()->set_idempotency_key(c.key);
      c.score.set_score_id("s-" + c.key);
      c.score.set_employee_id(Employee(1));
      c.score.set_cycle_id(kCycle);
      c.score.set_reviewer_id(kManager);
      c.score.set_source(v1::SCORE_SOURCE_MANAGER);
      auto* q = c.score.add_scores();
      q->set_dimension("quality");
      q->set_score_milli(3000);
      v1::CommandResult result;
      const grpc::Status s = Send(channel, c, &result);
      INFO(s.error_message());
      REQUIRE(s.ok());
      REQUIRE(result.events_size() == 1);
      const v1::Position& p = result.events(0).position();
      CHECK(p.offset() == before.partitions(static_cast<int>(p.partition())).end_offset());
      known.emplace(result.events(0).event_id(), p);

      const WholeLog log = ReadWholeLog(channel);
      const auto problems = CheckLog(log);
      INFO(Join(problems));
      CHECK(problems.empty());
      // Exactly the events the clients know of: nothing lost, nothing appended twice.
      const auto by_id = log.ByEventId();
      std::vector<std::string> diff;
      for (const auto& [id, position] : by_id) {
        if (known.count(id) == 0) diff.push_back("in the log but never acknowledged: " + id);
      }
      for (const auto& [id, position] : known) {
        if (by_id.count(id) == 0) diff.push_back("acknowledged but not in the log: " + id);
      }
      INFO(Join(diff));
      CHECK(diff.empty());
      CHECK(log.total() == known.size());
    }

    // The views and their checkpoints are written without a WAL (ledger/state_store.h): the
    // kill lost whatever had not been flushed, and the projector refolded it from the log. No
    // event may have been applied twice or skipped: the views equal a replay of the whole log.
    CHECK(LiveDigests(channel) == RebuildDigests(channel));
  }

  // A clean stop after all that.
  const auto stopped = server.Terminate(seconds(15));
  REQUIRE(stopped.has_value());
  INFO(stopped->Describe() << "\n" << Tail(server.stderr_path()));
  CHECK(stopped->exited);
  CHECK(stopped->code == 0);
}

}  // namespace
}  // namespace perfledger::e2e
