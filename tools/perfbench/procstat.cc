#include "tools/perfbench/procstat.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace perfbench {
namespace {

// utime + stime in clock ticks from a /proc/.../stat line.
std::optional<uint64_t> TicksOf(const std::string& stat) {
  // The command name (field 2) may hold spaces; fields are counted after its closing paren.
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 > stat.size()) return std::nullopt;
  std::istringstream rest(stat.substr(paren + 2));
  std::string skip;
  for (int field = 3; field < 14; ++field) rest >> skip;  // state .. cmajflt
  uint64_t utime = 0, stime = 0;
  if (!(rest >> utime >> stime)) return std::nullopt;
  return utime + stime;
}

std::optional<uint64_t> ReadStatusField(int pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, field.size(), field) == 0 && line.size() > field.size() &&
        line[field.size()] == ':') {
      std::istringstream value(line.substr(field.size() + 1));
      uint64_t kib = 0;
      if (value >> kib) return kib;  // the kernel always prints "kB"
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<uint64_t> ReadRssKib(int pid) { return ReadStatusField(pid, "VmRSS"); }
std::optional<uint64_t> ReadPeakRssKib(int pid) { return ReadStatusField(pid, "VmHWM"); }

std::optional<double> ReadCpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  const std::optional<uint64_t> ticks = TicksOf(stat);
  if (!ticks) return std::nullopt;
  return static_cast<double>(*ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::map<std::string, double> ReadThreadCpuSeconds(int pid) {
  std::map<std::string, double> out;
  std::error_code ec;
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream comm_in(task.path() / "comm");
    std::ifstream stat_in(task.path() / "stat");
    std::string comm, stat;
    if (!std::getline(comm_in, comm) || !std::getline(stat_in, stat)) continue;  // just ended
    if (const std::optional<uint64_t> ticks = TicksOf(stat)) {
      out[comm] += static_cast<double>(*ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
  }
  return out;
}

std::optional<double> MachineBusyCpuSeconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  if (!(in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) ||
      cpu != "cpu") {
    return std::nullopt;
  }
  return static_cast<double>(user + nice + system + irq + softirq + steal) /
         static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double SelfCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace perfbench
