// Waiting for a condition with a bounded deadline instead of sleeping for a fixed time.
#pragma once

#include <functional>

#include "absl/time/time.h"

namespace perfledger::testing {

// Polls `condition` (every 2 ms) until it holds or `timeout` passes; returns its last value.
bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(10));

}  // namespace perfledger::testing
