// Failing tests for bugs found in ledger/ and services/, kept out of the default CTest run so
// the suite stays green for everyone until they are fixed. Build and run them with
//   cmake -DPERFLEDGER_KNOWN_BUGS=ON ... && ctest -L known_bug
// Each test states the expected behaviour; once a fix lands, move the test into the suite it
// belongs to (idempotency_test.cc, bad_input_test.cc, ...).
#include "tests/integration/helpers.h"

#include <atomic>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/barrier.h"

namespace perfledger::testing {
namespace {

// ledger/ledger.cc, Ledger::ExecuteLocked: a client event id is checked against
// WriteModel::FindEvent, which only sees committed events. Two commands with the same event id
// under different idempotency keys, decided while the first is still being appended, both pass
// and the log holds the id twice.
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

// ledger/commands_people.cc, Ledger::UpdateEmployee: RegisterEmployee requires
// band_midpoint.currency == base_salary.currency; UpdateEmployee does not, so a compa-ratio
// across currencies can be recorded.
TEST_CASE("known bug: control_version misses a pending control event", "[known_bug]") {
  TestServer server;
  SeedFixture(server);
  constexpr int kUnits = 40;
  std::atomic<bool> done{false};
  std::thread definer([&] {
    for (int i = 0; i < kUnits; i++) {
      ExpectOk(server.Call(server.people(), &v1::People::Stub::DefineOrgUnit,
                           DefineOrgUnitReq(absl::StrCat("OU", i))).status, "define");
    }
    done = true;
  });
  // Register an employee in each unit as soon as the ledger lets us.
  int registered = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  for (int i = 0; i < kUnits && absl::Now() < deadline;) {
    auto reply = server.Call(server.people(), &v1::People::Stub::RegisterEmployee,
                             RegisterEmployeeReq(absl::StrCat("X", i), absl::StrCat("OU", i), ""));
    if (reply.ok()) {
      registered++;
      i++;
    }
  }
  definer.join();
  REQUIRE(registered == kUnits);
  std::map<std::string, uint64_t> unit_offset;
  const auto events = server.ReadAllEvents();
  for (const auto& e : events) {
    if (e.event().has_org_unit_defined()) {
      unit_offset[e.event().org_unit_defined().org_unit_id()] = e.envelope().position().offset();
    }
  }
  int stale = 0;
  for (const auto& e : events) {
    if (!e.event().has_employee_registered()) continue;
    const uint64_t needs = unit_offset.at(e.event().employee_registered().org_unit_id()) + 1;
    if (e.envelope().control_version() < needs) stale++;
  }
  INFO(stale << " of " << kUnits << " registrations name a control version without their unit");
  CHECK(stale == 0);
}

// services/command_services.cc, ReviewsService::FinalizeGrade: without a grade the reactor
// computes one; with no policy published, Reactor::GetPolicy's NOT_FOUND "version: no policy
// has been published" is passed through. commands.proto promises FAILED_PRECONDITION (and the
// field is `grade`; the request has no `version`).
