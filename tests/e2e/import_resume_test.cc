// import_resume_test: `perfctl metric import` of a large file while perfledgerd goes away twice,
// once with SIGTERM (the stream ends UNAVAILABLE with the recorded-batches trailer) and once with
// SIGKILL (the connection breaks; no trailer). The import must wait, resume on its own, finish
// with exit 0, and leave every row in the log exactly once.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e_listener.h"

namespace perfledger::e2e {
namespace {

constexpr int kEmployees = 40;
constexpr int kRows = 150'000;
constexpr int kBatchSize = 100;
// How long the import may take in all, restarts included, on a loaded machine.
constexpr auto kImportTimeout = seconds(240);

// A free port below the kernel's ephemeral range (32768 and up by default): the server must come
// back on the same port after a kill, and a port the kernel hands out could be given meanwhile to
// a server of another test running in parallel.
int FreeFixedPort() {
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0; attempt < 100; attempt++) {
    const int port = 20000 + static_cast<int>(rng() % 10000);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) break;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (free) return port;
  }
  throw std::runtime_error("no free port in 20000..29999");
}

// Waits until the log holds at least `events` events; false if the import ended first.
bool WaitForEvents(ChildProcess& import, const std::shared_ptr<grpc::Channel>& channel,
                   uint64_t events) {
  const auto deadline = Clock::now() + kImportTimeout;
  while (Clock::now() < deadline) {
    if (!import.Running()) return false;
    if (GetStatus(channel).total_events() >= events) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

TEST_CASE("import_resume: metric import resumes after SIGTERM and SIGKILL of the server, "
          "every row exactly once",
          "[e2e][cli]") {
  TempDir dir("import");
  ServerProcess server(dir.Sub("data"), dir.path(), {"--data-partitions", "4"});
  server.Start(FreeFixedPort());

  // The people the observations are about.
  std::string units = "org_unit_id,name,parent_id,manager_id\nOPS,Operations,,\n";
  std::string staff =
      "employee_id,name,org_unit_id,manager_id,job_level,base_salary_minor,band_midpoint_minor,"
      "currency,hired_at,email\n";
  for (int i = 0; i < kEmployees; i++) {
    staff += "W" + std::to_string(i) + ",Worker " + std::to_string(i) +
             ",OPS,,worker,3600000,3800000,EUR,2022-04-01,\n";
  }
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"import", "org-units", dir.WriteFile("units.csv", units)},
           {"import", "employees", dir.WriteFile("staff.csv", staff)}}) {
    const CommandOutput out = RunPerfctl(dir.path(), server.address(), args);
    INFO(out.Describe());
    REQUIRE(out.status.exited);
    REQUIRE(out.status.code == 0);
  }
  auto channel = server.NewChannel();
  const uint64_t seeded = GetStatus(channel).total_events();

  const std::string feed = dir.Sub("feed.csv");
  {
    std::ofstream out(feed);
    out << "subject_id,metric,value_milli,unit,source,observed_at\n";
    for (int i = 0; i < kRows; i++) {
      out << "W" << i % kEmployees << ",output," << i << ",pcs,ERP,2026-03-02T10:00:00Z\n";
    }
  }
  ChildProcess import({PERFCTL_PATH, "--server", server.address(), "metric", "import", feed,
                       "--batch-size", std::to_string(kBatchSize), "--retry-for", "200s"},
                      dir.Sub("import.out"), dir.Sub("import.err"));

  // Round 1: a graceful stop in the middle of the stream, then the same port again.
  const bool first = WaitForEvents(import, channel, seeded + kRows / 10);
  INFO(Tail(dir.Sub("import.err")));
  REQUIRE(first);  // the import must still be running, or this test proves nothing
  REQUIRE(server.Terminate(seconds(20)).has_value());
  server.Start(server.port());
  channel = server.NewChannel();

  // Round 2: a crash.
  const bool second = WaitForEvents(import, channel, seeded + kRows / 2);
  REQUIRE(second);
  server.Kill();
  server.Start(server.port());
  channel = server.NewChannel();

  const std::optional<ExitStatus> done = import.WaitFor(kImportTimeout);
  const std::string out = ReadFile(dir.Sub("import.out"));
  const std::string err = ReadFile(dir.Sub("import.err"));
  INFO("stdout:\n" << out << "\nstderr:\n" << err);
  REQUIRE(done.has_value());
  REQUIRE(done->exited);
  CHECK(done->code == 0);
  CHECK(err.find("retrying from batch") != std::string::npos);
  CHECK(out.find("retries after UNAVAILABLE") != std::string::npos);
  CHECK(out.find("sent " + std::string("150,000") + " observations") != std::string::npos);

  // Every row once: the metric events are exactly the file's rows, each value once.
  const WholeLog log = ReadWholeLog(channel);
  const std::vector<std::string> problems = CheckLog(log);
  for (const std::string& p : problems) INFO(p);
  CHECK(problems.empty());
  std::vector<int> seen(kRows, 0);
  size_t metrics = 0;
  for (const auto& partition : log.partitions) {
    for (const v1::RecordedEvent& e : partition) {
      if (!e.event().has_metric_observed()) continue;
      metrics++;
      const int64_t value = e.event().metric_observed().value_milli();
      REQUIRE(value >= 0);
      REQUIRE(value < kRows);
      seen[static_cast<size_t>(value)]++;
    }
  }
  CHECK(metrics == static_cast<size_t>(kRows));
  int wrong = 0;
  for (int count : seen) wrong += count != 1 ? 1 : 0;
  CHECK(wrong == 0);
}

}  // namespace
}  // namespace perfledger::e2e
