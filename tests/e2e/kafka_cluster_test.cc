// kafka_cluster_test: the real perfledgerd on a three-node Kafka cluster (RF 3, min ISR 2,
// unclean election off) under node faults, with writers that re-send each command under its
// idempotency key until acknowledged and record every acknowledged event.
//
// The cluster is the one deploy/test.sh started (`deploy/kafka/kafka.sh --nodes 3 up`): its
// bootstrap comes from PERFLEDGER_KAFKA_CLUSTER_BROKERS; faults go through kafka.sh with the
// same PERFLEDGER_KAFKA_HOME and PERFLEDGER_KAFKA_CLUSTER_PORT. Without a cluster that answers
// every case fails. The faults take nodes down, so CTest runs the cases alone (RUN_SERIAL).
//
// One case per fault, each on topics of its own:
//   leader-kill       SIGKILL of the node leading data partition 0, then a restart
//   controller-kill   SIGKILL of the active KRaft controller's node, then a restart
//   coordinator-kill  SIGKILL of the node coordinating the writer's transactional.id, restart
//   pause             SIGSTOP of the data partition's leader for 15 s, then SIGCONT
//   two-down          SIGKILL of two nodes: no append is acknowledged while min ISR cannot be
//                     met (clients see UNAVAILABLE or DEADLINE_EXCEEDED); one node restarted
// After each: every acknowledged event is in the log exactly once, at its acknowledged
// position; nothing else is; the chains verify (Audit.VerifyChain); the views' digests equal a
// rebuild's; and a command sent once the fault has healed is acknowledged within 15 s.
//
// Soak: the case "[soak]" runs PERFLEDGER_SOAK_ROUNDS rounds (2 unless set) of randomly chosen
// faults (seed PERFLEDGER_SOAK_SEED, else the clock; printed) against one server, with the same
// checks after every round. CTest runs the two; tests/e2e/kafka_soak.sh runs 20 or as many as
// it is given.

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/e2e_listener.h"

namespace perfledger::e2e {
namespace {

constexpr int kNodes = 3;
constexpr int kWriters = 3;
// Load before a fault, while it lasts (one node down) and after it healed.
constexpr size_t kAcksBefore = 40;
constexpr size_t kAcksDuring = 20;
constexpr size_t kAcksAfter = 40;
constexpr auto kAcksWithin = seconds(60);
constexpr auto kPause = seconds(15);
// Two nodes down this long; appends answered from `kTwoDownSettle` on must all fail (an append
// in flight at the kill may still finish within the append timeout, 10 s).
constexpr auto kTwoDown = seconds(20);
constexpr auto kTwoDownSettle = seconds(12);
// A command sent after the fault healed is acknowledged within this.
constexpr auto kResumeMax = seconds(15);
constexpr auto kHealthyWithin = seconds(120);

std::string ClusterBrokers() {
  const char* b = std::getenv("PERFLEDGER_KAFKA_CLUSTER_BROKERS");
  return b == nullptr ? "" : b;
}

std::string KafkaHome() {
  const char* h = std::getenv("PERFLEDGER_KAFKA_HOME");
  return h != nullptr && *h != '\0' ? h : std::string(PERFLEDGER_SOURCE_DIR) + "/.kafka";
}

std::string UniquePrefix(const std::string& tag) {
  return "cluster-" + tag + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(std::chrono::duration_cast<milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count());
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// A shell command's exit code and output (stdout and stderr), bounded by `timeout` seconds.
int Capture(const std::string& command, std::string* output, int timeout = 60) {
  const std::string file = "/tmp/perfledger-cluster-" + std::to_string(::getpid()) + ".out";
  const int rc = std::system(("timeout " + std::to_string(timeout) + " " + command + " >'" +
                              file + "' 2>&1")
                                 .c_str());
  *output = ReadFile(file);
  std::remove(file.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int ClusterScript(const std::string& args, std::string* output = nullptr) {
  std::string ignored;
  return KafkaScript("--nodes 3 " + args, output != nullptr ? output : &ignored);
}

// The cluster's metadata (kcat -L -J): brokers, and every partition's leader, replicas and ISR.
struct PartitionInfo {
  int leader = -1;
  size_t replicas = 0;
  size_t isr = 0;
};
struct Metadata {
  std::set<int> brokers;
  std::map<std::string, std::vector<PartitionInfo>> topics;
};

std::optional<Metadata> ReadMetadata(std::string* error) {
  std::string out;
  if (Capture("kcat -b '" + ClusterBrokers() + "' -L -J -m 5", &out, 20) != 0) {
    *error = "kcat -L: " + out;
    return std::nullopt;
  }
  // kcat prints the JSON document on one line; warnings may precede it.
  const size_t brace = out.find('{');
  if (brace == std::string::npos) {
    *error = "kcat -L: no JSON in: " + out;
    return std::nullopt;
  }
  const auto json = nlohmann::json::parse(out.substr(brace), nullptr, false);
  if (json.is_discarded()) {
    *error = "kcat -L: unparsable JSON: " + out;
    return std::nullopt;
  }
  Metadata md;
  for (const auto& b : json.value("brokers", nlohmann::json::array())) {
    md.brokers.insert(b.value("id", -1));
  }
  for (const auto& t : json.value("topics", nlohmann::json::array())) {
    auto& parts = md.topics[t.value("topic", "")];
    for (const auto& p : t.value("partitions", nlohmann::json::array())) {
      PartitionInfo info;
      info.leader = p.value("leader", -1);
      info.replicas = p.value("replicas", nlohmann::json::array()).size();
      info.isr = p.value("isrs", nlohmann::json::array()).size();
      const size_t index = static_cast<size_t>(p.value("partition", 0));
      if (parts.size() <= index) parts.resize(index + 1);
      parts[index] = info;
    }
  }
  return md;
}

// Runs one of Kafka's command-line tools (org.apache.kafka.tools.<tool>) against the cluster.
std::string KafkaTool(const std::string& tool, const std::string& args) {
  std::string out;
  const int rc = Capture("java -Xmx128m -cp '" + KafkaHome() + "/libs/*' org.apache.kafka.tools." +
                             tool + " --bootstrap-server '" + ClusterBrokers() + "' " + args,
                         &out, 60);
  if (rc != 0) throw std::runtime_error(tool + " " + args + " failed: " + out);
  return out;
}

// The node of the active KRaft controller (the quorum's leader; the Metadata response's
// controller id is a random broker under KRaft).
int ActiveController() {
  const std::string out = KafkaTool("MetadataQuorumCommand", "describe --status");
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(R"(LeaderId:\s+(\d+))"))) {
    throw std::runtime_error("MetadataQuorumCommand: no LeaderId in: " + out);
  }
  return std::stoi(m[1]);
}

// The node coordinating `transactional_id`'s transactions.
int TransactionCoordinator(const std::string& transactional_id) {
  const std::string out =
      KafkaTool("TransactionsCommand", "describe --transactional-id " + transactional_id);
  // A header line and a value line, whitespace-separated columns.
  std::vector<std::vector<std::string>> rows;
  for (const std::string& line : Lines(out)) {
    std::istringstream in(line);
    std::vector<std::string> cells;
    for (std::string cell; in >> cell;) cells.push_back(cell);
    rows.push_back(cells);
  }
  for (size_t r = 0; r + 1 < rows.size(); r++) {
    for (size_t c = 0; c < rows[r].size(); c++) {
      if (rows[r][c] == "CoordinatorId" && c < rows[r + 1].size()) {
        return std::stoi(rows[r + 1][c]);
      }
    }
  }
  throw std::runtime_error("TransactionsCommand: no CoordinatorId in: " + out);
}

void RequireCluster() {
  INFO("PERFLEDGER_KAFKA_CLUSTER_BROKERS must name the three-node cluster deploy/test.sh "
       "started (deploy/kafka/kafka.sh --nodes 3 up), and PERFLEDGER_KAFKA_HOME / "
       "PERFLEDGER_KAFKA_CLUSTER_PORT its kafka.sh settings");
  REQUIRE(!ClusterBrokers().empty());
  REQUIRE(ClusterBrokers() != "unavailable");
  std::string error;
  const auto md = ReadMetadata(&error);
  INFO("the cluster does not answer: " << error);
  REQUIRE(md.has_value());
  REQUIRE(md->brokers.size() == static_cast<size_t>(kNodes));
}

// Every node running and registered, every partition of every topic with its full ISR: the
// next fault starts from a healthy cluster (a partition still catching up could otherwise lose
// its last in-sync replica to the next kill, and unclean election is off).
void AwaitHealthy() {
  const auto until = Clock::now() + kHealthyWithin;
  std::string why;
  for (;;) {
    std::string status;
    if (ClusterScript("status", &status) != 0) {
      why = "kafka.sh status: " + status;
    } else if (auto md = ReadMetadata(&why); md.has_value()) {
      why.clear();
      if (md->brokers.size() != static_cast<size_t>(kNodes)) {
        why = std::to_string(md->brokers.size()) + " brokers registered";
      }
      for (const auto& [topic, parts] : md->topics) {
        for (size_t p = 0; p < parts.size() && why.empty(); p++) {
          if (parts[p].leader < 0 || parts[p].isr < parts[p].replicas) {
            why = topic + " [" + std::to_string(p) + "] has " + std::to_string(parts[p].isr) +
                  " of " + std::to_string(parts[p].replicas) + " replicas in sync";
          }
        }
      }
      if (why.empty()) return;
    }
    if (Clock::now() >= until) {
      FAIL("the cluster did not become healthy within " << Seconds(kHealthyWithin)
                                                        << " s: " << why);
    }
    std::this_thread::sleep_for(milliseconds(500));
  }
}

int LeaderOf(const std::string& topic, size_t partition) {
  std::string error;
  const auto md = ReadMetadata(&error);
  INFO(error);
  REQUIRE(md.has_value());
  auto it = md->topics.find(topic);
  REQUIRE(it != md->topics.end());
  REQUIRE(partition < it->second.size());
  REQUIRE(it->second[partition].leader >= 1);
  return it->second[partition].leader;
}

enum class Fault { kLeaderKill, kControllerKill, kCoordinatorKill, kPause, kTwoDown };
constexpr Fault kAllFaults[] = {Fault::kLeaderKill, Fault::kControllerKill,
                                Fault::kCoordinatorKill, Fault::kPause, Fault::kTwoDown};

const char* FaultName(Fault f) {
  switch (f) {
    case Fault::kLeaderKill: return "leader-kill";
    case Fault::kControllerKill: return "controller-kill";
    case Fault::kCoordinatorKill: return "coordinator-kill";
    case Fault::kPause: return "pause";
    case Fault::kTwoDown: return "two-down";
  }
  return "?";
}

// The server under test: perfledgerd on the cluster with topics of its own.
struct Subject {
  TempDir dir;
  std::string prefix;
  ServerProcess server;
  Load load;
  int rounds = 0;

  explicit Subject(const std::string& tag)
      : dir("kafka-cluster-" + tag),
        prefix(UniquePrefix(tag)),
        server(dir.Sub("data"), dir.path(),
               {"--log-backend", "kafka", "--kafka-brokers", ClusterBrokers(),
                "--kafka-topic-prefix", prefix, "--data-partitions", "4",
                "--deadline-check-seconds", "0", "--shutdown-grace-seconds", "5"}) {
    server.Start();
    SeedLoadOrg(dir, server);
    for (const auto& [id, pos] : ReadWholeLog(server.NewChannel()).ByEventId()) {
      load.acked.emplace(id, pos);
    }
  }
  std::string transactional_id() const { return prefix + "-writer"; }
  std::string events_topic() const { return prefix + ".events"; }
};

struct Figures {
  Fault fault{};
  std::vector<int> nodes;       // the nodes the fault hit
  double longest_pause = 0;     // s without any acknowledgement, from the fault on
  double resume = 0;            // s from the heal to a new command's acknowledgement
  size_t acked_events = 0;      // acknowledged in this round
  size_t lost = 0;              // acknowledged, not in the log (whole log)
  size_t duplicated = 0;        // event ids in the log more than once (whole log)
  std::string Describe() const {
    std::ostringstream out;
    out << FaultName(fault) << " (node";
    for (int n : nodes) out << " " << n;
    out << "): resume " << resume << " s after the heal, longest pause " << longest_pause
        << " s, " << acked_events << " events acknowledged, " << lost << " lost, " << duplicated
        << " duplicated";
    return out.str();
  }
};

// Sends fresh commands (one at a time, each retried under its key) until one is acknowledged;
// returns when, or nullopt after `within`.
std::optional<Clock::time_point> Probe(Subject& s, const std::string& tag,
                                       Clock::duration within) {
  auto channel = s.server.NewChannel();
  std::mt19937 rng(7);
  const auto until = Clock::now() + within;
  const LoadCommand c = MakeLoadCommand(rng, s.load.key_prefix + "probe-" + tag);
  while (Clock::now() < until) {
    v1::CommandResult result;
    const auto left = std::chrono::duration_cast<Clock::duration>(until - Clock::now());
    const grpc::Status st = SendLoadCommand(channel, c, &result, std::max<Clock::duration>(
                                                                     left, milliseconds(100)));
    if (st.ok()) {
      RecordAck(s.load, result);
      return Clock::now();
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  return std::nullopt;
}

size_t AcksBetween(Load& load, Clock::time_point from, Clock::time_point to) {
  std::lock_guard<std::mutex> lock(load.mu);
  size_t n = 0;
  for (auto t : load.ack_times) n += t >= from && t < to;
  return n;
}

double LongestPause(Load& load, Clock::time_point from, Clock::time_point to) {
  std::lock_guard<std::mutex> lock(load.mu);
  Clock::time_point last = from;
  Clock::duration longest{};
  for (auto t : load.ack_times) {
    if (t < from || t > to) continue;
    longest = std::max(longest, t - last);
    last = t;
  }
  return Seconds(std::max(longest, to - last));
}

void Kill(int node) {
  std::string out;
  const int rc = ClusterScript("node " + std::to_string(node) + " kill", &out);
  INFO(out);
  REQUIRE(rc == 0);
}

void Restart(int node) {
  std::string out;
  const int rc = ClusterScript("node " + std::to_string(node) + " start", &out);
  INFO(out);
  REQUIRE(rc == 0);
}

// Brings every node back, however the round ends.
struct NodesGuard {
  std::vector<int> killed;
  std::vector<int> stopped;
  ~NodesGuard() {
    for (int n : stopped) ClusterScript("node " + std::to_string(n) + " cont");
    for (int n : killed) ClusterScript("node " + std::to_string(n) + " start");
  }
};

// One round: load, the fault, the heal, load again; then the checks.
Figures RunRound(Subject& s, Fault fault) {
  Figures fig;
  fig.fault = fault;
  const int round = ++s.rounds;
  AwaitHealthy();
  Load& load = s.load;
  load.stop = false;
  load.key_prefix = "r" + std::to_string(round) + "-";
  load.seed = static_cast<unsigned>(round);
  size_t acked_before;
  {
    std::lock_guard<std::mutex> lock(load.mu);
    acked_before = load.acked.size();
  }
  const size_t failures_before = [&] {
    std::lock_guard<std::mutex> lock(load.mu);
    size_t n = 0;
    for (const auto& [what, count] : load.failures) n += static_cast<size_t>(count);
    return n;
  }();

  NodesGuard guard;
  Clock::time_point fault_at, heal_at;
  {
    LoadWriters writers{&load, {}};
    writers.Start(s.server, kWriters);
    INFO(Tail(s.server.stderr_path()));
    REQUIRE(WaitForAcks(load, kAcksBefore, kAcksWithin));

    const int leader = LeaderOf(s.events_topic(), 0);
    switch (fault) {
      case Fault::kLeaderKill:
        fig.nodes = {leader};
        break;
      case Fault::kControllerKill:
        fig.nodes = {ActiveController()};
        break;
      case Fault::kCoordinatorKill:
        fig.nodes = {TransactionCoordinator(s.transactional_id())};
        break;
      case Fault::kPause:
        fig.nodes = {leader};
        break;
      case Fault::kTwoDown:
        fig.nodes = {leader, leader % kNodes + 1};
        break;
    }
    UNSCOPED_INFO("round " << round << ": " << FaultName(fault) << " on node "
                           << fig.nodes.front());

    fault_at = Clock::now();
    if (fault == Fault::kPause) {
      guard.stopped = fig.nodes;
      REQUIRE(ClusterScript("node " + std::to_string(fig.nodes[0]) + " stop") == 0);
      // The fault itself lasts kPause; the writers run through it.
      std::this_thread::sleep_until(fault_at + kPause);
      REQUIRE(ClusterScript("node " + std::to_string(fig.nodes[0]) + " cont") == 0);
      guard.stopped.clear();
    } else if (fault == Fault::kTwoDown) {
      for (int n : fig.nodes) {
        guard.killed.push_back(n);
        Kill(n);
      }
      // The outage itself lasts kTwoDown; the writers keep sending through it.
      std::this_thread::sleep_until(fault_at + kTwoDown);
      const size_t acked_while_down =
          AcksBetween(load, fault_at + kTwoDownSettle, Clock::now());
      INFO("two of three nodes down: min ISR cannot be met, yet commands were acknowledged");
      CHECK(acked_while_down == 0);
      Restart(fig.nodes[0]);
      guard.killed.erase(guard.killed.begin());
    } else {
      guard.killed = fig.nodes;
      Kill(fig.nodes[0]);
      // One node down: the other two hold a quorum and min ISR, so writes go on.
      INFO("writes with one node of three down");
      CHECK(WaitForAcks(load, kAcksDuring, kAcksWithin));
      Restart(fig.nodes[0]);
      guard.killed.clear();
    }
    heal_at = Clock::now();
    const auto resumed = Probe(s, std::to_string(round), kAcksWithin);
    REQUIRE(resumed.has_value());
    fig.resume = Seconds(*resumed - heal_at);
    REQUIRE(WaitForAcks(load, kAcksAfter, kAcksWithin));
    writers.Join();
    fig.longest_pause = LongestPause(load, fault_at, Clock::now());
  }
  // The node the two-down round left down comes back for the next round (not part of the
  // measured heal).
  for (int n : guard.killed) Restart(n);
  guard.killed.clear();

  std::lock_guard<std::mutex> lock(load.mu);
  size_t failures_after = 0;
  for (const auto& [what, count] : load.failures) failures_after += static_cast<size_t>(count);
  std::ostringstream failures;
  for (const auto& [what, n] : load.failures) failures << n << " x " << what << "\n";
  INFO("failures seen by clients (all rounds):\n" << failures.str());
  INFO(JoinLines(load.problems));
  CHECK(load.problems.empty());
  if (fault == Fault::kTwoDown) {
    // Appends failed while the cluster could not take them (and were retried).
    CHECK(failures_after > failures_before);
  }

  auto channel = s.server.NewChannel();
  const WholeLog log = ReadWholeLog(channel);
  const auto problems = CheckKafkaLog(log);
  const auto diff = CompareWithKnown(log, load.acked);
  fig.acked_events = load.acked.size() - acked_before;
  for (const auto& d : diff) fig.lost += d.rfind("acknowledged but not in the log", 0) == 0;
  for (const auto& p : problems) fig.duplicated += p.rfind("duplicate event", 0) == 0;
  std::cout << "kafka_cluster round " << round << ": " << fig.Describe() << std::endl;
  {
    INFO(JoinLines(problems));
    CHECK(problems.empty());
    INFO(JoinLines(diff));
    CHECK(diff.empty());
  }
  const std::string chain = VerifyChain(channel);
  INFO(chain);
  CHECK(chain.empty());
  const auto live = LiveDigests(channel);
  CHECK(live == RebuildDigests(channel));
  INFO(fig.Describe());
  CHECK(fig.resume <= Seconds(kResumeMax));
  return fig;
}

void RunCase(Fault fault) {
  RequireCluster();
  Subject s(FaultName(fault));
  const Figures fig = RunRound(s, fault);
  UNSCOPED_INFO(fig.Describe());
  CHECK(s.server.Terminate(seconds(20)).has_value());
}

TEST_CASE("kafka_cluster: SIGKILL of a data partition's leader, then a restart",
          "[e2e][kafka_cluster]") {
  RunCase(Fault::kLeaderKill);
}

TEST_CASE("kafka_cluster: SIGKILL of the active KRaft controller, then a restart",
          "[e2e][kafka_cluster]") {
  RunCase(Fault::kControllerKill);
}

TEST_CASE("kafka_cluster: SIGKILL of the writer's transaction coordinator, then a restart",
          "[e2e][kafka_cluster]") {
  RunCase(Fault::kCoordinatorKill);
}

TEST_CASE("kafka_cluster: SIGSTOP of a data partition's leader for 15 s, then SIGCONT",
          "[e2e][kafka_cluster]") {
  RunCase(Fault::kPause);
}

TEST_CASE("kafka_cluster: two of three nodes down refuse appends, one back and writes resume",
          "[e2e][kafka_cluster]") {
  RunCase(Fault::kTwoDown);
}

TEST_CASE("kafka_cluster: soak, PERFLEDGER_SOAK_ROUNDS rounds of random faults",
          "[soak][kafka_cluster]") {
  constexpr int kDefaultRounds = 2;
  const char* rounds_env = std::getenv("PERFLEDGER_SOAK_ROUNDS");
  INFO("PERFLEDGER_SOAK_ROUNDS must be a number of rounds (1..1000)");
  const int rounds = rounds_env != nullptr ? std::atoi(rounds_env) : kDefaultRounds;
  REQUIRE(rounds >= 1);
  REQUIRE(rounds <= 1000);
  const char* seed_env = std::getenv("PERFLEDGER_SOAK_SEED");
  const unsigned seed = seed_env != nullptr
                            ? static_cast<unsigned>(std::strtoul(seed_env, nullptr, 10))
                            : static_cast<unsigned>(std::random_device{}());
  std::cout << "kafka_cluster soak: " << rounds << " rounds, seed " << seed
            << " (PERFLEDGER_SOAK_SEED=" << seed << " repeats them)" << std::endl;
  RequireCluster();
  std::mt19937 rng(seed);
  Subject s("soak");
  std::vector<Figures> all;
  for (int r = 0; r < rounds; r++) {
    const Fault fault = kAllFaults[rng() % std::size(kAllFaults)];
    all.push_back(RunRound(s, fault));
    if (AnyFailure()) break;
  }
  std::cout << "kafka_cluster soak summary (seed " << seed << "):\n"
            << "round fault            resume_s pause_s acked lost duplicated\n";
  for (size_t i = 0; i < all.size(); i++) {
    const Figures& f = all[i];
    std::cout << std::left << std::setw(6) << i + 1 << std::setw(17) << FaultName(f.fault)
              << std::setw(9) << std::fixed << std::setprecision(1) << f.resume << std::setw(8)
              << f.longest_pause << std::setw(6) << f.acked_events << std::setw(5) << f.lost
              << f.duplicated << "\n";
  }
  std::cout << std::flush;
  CHECK(s.server.Terminate(seconds(20)).has_value());
}

}  // namespace
}  // namespace perfledger::e2e
