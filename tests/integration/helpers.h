// Catch2 helpers shared by the integration tests (header-only: the support library does not
// depend on Catch).
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "tests/support/fixture.h"
#include "tests/support/test_server.h"

namespace perfledger::testing {

// Requires an OK reply and returns its response.
template <typename Response>
Response MustOk(const Reply<Response>& reply, const std::string& what = "call") {
  INFO(what << ": " << CodeName(reply.status.error_code()) << " "
            << reply.status.error_message());
  REQUIRE(reply.ok());
  return reply.response;
}

// Requires a failed reply with `code` whose message mentions `field`.
template <typename Response>
void RequireError(const Reply<Response>& reply, grpc::StatusCode code, const std::string& field) {
  INFO("got " << CodeName(reply.status.error_code()) << ": " << reply.status.error_message());
  REQUIRE(reply.status.error_code() == code);
  CHECK(absl::StrContains(reply.status.error_message(), field));
}

// The one recorded event with this id (REQUIREs exactly one). The reference points into
// `events`, so `OneEvent(events, id).event().grade_finalized()` may be bound to a reference.
inline const v1::RecordedEvent& OneEvent(const std::vector<v1::RecordedEvent>& events,
                                         const std::string& event_id) {
  const v1::RecordedEvent* found = nullptr;
  size_t count = 0;
  for (const auto& e : events) {
    if (e.envelope().event_id() == event_id) {
      found = &e;
      count++;
    }
  }
  INFO("event " << event_id);
  REQUIRE(count == 1);
  return *found;
}

// Requires the whole log's hash chains to verify against the server's status.
inline void RequireChainsVerify(TestServer& server, const std::string& token = "") {
  const v1::StatusResponse status = server.Status(token);
  const auto events = server.ReadAllEvents(token);
  const absl::Status verified = VerifyChains(events, &status);
  INFO(verified.ToString());
  REQUIRE(verified.ok());
  REQUIRE(events.size() == status.total_events());
}

}  // namespace perfledger::testing
