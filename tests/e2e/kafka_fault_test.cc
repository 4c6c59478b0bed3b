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

constexpr int kWriters = 3;
constexpr auto kOutage = seconds(10);

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
  SeedLoadOrg(dir, server);
  const WholeLog seeded = ReadWholeLog(server.NewChannel());
  Load load;
  for (const auto& [id, pos] : seeded.ByEventId()) load.acked.emplace(id, pos);

  BrokerGuard broker;
  {
    LoadWriters writers{&load, {}};
    writers.Start(server, kWriters);
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
    INFO(JoinLines(load.problems));
    CHECK(load.problems.empty());
    // The outage was noticed (the writers ran through it).
    CHECK(!load.failures.empty());
  }
  auto channel = server.NewChannel();
  const WholeLog log = ReadWholeLog(channel);
  {
    const auto problems = CheckKafkaLog(log);
    INFO(JoinLines(problems));
    CHECK(problems.empty());
    const auto diff = CompareWithKnown(log, load.acked);
    INFO(JoinLines(diff));
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
  SeedLoadOrg(dir, server);
  Load load;
  for (const auto& [id, pos] : ReadWholeLog(server.NewChannel()).ByEventId()) {
    load.acked.emplace(id, pos);
  }
  load.stop_on_failure = true;
  {
    LoadWriters writers{&load, {}};
    writers.Start(server, kWriters);
    REQUIRE(WaitForAcks(load, 150, seconds(60)));
    const ExitStatus killed = server.Kill();  // mid-stream
    writers.Join();
    REQUIRE(killed.signal == SIGKILL);
  }
  INFO(JoinLines(load.problems));
  REQUIRE(load.problems.empty());

  // Restart on the same topics and data dir (the new writer fences the dead one's producer).
  server.Start();
  auto channel = server.NewChannel();
  // Commands the kill interrupted: re-sent, they either replay the first answer or append now.
  for (const LoadCommand& c : load.unknown) {
    v1::CommandResult result;
    const grpc::Status s = SendLoadCommand(channel, c, &result, kLoadCallDeadline);
    INFO("retry of " << c.key << ": " << s.error_message());
    REQUIRE(s.ok());
    RecordAck(load, result);
  }
  const WholeLog log = ReadWholeLog(channel);
  {
    const auto problems = CheckKafkaLog(log);
    INFO(JoinLines(problems));
    CHECK(problems.empty());
    const auto diff = CompareWithKnown(log, load.acked);
    INFO(JoinLines(diff));
    CHECK(diff.empty());
    INFO(JoinLines(load.problems));
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
    LoadCommand c;
    c.key = "on-the-replica";
    c.check_in.mutable_meta()->set_idempotency_key(c.key);
    c.check_in.set_check_in_id("ci-replica");
    c.check_in.set_employee_id("E1");
    c.check_in.set_cycle_id(kLoadCycle);
    v1::CommandResult result;
    const grpc::Status s = SendLoadCommand(replica.NewChannel(), c, &result, kLoadCallDeadline);
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
