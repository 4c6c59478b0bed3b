// Include in exactly one translation unit of each e2e test binary: a Catch listener that marks
// the run failed on the first failed assertion, so TempDir keeps the server logs and data.
#pragma once

// Listener base classes are declared only with this (Catch2 v2).
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include "tests/e2e/e2e_support.h"

namespace perfledger::e2e {

struct FailureListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  bool assertionEnded(const Catch::AssertionStats& stats) override {
    if (!stats.assertionResult.isOk()) MarkFailed();
    return true;
  }
};

CATCH_REGISTER_LISTENER(FailureListener)

}  // namespace perfledger::e2e
