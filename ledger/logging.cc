#include "ledger/logging.h"

#include <pthread.h>

#include <cstdio>
#include <mutex>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace perfledger {
namespace {

void Write(const char* level, std::string_view message) {
  static std::mutex mu;
  const std::string now =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::lock_guard<std::mutex> lock(mu);
  std::fprintf(stderr, "%s %s %.*s\n", now.c_str(), level, static_cast<int>(message.size()),
               message.data());
}

}  // namespace

void LogInfo(std::string_view message) { Write("INFO", message); }
void LogWarning(std::string_view message) { Write("WARN", message); }
void LogError(std::string_view message) { Write("ERROR", message); }

void NameThisThread(std::string_view name) {
  const std::string truncated(name.substr(0, 15));
  pthread_setname_np(pthread_self(), truncated.c_str());
}

}  // namespace perfledger
