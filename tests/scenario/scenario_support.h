// Support for the scenario tests: the REAL perfledgerd as a child process (RAII: killed at the
// end of the test, even on failure, and by PR_SET_PDEATHSIG if the test binary dies), perfctl
// runs with a bounded wait, and typed reads of the log.
//
// A minimal copy of what tests/e2e/e2e_support.* does for the e2e tests, kept separate so the
// two suites evolve independently.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "perfledger/v1/ledger.grpc.pb.h"

#ifndef PERFLEDGERD_PATH
#error "PERFLEDGERD_PATH must name the perfledgerd binary"
#endif
#ifndef PERFCTL_PATH
#error "PERFCTL_PATH must name the perfctl binary"
#endif

namespace perfledger::scenario {

namespace v1 = perfledger::v1;
using Clock = std::chrono::steady_clock;

// A loaded 2-core machine can take seconds to exec a big binary.
inline constexpr std::chrono::seconds kReadyTimeout{30};
inline constexpr std::chrono::seconds kCommandTimeout{120};

// A fresh directory under $TMPDIR (or /tmp); removed at the end unless the test failed (or
// PERFLEDGER_SCENARIO_KEEP is set), so the server's logs can be read.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }
  std::string WriteFile(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// Set by the test's Catch listener when an assertion fails: the TempDir is then kept.
void MarkFailed();

struct ExitStatus {
  bool exited = false;  // normal exit (code valid); else killed by `signal`
  int code = -1;
  int signal = 0;
  std::string Describe() const;
};

// fork/exec with stdin /dev/null and stdout/stderr to files; the destructor SIGKILLs and reaps.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& stdout_path,
               const std::string& stderr_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool Running();
  std::optional<ExitStatus> WaitFor(Clock::duration timeout);
  ExitStatus Kill();
  const std::optional<ExitStatus>& exit_status() const { return status_; }

 private:
  bool Reap(bool block);
  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
};

std::string ReadFile(const std::string& path);

// The log backend of a Server: the embedded log, or Kafka (topics under a prefix of their own
// per Server, on the broker of PERFLEDGER_KAFKA_BROKERS). The default is Kafka in the binary
// compiled with PERFLEDGER_SCENARIO_KAFKA=1 (the scenario's conformance run), else embedded.
enum class Backend { kEmbedded, kKafka };
Backend DefaultBackend();

// perfledgerd --data-dir DIR/data --listen 127.0.0.1:0 --deadline-check-seconds 0 (plus the
// Kafka flags for that backend); Start() waits for "serving on port N" and a Log.Status answer.
// Killed by the destructor.
class Server {
 public:
  explicit Server(const TempDir& dir, Backend backend = DefaultBackend(),
                  const std::string& data_name = "data");
  ~Server();
  void Start();
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  const std::string& stderr_path() const { return stderr_path_; }

 private:
  const TempDir& dir_;
  Backend backend_;
  std::string data_name_;
  std::string topic_prefix_;  // kafka: the same topics across restarts
  std::unique_ptr<ChildProcess> process_;
  std::string stderr_path_;
  int port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
};

struct CommandOutput {
  ExitStatus status;
  std::string out;
  std::string err;
  std::string command;
  int code() const { return status.exited ? status.code : -1; }
  std::string Describe() const;  // for failure messages
};

// Runs PERFCTL_PATH --server ADDRESS ARGS...; throws if it does not end within kCommandTimeout.
CommandOutput RunPerfctl(const TempDir& dir, const std::string& address,
                         const std::vector<std::string>& args);

// A gRPC deadline from now.
std::chrono::system_clock::time_point DeadlineIn(std::chrono::milliseconds d);

v1::StatusResponse GetStatus(const std::shared_ptr<grpc::Channel>& channel);
// Sum of the partitions' end offsets.
uint64_t LogEnd(const v1::StatusResponse& status);

// Every event of every partition, payloads decoded.
std::vector<v1::RecordedEvent> ReadAll(const std::shared_ptr<grpc::Channel>& channel);

// Waits until the log stops growing (the reactor appends actions after the commands that cause
// them) and the projector has applied everything: three equal log ends in a row, 150 ms apart,
// with zero projection lag. Throws after `timeout`.
void WaitQuiescent(const std::shared_ptr<grpc::Channel>& channel,
                   std::chrono::seconds timeout = std::chrono::seconds(60));

}  // namespace perfledger::scenario
