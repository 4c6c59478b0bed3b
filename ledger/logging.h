// Minimal structured logging to stderr: one line per message, RFC 3339 UTC time first.
// Used for operating events only (start, stop, failures that are handled and survived).
#pragma once

#include <string_view>

namespace perfledger {

void LogInfo(std::string_view message);
void LogWarning(std::string_view message);
void LogError(std::string_view message);

}  // namespace perfledger
