// kafka_fault_test: the real perfledgerd on the Kafka backend under faults, against the broker
// deploy/test.sh started (PERFLEDGER_KAFKA_BROKERS; the test stops and restarts it with
// deploy/kafka/kafka.sh and the same PERFLEDGER_KAFKA_* environment, so CTest runs it alone:
// RUN_SERIAL).
//
// - broker outage: the broker is stopped for 10 s while writers send commands, then started
//   again. Every failure a client sees is UNAVAILABLE or DEADLINE_EXCEEDED; every command is
//   re-sent under its idempotency key until acknowledged; then the log holds exactly the
//   acknowledged events, each once, and the views' digests equal a rebuild's.
// - SIGKILL: perfledgerd killed under load and restarted on the same topics and data dir: the
//   same checks; then a read replica (--read-replica, its own data dir) on the same topics and
//   the auditor's replay (perfledgerd --replay-to) both produce the writer's view digests.
//
// Each case uses topics of its own (a unique prefix).

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ledger/hash_chain.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "tests/e2e/e2e_listener.h"

namespace perfledger::e2e {
namespace {

constexpr int kEmployees = 8;
constexpr char kCycle[] = "2026H1";
constexpr char kManager[] = "M1";
constexpr int kWriters = 3;
constexpr auto kCallDeadline = seconds(15);
constexpr auto kOutage = seconds(10);
// How long a command is re-sent before the test gives up on it (the broker restart included).
constexpr auto kRetryFor = seconds(120);

std::string Brokers() {
  const char* b = std::getenv("PERFLEDGER_KAFKA_BROKERS");
  return b == nullptr ? "" : b;
}

std::string UniquePrefix(const std::string& tag) {
  return "e2e-" + tag + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(std::chrono::duration_cast<milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count());
}

// deploy/kafka/kafka.sh with the test's own environment (PERFLEDGER_KAFKA_HOME, ports).
int KafkaScript(const std::string& verb) {
  const std::string command = std::string("bash '") + PERFLEDGER_SOURCE_DIR +
                              "/deploy/kafka/kafka.sh' " + verb + " >/dev/null 2>&1";
  return std::system(command.c_str());
}

std::string Employee(int i) { return "E" + std::to_string(i); }

// One command: a metric batch over several employees (several partitions, one transaction) or
// a check-in (one event), always with an idempotency key.
struct Command {
  bool batch = false;
  std::string key;
  v1::ObserveMetricsRequest metrics;
  v1::RecordCheckInRequest check_in;
};

Command MakeCommand(std::mt19937& rng, const std::string& key) {
  Command c;
  c.key = key;
  if (rng() % 3 != 0) {
    c.batch = true;
    c.metrics.mutable_meta()->set_idempotency_key(key);
    const int n = 2 + static_cast<int>(rng() % 8);
    for (int i = 0; i < n; i++) {
      v1::Observation* o = c.metrics.add_observations();
      o->set_subject_id(Employee(1 + static_cast<int>(rng() % kEmployees)));
      o->set_subject_kind(v1::OWNER_KIND_EMPLOYEE);
      o->set_metric("units_per_hour");
      o->set_value_milli(static_cast<int64_t>(rng() % 100'000));
      o->set_unit("pcs");
      o->set_source("kafka-fault");
      o->set_cycle_id(kCycle);
    }
  } else {
    c.check_in.mutable_meta()->set_idempotency_key(key);
    c.check_in.set_check_in_id("ci-" + key);
    c.check_in.set_employee_id(Employee(1 + static_cast<int>(rng() % kEmployees)));
    c.check_in.set_cycle_id(kCycle);
    c.check_in.set_notes("kafka fault " + key);
  }
  return c;
}

grpc::Status Send(const std::shared_ptr<grpc::Channel>& channel, const Command& c,
                  v1::CommandResult* result) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kCallDeadline));
  if (c.batch) return v1::Metrics::NewStub(channel)->ObserveMetrics(&context, c.metrics, result);
  return v1::CheckIns::NewStub(channel)->RecordCheckIn(&context, c.check_in, result);
}

// What the writers learned, shared with the test thread.
struct Load {
  std::mutex mu;
  std::map<std::string, v1::Position> acked;      // event id → position, from the answers
  std::map<std::string, int> failures;            // "CODE: message" → count
  std::vector<std::string> problems;              // answers that contradict each other
  std::atomic<size_t> acked_commands{0};
  std::atomic<bool> stop{false};
  // Set when the writers may meet failures that are not the broker's (a SIGKILL): they stop
  // at their first failure and leave the command to the test thread.
  std::atomic<bool> stop_on_failure{false};
  std::vector<Command> unknown;                   // commands whose outcome a kill hid
};

void Record(Load& load, const Command&, const v1::CommandResult& result) {
  std::lock_guard<std::mutex> lock(load.mu);
  for (const auto& e : result.events()) {
    auto [it, fresh] = load.acked.emplace(e.event_id(), e.position());
    if (!fresh && (it->second.partition() != e.position().partition() ||
                   it->second.offset() != e.position().offset())) {
      load.problems.push_back("event " + e.event_id() + " answered at two positions");
    }
  }
  load.acked_commands++;
}

void Writer(int writer, std::shared_ptr<grpc::Channel> channel, Load* load) {
  std::mt19937 rng(static_cast<unsigned>(104729 * writer + 17));
  for (int n = 0; !load->stop.load(); n++) {
    const Command c = MakeCommand(rng, "w" + std::to_string(writer) + "-" + std::to_string(n));
    const auto give_up = Clock::now() + kRetryFor;
    for (;;) {
      v1::CommandResult result;
      const grpc::Status s = Send(channel, c, &result);
      if (s.ok()) {
        Record(*load, c, result);
        break;
      }
      if (load->stop_on_failure.load()) {
        std::lock_guard<std::mutex> lock(load->mu);
        load->unknown.push_back(c);
        return;
      }
      {
        std::lock_guard<std::mutex> lock(load->mu);
        load->failures[std::to_string(static_cast<int>(s.error_code())) + " " +
                       s.error_message().substr(0, 120)]++;
        if (s.error_code() != grpc::StatusCode::UNAVAILABLE &&
            s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
          load->problems.push_back("command " + c.key + " failed with code " +
                                   std::to_string(static_cast<int>(s.error_code())) + ": " +
                                   s.error_message());
        }
      }
      if (Clock::now() >= give_up) {
        std::lock_guard<std::mutex> lock(load->mu);
        load->problems.push_back("command " + c.key + " never acknowledged: " +
                                 s.error_message());
        return;
      }
      // Pace the retries of a refused command (the outage lasts seconds).
      std::this_thread::sleep_for(milliseconds(200));
    }
  }
}

struct Writers {
  Load* load;
  std::vector<std::thread> threads;
  void Join() {
    load->stop = true;
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
  }
  ~Writers() { Join(); }
};

// Waits (bounded) until `count` more commands are acknowledged.
bool WaitForAcks(Load& load, size_t count, Clock::duration within) {
  const size_t target = load.acked_commands.load() + count;
  const auto until = Clock::now() + within;
  while (load.acked_commands.load() < target) {
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

void RequireOk(const CommandOutput& out) {
  INFO(out.Describe());
  REQUIRE(out.status.exited);
  REQUIRE(out.status.code == 0);
}

void Seed(const TempDir& dir, const ServerProcess& server) {
  const std::string units = dir.WriteFile("units.csv",
                                          "org_unit_id,name,parent_id,manager_id\n"
                                          "HQ,Headquarters,,\n"
                                          "OPS,Operations,HQ,\n");
  std::ostringstream staff;
  staff << "employee_id,name,org_unit_id,manager_id,base_salary_minor,currency\n";
  staff << kManager << ",Mona Manager,HQ,,9000000,EUR\n";
  for (int i = 1; i <= kEmployees; i++) {
    staff << Employee(i) << ",Worker " << i << ",OPS," << kManager << ",4000000,EUR\n";
  }
  const std::string employees = dir.WriteFile("employees.csv", staff.str());
  RequireOk(RunPerfctl(dir.path(), server.address(), {"import", "org-units", units}));
  RequireOk(RunPerfctl(dir.path(), server.address(), {"import", "employees", employees}));
  RequireOk(RunPerfctl(dir.path(), server.address(),
                       {"cycle", "open", kCycle, "--name", "First half 2026", "--start",
                        "2026-01-01", "--end", "2026-07-01"}));
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// Kafka offsets have gaps (transaction markers), so CheckLog's contiguity does not apply:
// per partition the sequences are contiguous from 0, every link verifies, event ids are unique
// and Status agrees on the last hash.
std::vector<std::string> CheckKafkaLog(const WholeLog& log) {
  std::vector<std::string> problems;
  std::set<std::string> ids;
  for (size_t p = 0; p < log.partitions.size(); p++) {
    std::string tip = GenesisHash();
    uint64_t sequence = 0;
    for (const auto& recorded : log.partitions[p]) {
      const v1::Envelope& e = recorded.envelope();
      if (absl::Status s = VerifyLink(e, tip, sequence); !s.ok()) {
        problems.push_back("partition " + std::to_string(p) + ": " + std::string(s.message()));
        break;
      }
      if (!ids.insert(e.event_id()).second) problems.push_back("duplicate event " + e.event_id());
      tip = e.hash();
      sequence++;
    }
    if (p < static_cast<size_t>(log.status.partitions_size()) &&
        log.status.partitions(static_cast<int>(p)).last_hash() != ToHex(tip)) {
      problems.push_back("partition " + std::to_string(p) + ": Status last_hash differs");
    }
  }
  return problems;
}

// The log holds exactly `known` (each id once, at its acknowledged position) plus the seed.
std::vector<std::string> CompareWithKnown(const WholeLog& log,
                                          const std::map<std::string, v1::Position>& known) {
  std::vector<std::string> diff;
  const auto by_id = log.ByEventId();
  for (const auto& [id, position] : known) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      diff.push_back("acknowledged but not in the log: " + id);
    } else if (it->second.partition() != position.partition() ||
               it->second.offset() != position.offset()) {
      diff.push_back("acknowledged " + id + " moved");
    }
  }
  for (const auto& [id, position] : by_id) {
    if (known.count(id) == 0) diff.push_back("in the log but never acknowledged: " + id);
  }
  return diff;
}

std::vector<std::string> KafkaFlags(const std::string& prefix) {
  return {"--log-backend", "kafka", "--kafka-brokers", Brokers(), "--kafka-topic-prefix", prefix,
          "--data-partitions", "4", "--deadline-check-seconds", "0",
          "--shutdown-grace-seconds", "5"};
}

void RequireBroker() {
  INFO("PERFLEDGER_KAFKA_BROKERS must name the broker deploy/test.sh started, and "
       "PERFLEDGER_KAFKA_HOME/PORT/CONTROLLER_PORT its kafka.sh settings");
  REQUIRE(!Brokers().empty());
  REQUIRE(Brokers() != "unavailable");
}

// Makes sure the broker is up again however the test ends.
struct BrokerGuard {
  bool down = false;
  ~BrokerGuard() {
    if (down) KafkaScript("up");
  }
};

TEST_CASE("kafka_fault: broker stopped 10 s under load, restarted: nothing lost or doubled",
          "[e2e][kafka]") {
  RequireBroker();
  TempDir dir("kafka-outage");
  ServerProcess server(dir.Sub("data"), dir.path(), KafkaFlags(UniquePrefix("outage")));
  server.Start();
  Seed(dir, server);
  const WholeLog seeded = ReadWholeLog(server.NewChannel());
  Load load;
  for (const auto& [id, pos] : seeded.ByEventId()) load.acked.emplace(id, pos);

  BrokerGuard broker;
  {
    Writers writers{&load, {}};
    for (int w = 0; w < kWriters; w++) {
      writers.threads.emplace_back(Writer, w, server.NewChannel(), &load);
    }
    REQUIRE(WaitForAcks(load, 50, seconds(60)));
    broker.down = true;
    REQUIRE(KafkaScript("down") == 0);
    const auto down_at = Clock::now();
    // The writers keep sending while the broker is away (the outage is the fault, not a wait
    // for a result).
    std::this_thread::sleep_until(down_at + kOutage);
    REQUIRE(KafkaScript("up") == 0);
    broker.down = false;
    // Writes resume: more commands are acknowledged after the restart.
    INFO(Tail(server.stderr_path()));
    REQUIRE(WaitForAcks(load, 50, seconds(90)));
    writers.Join();
  }
  {
    std::lock_guard<std::mutex> lock(load.mu);
    std::ostringstream failures;
    for (const auto& [what, n] : load.failures) failures << n << " x " << what << "\n";
    INFO("failures seen by clients:\n" << failures.str());
    INFO(Join(load.problems));
    CHECK(load.problems.empty());
    // The outage was noticed (the writers ran through it).
    CHECK(!load.failures.empty());
  }
  auto channel = server.NewChannel();
  const WholeLog log = ReadWholeLog(channel);
  {
    const auto problems = CheckKafkaLog(log);
    INFO(Join(problems));
    CHECK(problems.empty());
    const auto diff = CompareWithKnown(log, load.acked);
    INFO(Join(diff));
    CHECK(diff.empty());
  }
  const auto live = LiveDigests(channel);
  CHECK(live == RebuildDigests(channel));
  UNSCOPED_INFO("outage: " << load.acked_commands.load() << " commands, " << log.total()
                           << " events acknowledged");

  const auto stopped = server.Terminate(seconds(20));
  REQUIRE(stopped.has_value());
  CHECK(stopped->exited);
}

TEST_CASE("kafka_fault: SIGKILL of perfledgerd under load, then a read replica and the auditor "
          "replay agree",
          "[e2e][kafka]") {
  RequireBroker();
  TempDir dir("kafka-kill");
  const std::string prefix = UniquePrefix("kill");
  ServerProcess server(dir.Sub("data"), dir.path(), KafkaFlags(prefix));
  server.Start();
  Seed(dir, server);
  Load load;
  for (const auto& [id, pos] : ReadWholeLog(server.NewChannel()).ByEventId()) {
    load.acked.emplace(id, pos);
  }
  load.stop_on_failure = true;
  {
    Writers writers{&load, {}};
    for (int w = 0; w < kWriters; w++) {
      writers.threads.emplace_back(Writer, w, server.NewChannel(), &load);
    }
    REQUIRE(WaitForAcks(load, 150, seconds(60)));
    const ExitStatus killed = server.Kill();  // mid-stream
    writers.Join();
    REQUIRE(killed.signal == SIGKILL);
  }
  INFO(Join(load.problems));
  REQUIRE(load.problems.empty());

  // Restart on the same topics and data dir (the new writer fences the dead one's producer).
  server.Start();
  auto channel = server.NewChannel();
  // Commands the kill interrupted: re-sent, they either replay the first answer or append now.
  for (const Command& c : load.unknown) {
    v1::CommandResult result;
    const grpc::Status s = Send(channel, c, &result);
    INFO("retry of " << c.key << ": " << s.error_message());
    REQUIRE(s.ok());
    Record(load, c, result);
  }
  const WholeLog log = ReadWholeLog(channel);
  {
    const auto problems = CheckKafkaLog(log);
    INFO(Join(problems));
    CHECK(problems.empty());
    const auto diff = CompareWithKnown(log, load.acked);
    INFO(Join(diff));
    CHECK(diff.empty());
    INFO(Join(load.problems));
    CHECK(load.problems.empty());
  }
  const auto live = LiveDigests(channel);
  CHECK(live == RebuildDigests(channel));

  // A read replica on the same topics, with its own state: the same digests, and no writes.
  ServerProcess replica(dir.Sub("replica"), dir.Sub("replica-logs"),
                        {"--log-backend", "kafka", "--kafka-brokers", Brokers(),
                         "--kafka-topic-prefix", prefix, "--read-replica"});
  std::filesystem::create_directories(dir.Sub("replica-logs"));
  replica.Start();
  CHECK(LiveDigests(replica.NewChannel()) == live);
  {
    Command c;
    c.key = "on-the-replica";
    c.check_in.mutable_meta()->set_idempotency_key(c.key);
    c.check_in.set_check_in_id("ci-replica");
    c.check_in.set_employee_id(Employee(1));
    c.check_in.set_cycle_id(kCycle);
    v1::CommandResult result;
    const grpc::Status s = Send(replica.NewChannel(), c, &result);
    CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  }

  // The auditor's replay: the topics from offset 0 into a scratch directory.
  const std::string scratch = dir.Sub("scratch");
  ChildProcess audit({PERFLEDGERD_PATH, "--log-backend", "kafka", "--kafka-brokers", Brokers(),
                      "--kafka-topic-prefix", prefix, "--replay-to", scratch},
                     dir.Sub("replay.out"), dir.Sub("replay.err"));
  const auto ended = audit.WaitFor(seconds(120));
  REQUIRE(ended.has_value());
  INFO(ReadFile(dir.Sub("replay.err")));
  REQUIRE(ended->exited);
  REQUIRE(ended->code == 0);
  std::map<std::string, std::string> replayed;
  for (const std::string& line : Lines(ReadFile(dir.Sub("replay.out")))) {
    std::istringstream in(line);
    std::string view, digest;
    in >> view >> digest;
    replayed[view] = digest;
  }
  CHECK(replayed == live);
  CHECK(replica.Terminate(seconds(20)).has_value());
  CHECK(server.Terminate(seconds(20)).has_value());
}

}  // namespace
}  // namespace perfledger::e2e
