// Failing tests for bugs found in ledger/ and services/, kept out of the default CTest run so
// the suite stays green for everyone until they are fixed. Build and run them with
//   cmake -DPERFLEDGER_KNOWN_BUGS=ON ... && ctest -L known_bug
// Each test states the expected behaviour; once a fix lands, move the test into the suite it
// belongs to (idempotency_test.cc, bad_input_test.cc, ...).
#include "tests/integration/helpers.h"

#include "absl/strings/match.h"

namespace perfledger::testing {
namespace {

// Protobuf refuses a request whose string field holds invalid UTF-8 while gRPC deserializes it,
// before any handler runs, so the client gets INTERNAL without the field's name. A fix means
// validating UTF-8 ourselves (the fields as bytes, or a raw handler); not done yet.
TEST_CASE("known bug: invalid UTF-8 is INTERNAL without a message", "[known_bug]") {
  TestServer server;
  SeedFixture(server);
  auto feedback = FeedbackReq();
  feedback.set_feedback("caf\xc3");
  const auto reply = server.Call(server.reviews(), &v1::Reviews::Stub::RecordFeedback, feedback);
  INFO(CodeName(reply.status.error_code()) << ": " << reply.status.error_message());
  CHECK(reply.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(absl::StrContains(reply.status.error_message(), "feedback"));
}

}  // namespace
}  // namespace perfledger::testing
