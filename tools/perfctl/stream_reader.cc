#include "tools/perfctl/stream_reader.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "perfledger/v1/ledger.grpc.pb.h"

namespace perfctl {

namespace v1 = perfledger::v1;

namespace {
// The server's cap on one ReadEvents call (ledger/limits.h kReadLimitMax); asking for more is
// refused, asking for less only costs round trips.
constexpr uint32_t kPageEvents = 10'000;
}  // namespace

void EnsureDecoded(v1::RecordedEvent* event) {
  if (event->has_event() || event->envelope().payload().empty()) return;
  v1::Event decoded;
  if (decoded.ParseFromString(event->envelope().payload())) *event->mutable_event() = decoded;
}

absl::StatusOr<std::vector<v1::RecordedEvent>> ReadStream(Session& session,
                                                          const std::string& stream,
                                                          size_t max_events) {
  PERFCTL_ASSIGN_OR_RETURN(Connection * connection, session.connection());
  auto stub = v1::Log::NewStub(connection->channel());
  std::vector<v1::RecordedEvent> events;
  v1::ReadEventsRequest request;
  request.set_stream(stream);
  request.set_limit(kPageEvents);
  // The first page searches every partition; a stream lives in one, so later pages read on
  // from there.
  request.set_all_partitions(true);
  while (true) {
    auto context = connection->NewContext();
    auto reader = stub->ReadEvents(context.get(), request);
    v1::RecordedEvent event;
    uint32_t page = 0;
    while (reader->Read(&event)) {
      ++page;
      EnsureDecoded(&event);
      events.push_back(event);
    }
    PERFCTL_RETURN_IF_ERROR(FromGrpc(reader->Finish()));
    if (events.size() > max_events) {
      return absl::FailedPreconditionError(
          absl::StrCat(stream, " has more than ", max_events, " events"));
    }
    if (page < kPageEvents) return events;
    const v1::Position& last = events.back().envelope().position();
    request.set_all_partitions(false);
    request.set_partition(last.partition());
    request.set_from_offset(last.offset() + 1);  // a lower bound, valid despite offset gaps
  }
}

}  // namespace perfctl
