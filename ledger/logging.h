// Minimal structured logging to stderr: one line per message, RFC 3339 UTC time first.
// Used for operating events only (start, stop, failures that are handled and survived).
#pragma once

#include <string_view>

namespace perfledger {

void LogInfo(std::string_view message);
void LogWarning(std::string_view message);
void LogError(std::string_view message);

// Names the calling thread (at most 15 characters are kept) so that top -H, perf and gdb show
// which part of the server spends the CPU.
void NameThisThread(std::string_view name);

}  // namespace perfledger
