#include "tests/scenario/scenario_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "perfledger/v1/views.grpc.pb.h"

extern char** environ;

namespace perfledger::scenario {
namespace {

using std::chrono::milliseconds;

std::atomic<bool> g_failed{false};

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string Tail(const std::string& path, size_t lines = 30) {
  std::vector<std::string> all;
  std::istringstream in(ReadFile(path));
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); i++) {
    out += all[i] + "\n";
  }
  return out;
}

}  // namespace

void MarkFailed() { g_failed = true; }

// ---------------------------------------------------------------- TempDir

TempDir::TempDir(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                        "/perfledger-scenario-" + tag + "-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) throw std::runtime_error(Errno("mkdtemp " + pattern));
  path_ = buffer.data();
}

TempDir::~TempDir() {
  if (g_failed || std::uncaught_exceptions() > 0 || std::getenv("PERFLEDGER_SCENARIO_KEEP")) {
    std::cerr << "scenario test: keeping " << path_ << " (server logs and data)\n";
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
  return "killed by signal " + std::to_string(signal);
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& stdout_path,
                           const std::string& stderr_path) {
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;  // without PERFLEDGER_* (a developer's PERFLEDGER_SERVER, ...)
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
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the test (this thread, strictly)
    if (::getppid() != parent) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execve(args[0], args.data(), env.data());
    static const char kFailed[] = "scenario test: execve failed\n";
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
  if (r < 0) {
    s.exited = true;
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

// ---------------------------------------------------------------- server

Backend DefaultBackend() {
#if defined(PERFLEDGER_SCENARIO_KAFKA) && PERFLEDGER_SCENARIO_KAFKA
  return Backend::kKafka;
#else
  return Backend::kEmbedded;
#endif
}

Server::Server(const TempDir& dir, Backend backend, const std::string& data_name)
    : dir_(dir), backend_(backend), data_name_(data_name) {
  if (backend_ == Backend::kKafka) {
    static int counter = 0;
    topic_prefix_ = "scenario-" + std::to_string(::getpid()) + "-" +
                    std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count()) +
                    "-" + std::to_string(counter++);
  }
}

Server::~Server() {
  if (process_ != nullptr) process_->Kill();
}

void Server::Start() {
  stderr_path_ = dir_.Sub(data_name_ + "-server.err");
  std::vector<std::string> argv = {PERFLEDGERD_PATH, "--data-dir", dir_.Sub(data_name_),
                                   "--listen", "127.0.0.1:0", "--deadline-check-seconds", "0"};
  if (backend_ == Backend::kKafka) {
    const char* brokers = std::getenv("PERFLEDGER_KAFKA_BROKERS");
    if (brokers == nullptr || *brokers == '\0' || std::string(brokers) == "unavailable") {
      throw std::runtime_error(
          "PERFLEDGER_KAFKA_BROKERS names no broker: the Kafka scenario needs the one "
          "deploy/test.sh starts (it never skips)");
    }
    for (const char* flag : {"--log-backend", "kafka", "--kafka-brokers"}) argv.push_back(flag);
    argv.push_back(brokers);
    argv.push_back("--kafka-topic-prefix");
    argv.push_back(topic_prefix_);
  }
  process_ = std::make_unique<ChildProcess>(argv, dir_.Sub(data_name_ + "-server.out"),
                                            stderr_path_);
  const auto deadline = Clock::now() + kReadyTimeout;
  auto fail = [&](const std::string& why) {
    const std::string tail = Tail(stderr_path_);
    process_->Kill();
    throw std::runtime_error("perfledgerd (" + stderr_path_ + "): " + why + "\n" + tail);
  };
  static const std::regex kServing(R"(serving on port ([0-9]+))");
  while (port_ == 0) {
    std::smatch m;
    const std::string err = ReadFile(stderr_path_);
    if (std::regex_search(err, m, kServing)) {
      port_ = std::stoi(m[1].str());
      break;
    }
    if (!process_->Running()) fail("exited before serving: " + process_->exit_status()->Describe());
    if (Clock::now() >= deadline) fail("no 'serving on port N' in time");
    std::this_thread::sleep_for(milliseconds(10));
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 64 << 20);
  channel_ = grpc::CreateCustomChannel(address(), grpc::InsecureChannelCredentials(), args);
  for (;;) {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(milliseconds(2000)));
    context.set_wait_for_ready(true);
    v1::StatusResponse response;
    const grpc::Status s =
        v1::Log::NewStub(channel_)->Status(&context, v1::StatusRequest(), &response);
    if (s.ok()) return;
    if (!process_->Running()) fail("exited while starting: " + process_->exit_status()->Describe());
    if (Clock::now() >= deadline) fail("Log.Status did not answer in time: " + s.error_message());
    std::this_thread::sleep_for(milliseconds(20));
  }
}

// ---------------------------------------------------------------- perfctl

std::string CommandOutput::Describe() const {
  return command + "\n=> " + status.Describe() + "\n--- stdout:\n" + out + "--- stderr:\n" + err;
}

CommandOutput RunPerfctl(const TempDir& dir, const std::string& address,
                         const std::vector<std::string>& args) {
  static std::atomic<int> counter{0};
  const std::string base = dir.Sub("perfctl-" + std::to_string(++counter));
  std::vector<std::string> argv = {PERFCTL_PATH, "--server", address};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string command = "perfctl";
  for (size_t i = 1; i < argv.size(); i++) command += " " + argv[i];
  ChildProcess child(argv, base + ".out", base + ".err");
  auto status = child.WaitFor(kCommandTimeout);
  if (!status) {
    child.Kill();
    throw std::runtime_error("perfctl did not finish in time: " + command);
  }
  return CommandOutput{*status, ReadFile(base + ".out"), ReadFile(base + ".err"), command};
}

// ---------------------------------------------------------------- the log

std::chrono::system_clock::time_point DeadlineIn(milliseconds d) {
  return std::chrono::system_clock::now() + d;
}

v1::StatusResponse GetStatus(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(milliseconds(10000)));
  v1::StatusResponse response;
  const grpc::Status s = v1::Log::NewStub(channel)->Status(&context, v1::StatusRequest(), &response);
  if (!s.ok()) throw std::runtime_error("Log.Status: " + s.error_message());
  return response;
}

uint64_t LogEnd(const v1::StatusResponse& status) {
  uint64_t end = 0;
  for (const auto& p : status.partitions()) end += p.end_offset();
  return end;
}

std::vector<v1::RecordedEvent> ReadAll(const std::shared_ptr<grpc::Channel>& channel) {
  std::vector<v1::RecordedEvent> out;
  const v1::StatusResponse status = GetStatus(channel);
  auto stub = v1::Log::NewStub(channel);
  for (const auto& partition : status.partitions()) {
    uint64_t from = 0;
    for (;;) {
      grpc::ClientContext context;
      context.set_deadline(DeadlineIn(milliseconds(30000)));
      v1::ReadEventsRequest request;
      request.set_partition(partition.partition());
      request.set_from_offset(from);
      request.set_limit(5000);
      auto reader = stub->ReadEvents(&context, request);
      v1::RecordedEvent event;
      size_t got = 0;
      while (reader->Read(&event)) {
        got++;
        from = event.envelope().position().offset() + 1;
        if (!event.has_event() && !event.envelope().payload().empty()) {
          event.mutable_event()->ParseFromString(event.envelope().payload());
        }
        out.push_back(event);
      }
      const grpc::Status s = reader->Finish();
      if (!s.ok()) throw std::runtime_error("Log.ReadEvents: " + s.error_message());
      if (got == 0) break;
    }
  }
  return out;
}

void WaitQuiescent(const std::shared_ptr<grpc::Channel>& channel, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto views = v1::Views::NewStub(channel);
  uint64_t last_end = UINT64_MAX;
  int stable = 0;
  std::string why;
  while (Clock::now() < deadline) {
    const uint64_t end = LogEnd(GetStatus(channel));
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(milliseconds(10000)));
    v1::ProjectionStatusResponse projection;
    const grpc::Status s =
        views->GetProjectionStatus(&context, v1::ProjectionStatusRequest(), &projection);
    if (!s.ok()) {
      why = "GetProjectionStatus: " + s.error_message();
      stable = 0;
    } else if (projection.lag_events() == 0 && end == last_end) {
      if (++stable >= 3) return;
    } else {
      why = "log end " + std::to_string(end) + ", projection lag " +
            std::to_string(projection.lag_events());
      stable = 0;
    }
    last_end = end;
    std::this_thread::sleep_for(milliseconds(150));
  }
  throw std::runtime_error("the server did not become quiescent: " + why);
}

}  // namespace perfledger::scenario
