#include "tests/e2e/e2e_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/strings/str_cat.h"
#include "ledger/hash_chain.h"
#include "perfledger/v1/audit.grpc.pb.h"
#include "perfledger/v1/views.grpc.pb.h"

extern char** environ;

namespace perfledger::e2e {
namespace {

std::atomic<bool> g_failed{false};

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string PositionText(const v1::Position& p) {
  return std::to_string(p.partition()) + ":" + std::to_string(p.offset());
}

}  // namespace

void MarkFailed() { g_failed = true; }
bool AnyFailure() { return g_failed.load(); }

// ---------------------------------------------------------------- TempDir

TempDir::TempDir(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                        "/perfledger-e2e-" + tag + "-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) throw std::runtime_error(Errno("mkdtemp " + pattern));
  path_ = buffer.data();
}

TempDir::~TempDir() {
  if (AnyFailure() || std::uncaught_exceptions() > 0 || std::getenv("PERFLEDGER_E2E_KEEP")) {
    std::cerr << "e2e: keeping " << path_ << " (server logs and data)\n";
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::WriteFile(const std::string& name, const std::string& content) const {
  const std::string path = Sub(name);
  std::ofstream out(path, std::ios::binary);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path);
  return path;
}

// ---------------------------------------------------------------- processes

std::string ExitStatus::Describe() const {
  if (exited) return "exit " + std::to_string(code);
  return std::string("killed by signal ") + std::to_string(signal) + " (" + strsignal(signal) + ")";
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& stdout_path,
                           const std::string& stderr_path) {
  if (argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; e++) {
    if (std::strncmp(*e, "PERFLEDGER_", 11) != 0) env.push_back(*e);
  }
  env.push_back(nullptr);
  const int out = ::open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out < 0 || err < 0 || in < 0) {
    const std::string message = Errno("open " + stdout_path + " / " + stderr_path);
    for (int fd : {out, err, in}) {
      if (fd >= 0) ::close(fd);
    }
    throw std::runtime_error(message);
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // The child dies with the test process (or rather with this thread; see the header).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execve(args[0], args.data(), env.data());
    static const char kFailed[] = "e2e: execve failed\n";
    (void)!::write(2, kFailed, sizeof(kFailed) - 1);
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(out);
  ::close(err);
  ::close(in);
  if (pid < 0) {
    errno = fork_errno;
    throw std::runtime_error(Errno("fork"));
  }
  pid_ = pid;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) Kill();
}

bool ChildProcess::Reap(bool block) {
  if (status_) return true;
  int wstatus = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &wstatus, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return false;
  ExitStatus s;
  if (r < 0) {  // should not happen: nobody else reaps our children
    s.exited = true;
    s.code = -1;
  } else if (WIFEXITED(wstatus)) {
    s.exited = true;
    s.code = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    s.signal = WTERMSIG(wstatus);
  }
  status_ = s;
  return true;
}

bool ChildProcess::Running() { return !Reap(false); }

void ChildProcess::Signal(int signal) {
  if (!status_) ::kill(pid_, signal);
}

std::optional<ExitStatus> ChildProcess::WaitFor(Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  auto pause = milliseconds(1);
  while (!Reap(false)) {
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(pause);
    pause = std::min<milliseconds>(pause * 2, milliseconds(20));
  }
  return status_;
}

ExitStatus ChildProcess::Kill() {
  if (!status_) {
    ::kill(pid_, SIGKILL);
    Reap(true);
  }
  return *status_;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& path, int lines) {
  std::vector<std::string> all;
  std::istringstream in(ReadFile(path));
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0;
       i < all.size(); i++) {
    out += all[i] + "\n";
  }
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// ---------------------------------------------------------------- server

ServerProcess::ServerProcess(std::string data_dir, std::string log_dir,
                             std::vector<std::string> extra_flags)
    : data_dir_(std::move(data_dir)),
      log_dir_(std::move(log_dir)),
      extra_flags_(std::move(extra_flags)) {}

ServerProcess::~ServerProcess() {
  if (process_ != nullptr && process_->Running()) process_->Kill();
}

void ServerProcess::Start(int port) {
  if (process_ != nullptr && process_->Running()) {
    throw std::logic_error("ServerProcess::Start: already running");
  }
  starts_++;
  const std::string base = log_dir_ + "/server-" + std::to_string(starts_);
  stderr_path_ = base + ".err";
  std::vector<std::string> argv = {PERFLEDGERD_PATH, "--data-dir", data_dir_,
                                   "--listen", "127.0.0.1:" + std::to_string(port)};
  argv.insert(argv.end(), extra_flags_.begin(), extra_flags_.end());
  port_ = 0;
  process_ = std::make_unique<ChildProcess>(argv, base + ".out", stderr_path_);

  const auto deadline = Clock::now() + kReadyTimeout;
  auto fail = [&](const std::string& why) {
    const std::string tail = Tail(stderr_path_);
    process_->Kill();
    throw std::runtime_error("perfledgerd (" + stderr_path_ + "): " + why + "\n" + tail);
  };
  // 1. The port, from the log line written once the gRPC server listens.
  static const std::regex kServing(R"(serving on port ([0-9]+))");
  while (port_ == 0) {
    std::smatch m;
    const std::string err = ReadFile(stderr_path_);
    if (std::regex_search(err, m, kServing)) {
      port_ = std::stoi(m[1].str());
      break;
    }
    if (!process_->Running()) fail("exited before serving: " + process_->exit_status()->Describe());
    if (Clock::now() >= deadline) fail("no 'serving on port N' within the readiness deadline");
    std::this_thread::sleep_for(milliseconds(10));
  }
  // 2. An answer to Log.Status (the services are registered and the write model caught up).
  auto channel = NewChannel();
  for (;;) {
    grpc::ClientContext context;
    context.set_deadline(
        DeadlineIn(std::min<Clock::duration>(deadline - Clock::now(), seconds(2))));
    context.set_wait_for_ready(true);
    v1::StatusResponse response;
    const grpc::Status s =
        v1::Log::NewStub(channel)->Status(&context, v1::StatusRequest(), &response);
    if (s.ok()) return;
    if (!process_->Running()) fail("exited while starting: " + process_->exit_status()->Describe());
    if (Clock::now() >= deadline) fail("Log.Status did not answer in time: " + s.error_message());
    std::this_thread::sleep_for(milliseconds(20));
  }
}

ExitStatus ServerProcess::Kill() {
  if (process_ == nullptr) throw std::logic_error("ServerProcess::Kill: never started");
  return process_->Kill();
}

std::optional<ExitStatus> ServerProcess::Terminate(Clock::duration timeout) {
  if (process_ == nullptr) throw std::logic_error("ServerProcess::Terminate: never started");
  process_->Signal(SIGTERM);
  auto status = process_->WaitFor(timeout);
  if (!status) process_->Kill();
  return status;
}

std::shared_ptr<grpc::Channel> ServerProcess::NewChannel() const {
  grpc::ChannelArguments args;
  // A separate connection per channel, so that threads do not share one HTTP/2 connection.
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 64 << 20);
  return grpc::CreateCustomChannel(address(), grpc::InsecureChannelCredentials(), args);
}

// ---------------------------------------------------------------- perfctl

std::string CommandOutput::Describe() const {
  return status.Describe() + "\n--- stdout:\n" + out + "--- stderr:\n" + err;
}

CommandOutput RunPerfctl(const std::string& dir, const std::string& address,
                         const std::vector<std::string>& args) {
  static std::atomic<int> counter{0};
  const std::string base = dir + "/perfctl-" + std::to_string(++counter);
  std::vector<std::string> argv = {PERFCTL_PATH};
  if (!address.empty()) {
    argv.push_back("--server");
    argv.push_back(address);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  ChildProcess child(argv, base + ".out", base + ".err");
  auto status = child.WaitFor(kCommandTimeout);
  if (!status) {
    child.Kill();
    std::string command;
    for (const auto& a : argv) command += " " + a;
    throw std::runtime_error("perfctl did not finish within the timeout:" + command);
  }
  return CommandOutput{*status, ReadFile(base + ".out"), ReadFile(base + ".err")};
}

// ---------------------------------------------------------------- the log

v1::StatusResponse GetStatus(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(seconds(10)));
  v1::StatusResponse response;
  const grpc::Status s =
      v1::Log::NewStub(channel)->Status(&context, v1::StatusRequest(), &response);
  if (!s.ok()) throw std::runtime_error("Log.Status: " + s.error_message());
  return response;
}

size_t WholeLog::total() const {
  size_t n = 0;
  for (const auto& p : partitions) n += p.size();
  return n;
}

std::map<std::string, v1::Position> WholeLog::ByEventId() const {
  std::map<std::string, v1::Position> out;
  for (const auto& p : partitions) {
    for (const auto& e : p) out.emplace(e.envelope().event_id(), e.envelope().position());
  }
  return out;
}

WholeLog ReadWholeLog(const std::shared_ptr<grpc::Channel>& channel) {
  WholeLog log;
  const v1::StatusResponse before = GetStatus(channel);
  auto stub = v1::Log::NewStub(channel);
  log.partitions.resize(before.partitions_size());
  for (int p = 0; p < before.partitions_size(); p++) {
    uint64_t from = 0;
    for (;;) {
      grpc::ClientContext context;
      context.set_deadline(DeadlineIn(seconds(30)));
      v1::ReadEventsRequest request;
      request.set_partition(static_cast<uint32_t>(p));
      request.set_from_offset(from);
      request.set_limit(5000);
      auto reader = stub->ReadEvents(&context, request);
      v1::RecordedEvent event;
      size_t got = 0;
      while (reader->Read(&event)) {
        got++;
        from = event.envelope().position().offset() + 1;
        log.partitions[p].push_back(event);
      }
      const grpc::Status s = reader->Finish();
      if (!s.ok()) {
        throw std::runtime_error("Log.ReadEvents partition " + std::to_string(p) + ": " +
                                 s.error_message());
      }
      if (got == 0) break;
    }
  }
  log.status = GetStatus(channel);
  return log;
}

std::vector<std::string> CheckLog(const WholeLog& log) {
  std::vector<std::string> problems;
  auto problem = [&](const std::string& text) {
    if (problems.size() < 50) problems.push_back(text);
  };
  if (static_cast<size_t>(log.status.partitions_size()) != log.partitions.size()) {
    problem("Status lists " + std::to_string(log.status.partitions_size()) +
            " partitions, the read found " + std::to_string(log.partitions.size()));
  }
  std::set<std::string> ids;
  struct StreamInfo {
    uint32_t partition = 0;
    uint64_t version = 0;
  };
  std::map<std::string, StreamInfo> streams;
  struct CommandInfo {
    size_t events = 0;
    size_t heads = 0;
    uint64_t declared = 0;
  };
  std::map<std::string, CommandInfo> commands;
  for (size_t p = 0; p < log.partitions.size(); p++) {
    std::string prev = GenesisHash();
    const auto& events = log.partitions[p];
    for (size_t i = 0; i < events.size(); i++) {
      const v1::Envelope& e = events[i].envelope();
      const std::string where = "event " + e.event_id() + " at " + PositionText(e.position());
      if (e.position().partition() != p || e.position().offset() != i) {
        problem("partition " + std::to_string(p) + " index " + std::to_string(i) + ": " + where +
                " (offsets must be contiguous from 0)");
      }
      if (absl::Status s = VerifyLink(e, prev, i); !s.ok()) problem(std::string(s.message()));
      prev = e.hash();
      if (!ids.insert(e.event_id()).second) problem("duplicate event id: " + where);
      auto [it, fresh] = streams.try_emplace(e.stream(), StreamInfo{static_cast<uint32_t>(p), 0});
      if (it->second.partition != p) {
        problem("stream " + e.stream() + " in two partitions (" +
                std::to_string(it->second.partition) + " and " + std::to_string(p) + ")");
      }
      if (e.stream_version() != it->second.version + 1) {
        problem(where + ": stream " + e.stream() + " version " +
                std::to_string(e.stream_version()) + ", expected " +
                std::to_string(it->second.version + 1));
      }
      it->second.version = e.stream_version();
      if (!e.command_id().empty()) {
        CommandInfo& c = commands[e.command_id()];
        c.events++;
        if (e.command_event_count() > 0) {
          c.heads++;
          c.declared = e.command_event_count();
        }
      }
    }
    if (p < static_cast<size_t>(log.status.partitions_size())) {
      const v1::PartitionStatus& ps = log.status.partitions(static_cast<int>(p));
      if (ps.end_offset() != events.size()) {
        problem("partition " + std::to_string(p) + ": Status end_offset " +
                std::to_string(ps.end_offset()) + ", events read " + std::to_string(events.size()));
      }
      if (ps.last_hash() != ToHex(prev)) {
        problem("partition " + std::to_string(p) + ": Status last_hash " + ps.last_hash() +
                " differs from the chain tip " + ToHex(prev));
      }
    }
  }
  for (const auto& [id, c] : commands) {
    if (c.heads != 1 || c.events != c.declared) {
      problem("command " + id + ": " + std::to_string(c.events) + " events, " +
              std::to_string(c.heads) + " first events declaring " + std::to_string(c.declared) +
              " (appended twice or partially?)");
    }
  }
  return problems;
}

// ---------------------------------------------------------------- the views

std::map<std::string, std::string> LiveDigests(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::Views::NewStub(channel);
  const auto until = Clock::now() + seconds(60);
  for (;;) {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(seconds(15)));
    v1::ProjectionStatusRequest request;
    request.set_digests(true);
    v1::ProjectionStatusResponse response;
    const grpc::Status s = stub->GetProjectionStatus(&context, request, &response);
    if (s.ok() && response.lag_events() == 0) {
      std::map<std::string, std::string> out;
      for (const auto& v : response.views()) out[v.view()] = v.digest();
      return out;
    }
    if (Clock::now() >= until) {
      throw std::runtime_error("projection never caught up: " + s.error_message() + " lag " +
                               std::to_string(response.lag_events()));
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
}

std::map<std::string, std::string> RebuildDigests(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::Views::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(seconds(120)));
  v1::RebuildResponse response;
  const grpc::Status s = stub->Rebuild(&context, v1::RebuildRequest(), &response);
  if (!s.ok()) throw std::runtime_error("Views.Rebuild: " + s.error_message());
  std::map<std::string, std::string> out;
  for (const auto& v : response.views()) out[v.view()] = v.digest();
  return out;
}

// ---------------------------------------------------------------- Kafka fault tests

int KafkaScript(const std::string& args, std::string* output) {
  const std::string out_file =
      std::filesystem::temp_directory_path() /
      ("perfledger-kafka-sh-" + std::to_string(::getpid()) + ".out");
  const std::string command = std::string("bash '") + PERFLEDGER_SOURCE_DIR +
                              "/deploy/kafka/kafka.sh' " + args + " >'" + out_file + "' 2>&1";
  const int rc = std::system(command.c_str());
  if (output != nullptr) *output = ReadFile(out_file);
  std::filesystem::remove(out_file);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string LoadEmployee(int i) { return absl::StrCat("E", i); }

namespace {

void RequireExit0(const CommandOutput& out) {
  if (!out.status.exited || out.status.code != 0) {
    throw std::runtime_error("perfctl failed: " + out.Describe());
  }
}

}  // namespace

void SeedLoadOrg(const TempDir& dir, const ServerProcess& server, int employees) {
  const std::string units = dir.WriteFile("units.csv",
                                          "org_unit_id,name,parent_id,manager_id\n"
                                          "HQ,Headquarters,,\n"
                                          "OPS,Operations,HQ,\n");
  std::ostringstream staff;
  staff << "employee_id,name,org_unit_id,manager_id,base_salary_minor,currency\n";
  staff << kLoadManager << ",Mona Manager,HQ,,9000000,EUR\n";
  for (int i = 1; i <= employees; i++) {
    staff << LoadEmployee(i) << ",Worker " << i << ",OPS," << kLoadManager << ",4000000,EUR\n";
  }
  const std::string staff_file = dir.WriteFile("employees.csv", staff.str());
  RequireExit0(RunPerfctl(dir.path(), server.address(), {"import", "org-units", units}));
  RequireExit0(RunPerfctl(dir.path(), server.address(), {"import", "employees", staff_file}));
  RequireExit0(RunPerfctl(dir.path(), server.address(),
                          {"cycle", "open", kLoadCycle, "--name", "First half 2026", "--start",
                           "2026-01-01", "--end", "2026-07-01"}));
}

LoadCommand MakeLoadCommand(std::mt19937& rng, const std::string& key) {
  LoadCommand c;
  c.key = key;
  if (rng() % 3 != 0) {
    c.batch = true;
    c.metrics.mutable_meta()->set_idempotency_key(key);
    const int n = 2 + static_cast<int>(rng() % 8);
    for (int i = 0; i < n; i++) {
      v1::Observation* o = c.metrics.add_observations();
      o->set_subject_id(LoadEmployee(1 + static_cast<int>(rng() % kLoadEmployees)));
      o->set_subject_kind(v1::OWNER_KIND_EMPLOYEE);
      o->set_metric("units_per_hour");
      o->set_value_milli(static_cast<int64_t>(rng() % 100'000));
      o->set_unit("pcs");
      o->set_source("kafka-fault");
      o->set_cycle_id(kLoadCycle);
    }
  } else {
    c.check_in.mutable_meta()->set_idempotency_key(key);
    c.check_in.set_check_in_id("ci-" + key);
    c.check_in.set_employee_id(LoadEmployee(1 + static_cast<int>(rng() % kLoadEmployees)));
    c.check_in.set_cycle_id(kLoadCycle);
    c.check_in.set_notes("kafka fault " + key);
  }
  return c;
}

grpc::Status SendLoadCommand(const std::shared_ptr<grpc::Channel>& channel, const LoadCommand& c,
                             v1::CommandResult* result, Clock::duration deadline) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(deadline));
  if (c.batch) return v1::Metrics::NewStub(channel)->ObserveMetrics(&context, c.metrics, result);
  return v1::CheckIns::NewStub(channel)->RecordCheckIn(&context, c.check_in, result);
}

void RecordAck(Load& load, const v1::CommandResult& result) {
  std::lock_guard<std::mutex> lock(load.mu);
  for (const auto& e : result.events()) {
    auto [it, fresh] = load.acked.emplace(e.event_id(), e.position());
    if (!fresh && (it->second.partition() != e.position().partition() ||
                   it->second.offset() != e.position().offset())) {
      load.problems.push_back("event " + e.event_id() + " answered at two positions");
    }
  }
  load.ack_times.push_back(Clock::now());
  load.acked_commands++;
}

void LoadWriter(int writer, std::shared_ptr<grpc::Channel> channel, Load* load) {
  std::mt19937 rng(static_cast<unsigned>(104729 * writer) + load->seed);
  for (int n = 0; !load->stop.load(); n++) {
    const LoadCommand c = MakeLoadCommand(
        rng, load->key_prefix + "w" + std::to_string(writer) + "-" + std::to_string(n));
    const auto give_up = Clock::now() + kLoadRetryFor;
    for (;;) {
      v1::CommandResult result;
      const grpc::Status s = SendLoadCommand(channel, c, &result, kLoadCallDeadline);
      if (s.ok()) {
        RecordAck(*load, result);
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
      // Pace the retries of a refused command (an outage lasts seconds). The writer stops
      // retrying only once acknowledged: every command it started ends in the log.
      std::this_thread::sleep_for(milliseconds(200));
    }
  }
}

void LoadWriters::Start(const ServerProcess& server, int writers) {
  for (int w = 0; w < writers; w++) threads.emplace_back(LoadWriter, w, server.NewChannel(), load);
}

void LoadWriters::Join() {
  load->stop = true;
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
  threads.clear();
}

bool WaitForAcks(Load& load, size_t count, Clock::duration within) {
  const size_t target = load.acked_commands.load() + count;
  const auto until = Clock::now() + within;
  while (load.acked_commands.load() < target) {
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

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
    if (p >= static_cast<size_t>(log.status.partitions_size())) continue;
    const v1::PartitionStatus& status = log.status.partitions(static_cast<int>(p));
    if (status.last_hash() != ToHex(tip)) {
      problems.push_back("partition " + std::to_string(p) + ": Status last_hash differs");
    }
    // Offsets count transaction markers too; Status counts events.
    if (status.events() != log.partitions[p].size()) {
      problems.push_back("partition " + std::to_string(p) + ": Status says " +
                         std::to_string(status.events()) + " events, the log holds " +
                         std::to_string(log.partitions[p].size()));
    }
  }
  if (log.status.total_events() != log.total()) {
    problems.push_back("Status total_events " + std::to_string(log.status.total_events()) +
                       ", the log holds " + std::to_string(log.total()));
  }
  // Each transaction holds at least one append (counted since this server started).
  if (log.status.group_commits() > log.status.appends()) {
    problems.push_back("Status appends " + std::to_string(log.status.appends()) +
                       ", group_commits " + std::to_string(log.status.group_commits()));
  }
  return problems;
}

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

std::string VerifyChain(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(seconds(60)));
  auto reader = v1::Audit::NewStub(channel)->VerifyChain(&context, v1::VerifyChainRequest());
  v1::ChainCheckResponse response;
  std::optional<v1::ChainVerdict> verdict;
  while (reader->Read(&response)) {
    if (response.has_verdict()) verdict = response.verdict();
  }
  const grpc::Status s = reader->Finish();
  if (!s.ok()) return "Audit.VerifyChain: " + s.error_message();
  if (!verdict.has_value()) return "Audit.VerifyChain: no verdict";
  if (!verdict->ok()) {
    return "chain broken at partition " + std::to_string(verdict->broken().partition()) +
           " offset " + std::to_string(verdict->broken().offset()) + ": " +
           verdict->broken().reason();
  }
  return "";
}

}  // namespace perfledger::e2e
