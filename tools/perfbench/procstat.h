// Reads a process's memory and CPU from /proc, for the server-side part of the report.
// Every function returns nullopt when the process is gone or /proc cannot be read.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace perfbench {

// VmRSS (resident set) and VmHWM (peak resident set) of `pid`, in KiB, from /proc/PID/status.
std::optional<uint64_t> ReadRssKib(int pid);
std::optional<uint64_t> ReadPeakRssKib(int pid);

// User + system CPU seconds consumed so far by `pid` (all threads), from /proc/PID/stat.
std::optional<double> ReadCpuSeconds(int pid);

// User + system CPU seconds per thread name of `pid` (threads of one name summed: the server
// names its threads pl-views, pl-reactor, pl-fold, pl-commit...), from /proc/PID/task. A
// thread that ended between two readings takes its seconds with it (gRPC's handler threads
// come and go), so the sum can fall short of ReadCpuSeconds.
std::map<std::string, double> ReadThreadCpuSeconds(int pid);

// User + system CPU seconds of this process.
double SelfCpuSeconds();

// CPU seconds all processes on the machine spent busy (everything but idle and iowait), from
// /proc/stat. On a shared machine the difference from server + client is other people's work.
std::optional<double> MachineBusyCpuSeconds();

}  // namespace perfbench
