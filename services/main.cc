// perfledgerd: the perfledger server. Flags and an optional config file (see config.cc).
#include <csignal>
#include <cstdio>
#include <thread>

#include <CLI/CLI.hpp>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "services/config.h"
#include "services/replay.h"
#include "services/server.h"

namespace {

// Signals are turned into a value a normal thread can wait for; nothing else runs in the
// handler.
volatile std::sig_atomic_t g_signal = 0;
void OnSignal(int signal) { g_signal = signal; }

}  // namespace

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG, which turns on absl::Mutex's deadlock detection: every
  // lock and every mutex's destruction then updates a global lock-order graph. gRPC creates and
  // locks absl mutexes on every call, so the graph would cost each RPC for a check that belongs
  // in a debug build. Off before any mutex exists.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  perfledger::services::ServerConfig config;
  CLI::App app{"perfledgerd — the perfledger event-sourced performance ledger server"};
  app.set_version_flag("--version", PERFLEDGER_VERSION);
  perfledger::services::BindConfig(app, config);
  CLI11_PARSE(app, argc, argv);

  if (!config.replay_to.empty()) {
    // The auditor's replay: one line per view on stdout, nothing served.
    auto replay = perfledger::services::ReplayToScratch(
        config, config.replay_to, absl::Seconds(perfledger::limits::kReplayWaitSecondsMax));
    if (!replay.ok()) {
      std::fprintf(stderr, "perfledgerd: %s\n", std::string(replay.status().message()).c_str());
      return 1;
    }
    for (const auto& d : replay->digests) {
      std::printf("%s %s %llu\n", d.view.c_str(), d.digest_hex.c_str(),
                  static_cast<unsigned long long>(d.rows));
    }
    std::fprintf(stderr, "perfledgerd: replayed %llu events into %s in %.1f s\n",
                 static_cast<unsigned long long>(replay->events), config.replay_to.c_str(),
                 replay->seconds);
    return 0;
  }

  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);

  auto server = perfledger::services::Server::Start(config);
  if (!server.ok()) {
    std::fprintf(stderr, "perfledgerd: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  // The gRPC server runs on its own threads; this one waits for a signal, then drains.
  while (g_signal == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  perfledger::LogInfo(absl::StrCat("signal ", static_cast<int>(g_signal), ": draining for up to ",
                                   config.shutdown_grace_seconds, " s"));
  (*server)->Shutdown(absl::Seconds(config.shutdown_grace_seconds));
  return 0;
}
