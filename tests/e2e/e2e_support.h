// End-to-end test support: the REAL perfledgerd and perfctl binaries as child processes.
//
// - ChildProcess: fork/exec with stdout/stderr captured to files; the destructor SIGKILLs and
//   reaps a child that is still running (RAII: no stray server survives a failed test), and the
//   child carries PR_SET_PDEATHSIG=SIGKILL so it dies even when the test binary itself is killed
//   (ctest timeout, crash).
// - ServerProcess: perfledgerd on 127.0.0.1:0 with a given data dir; Start() parses
//   "serving on port N" from its stderr file and then polls Log.Status until it answers, both
//   within a bounded deadline (no fixed sleeps).
// - RunPerfctl: one perfctl invocation, bounded by a timeout, with its exit code and output.
// - ReadWholeLog / CheckLog: Log.ReadEvents of every partition and the invariants the log
//   promises (contiguous offsets, sequences, hash chain, stream versions, Status agreement).
// - The Kafka fault tests' load: writer threads that re-send each command under its
//   idempotency key until acknowledged and record every acknowledged event (Load, LoadWriters),
//   the org they write about (SeedLoadOrg), and the checks after a fault (CheckKafkaLog,
//   CompareWithKnown, VerifyChain); KafkaScript runs deploy/kafka/kafka.sh.
//
// Children are started only from the thread that runs the test case: PR_SET_PDEATHSIG fires when
// the *thread* that forked exits.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/channel.h>

#include "perfledger/v1/ledger.grpc.pb.h"

#ifndef PERFLEDGERD_PATH
#error "PERFLEDGERD_PATH must name the perfledgerd binary"
#endif
#ifndef PERFCTL_PATH
#error "PERFCTL_PATH must name the perfctl binary"
#endif

namespace perfledger::e2e {

namespace v1 = perfledger::v1;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Deadline for a server to come up, and for any single child to finish. Generous: a loaded
// 2-core machine with several builds running can take seconds to exec a big binary.
inline constexpr seconds kReadyTimeout{20};
inline constexpr seconds kCommandTimeout{30};

// A gRPC deadline (gRPC takes system_clock time points only).
inline std::chrono::system_clock::time_point DeadlineIn(Clock::duration d) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
}

// Set by the Catch listener of each test binary (e2e_listener.h) when an assertion fails; a
// TempDir is kept (and its path printed) when a test failed, so the server logs can be read.
void MarkFailed();
bool AnyFailure();

// A fresh directory /tmp/perfledger-e2e-<tag>-XXXXXX, removed at the end unless a test failed or
// PERFLEDGER_E2E_KEEP is set.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }
  // Writes a file under the directory and returns its path.
  std::string WriteFile(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

struct ExitStatus {
  bool exited = false;  // normal exit (code valid); else killed by `signal`
  int code = -1;
  int signal = 0;
  std::string Describe() const;
};

class ChildProcess {
 public:
  // Starts argv[0] (a path) with its arguments. stdin is /dev/null; stdout and stderr go to the
  // given files (truncated). PERFLEDGER_* variables of the test's environment are not passed on.
  ChildProcess(const std::vector<std::string>& argv, const std::string& stdout_path,
               const std::string& stderr_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool Running();
  void Signal(int signal);
  // Waits up to `timeout` for the child to end; nullopt if it is still running.
  std::optional<ExitStatus> WaitFor(Clock::duration timeout);
  // SIGKILL (if still running) and reap.
  ExitStatus Kill();
  const std::optional<ExitStatus>& exit_status() const { return status_; }

 private:
  bool Reap(bool block);

  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
};

std::string ReadFile(const std::string& path);
// The last `lines` lines of a file (for failure messages).
std::string Tail(const std::string& path, int lines = 30);

// perfledgerd as a child process.
class ServerProcess {
 public:
  // `log_dir` receives server-<n>.out/.err for the n-th start.
  ServerProcess(std::string data_dir, std::string log_dir,
                std::vector<std::string> extra_flags = {});
  ~ServerProcess();

  // Spawns perfledgerd and waits for readiness (port parsed from stderr, then Log.Status OK)
  // within kReadyTimeout. Throws std::runtime_error (with the stderr tail) otherwise.
  // `port` 0 lets the kernel choose; a restart passes port() so that clients find it again.
  void Start(int port = 0);
  // SIGKILL and reap: a crash.
  ExitStatus Kill();
  // SIGTERM, then waits up to `timeout` for the exit (SIGKILL after that; nullopt returned).
  std::optional<ExitStatus> Terminate(Clock::duration timeout);

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  ChildProcess* process() { return process_.get(); }
  const std::string& stderr_path() const { return stderr_path_; }
  // A new channel (own HTTP/2 connection) to the current instance.
  std::shared_ptr<grpc::Channel> NewChannel() const;

 private:
  std::string data_dir_;
  std::string log_dir_;
  std::vector<std::string> extra_flags_;
  std::unique_ptr<ChildProcess> process_;
  std::string stderr_path_;
  int starts_ = 0;
  int port_ = 0;
};

struct CommandOutput {
  ExitStatus status;
  std::string out;
  std::string err;
  std::string Describe() const;  // for failure messages
};

// Runs perfctl with `args` (without the binary), `--server address` prepended unless empty.
// Output files go to `dir`. Throws when it does not finish within kCommandTimeout.
CommandOutput RunPerfctl(const std::string& dir, const std::string& address,
                         const std::vector<std::string>& args);

// The non-empty lines of a text.
std::vector<std::string> Lines(const std::string& text);

// Log.Status with a deadline; throws on failure.
v1::StatusResponse GetStatus(const std::shared_ptr<grpc::Channel>& channel);

// Every event of every partition, per partition in offset order (Log.ReadEvents, paged).
struct WholeLog {
  v1::StatusResponse status;  // taken after the read (the server must be quiescent)
  std::vector<std::vector<v1::RecordedEvent>> partitions;
  size_t total() const;
  // event_id → (partition, offset) of every event.
  std::map<std::string, v1::Position> ByEventId() const;
};
WholeLog ReadWholeLog(const std::shared_ptr<grpc::Channel>& channel);

// Problems with the log's invariants, one line each (empty: all hold):
// - offsets in each partition contiguous from 0, sequence == offset;
// - every link verifies (perfledger::VerifyLink from the genesis hash);
// - Status: end_offset == events read, last_hash == hex of the last hash;
// - event ids unique; each stream lives in one partition with versions 1..n in log order;
// - a command's events (command_id) are appended once, as many as command_event_count says.
std::vector<std::string> CheckLog(const WholeLog& log);

// ---------------------------------------------------------------- the views

// Each view's digest once the projector has applied the whole log (waits up to 60 s; throws).
std::map<std::string, std::string> LiveDigests(const std::shared_ptr<grpc::Channel>& channel);
// Each view's digest after Views.Rebuild replayed the whole log (throws on failure).
std::map<std::string, std::string> RebuildDigests(const std::shared_ptr<grpc::Channel>& channel);

// ---------------------------------------------------------------- Kafka fault tests

// deploy/kafka/kafka.sh with `args` (e.g. "up", "--nodes 3 node 2 kill") and the test's own
// environment (PERFLEDGER_KAFKA_HOME, ports). Returns the exit code; the output goes to
// `output` when given, else nowhere.
int KafkaScript(const std::string& args, std::string* output = nullptr);

// The org the load writes about: org units HQ and OPS under it, manager M1 in HQ, employees
// LoadEmployee(1..employees) in OPS reporting to M1, cycle kLoadCycle open: 2 + 1 + employees + 1
// events. Seeded through perfctl (throws on failure).
inline constexpr int kLoadEmployees = 8;
inline constexpr char kLoadCycle[] = "2026H1";
inline constexpr char kLoadManager[] = "M1";
std::string LoadEmployee(int i);  // "E<i>"
void SeedLoadOrg(const TempDir& dir, const ServerProcess& server, int employees = kLoadEmployees);

// One command: a metric batch over several employees (several partitions, one transaction) or
// a check-in (one event), always with an idempotency key.
struct LoadCommand {
  bool batch = false;
  std::string key;
  v1::ObserveMetricsRequest metrics;
  v1::RecordCheckInRequest check_in;
};
LoadCommand MakeLoadCommand(std::mt19937& rng, const std::string& key);
// Sends `c` once, with a deadline of `deadline` from now.
grpc::Status SendLoadCommand(const std::shared_ptr<grpc::Channel>& channel, const LoadCommand& c,
                             v1::CommandResult* result, Clock::duration deadline);

// What the writers learned, shared with the test thread.
struct Load {
  std::mutex mu;
  std::map<std::string, v1::Position> acked;  // event id → position, from the answers
  std::vector<Clock::time_point> ack_times;   // when each command was acknowledged
  std::map<std::string, int> failures;        // "CODE message" → count
  std::vector<std::string> problems;          // answers that contradict each other
  std::atomic<size_t> acked_commands{0};
  std::atomic<bool> stop{false};
  // Set when the writers may meet failures that are not the broker's (a SIGKILL of the
  // server): they stop at their first failure and leave the command to the test thread.
  std::atomic<bool> stop_on_failure{false};
  std::vector<LoadCommand> unknown;  // commands whose outcome a kill hid
  // Key prefix of the commands (distinct per round when one server sees several rounds).
  std::string key_prefix;
  unsigned seed = 17;
};

// Records an acknowledged command's events (a second, different position is a problem).
void RecordAck(Load& load, const v1::CommandResult& result);
// Re-sends each command under its idempotency key until acknowledged (at most `retry_for`);
// every failure must be UNAVAILABLE or DEADLINE_EXCEEDED.
inline constexpr seconds kLoadCallDeadline{15};
inline constexpr seconds kLoadRetryFor{120};
void LoadWriter(int writer, std::shared_ptr<grpc::Channel> channel, Load* load);

// The writer threads of one load; joined by Join() or at destruction.
struct LoadWriters {
  Load* load;
  std::vector<std::thread> threads;
  void Start(const ServerProcess& server, int writers);
  void Join();
  ~LoadWriters() { Join(); }
};

// Waits (bounded) until `count` more commands are acknowledged.
bool WaitForAcks(Load& load, size_t count, Clock::duration within);

// One line per entry.
std::string JoinLines(const std::vector<std::string>& lines);

// Kafka offsets have gaps (transaction markers), so CheckLog's contiguity does not apply:
// per partition the sequences are contiguous from 0, every link verifies, event ids are unique
// and Status agrees on the last hash, the events in each partition and in all, and has no more
// group commits than appends.
std::vector<std::string> CheckKafkaLog(const WholeLog& log);
// The log holds exactly `known` (each id once, at its acknowledged position) and nothing else.
std::vector<std::string> CompareWithKnown(const WholeLog& log,
                                          const std::map<std::string, v1::Position>& known);
// Audit.VerifyChain's verdict: empty when every partition's chain verifies, else the problem.
std::string VerifyChain(const std::shared_ptr<grpc::Channel>& channel);

}  // namespace perfledger::e2e
