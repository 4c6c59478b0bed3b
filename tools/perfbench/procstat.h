// Reads a process's memory and CPU from /proc, for the server-side part of the report.
// Every function returns nullopt when the process is gone or /proc cannot be read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace perfbench {

// VmRSS (resident set) and VmHWM (peak resident set) of `pid`, in KiB, from /proc/PID/status.
std::optional<uint64_t> ReadRssKib(int pid);
std::optional<uint64_t> ReadPeakRssKib(int pid);

// User + system CPU seconds consumed so far by `pid` (all threads), from /proc/PID/stat.
std::optional<double> ReadCpuSeconds(int pid);

// User + system CPU seconds of this process.
double SelfCpuSeconds();

// CPU seconds all processes on the machine spent busy (everything but idle and iowait), from
// /proc/stat. On a shared machine the difference from server + client is other people's work.
std::optional<double> MachineBusyCpuSeconds();

}  // namespace perfbench
