// Failing tests for bugs found in ledger/ and services/, kept out of the default CTest run so
// the suite stays green for everyone until they are fixed. Build and run them with
//   cmake -DPERFLEDGER_KNOWN_BUGS=ON ... && ctest -L known_bug
// Each test states the expected behaviour; once a fix lands, move the test into the suite it
// belongs to (idempotency_test.cc, bad_input_test.cc, ...).
#include "tests/integration/helpers.h"

#include "absl/strings/match.h"

namespace perfledger::testing {
namespace {

// None open. (The last one, invalid UTF-8 answered INTERNAL without the field, is fixed by the
// server's parse-error interceptor and pinned in bad_input_test.cc.)

}  // namespace
}  // namespace perfledger::testing
