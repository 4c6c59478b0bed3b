// Reads every event of one stream (e.g. "goal/G7") through Log.ReadEvents, for commands that
// need the current state of an aggregate before changing it.
#ifndef PERFLEDGER_TOOLS_PERFCTL_STREAM_READER_H_
#define PERFLEDGER_TOOLS_PERFCTL_STREAM_READER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "perfledger/v1/ledger.pb.h"
#include "tools/perfctl/session.h"

namespace perfctl {

// The stream's events in log order, payloads decoded. Pages through the server's read limit.
// Empty when the stream does not exist. At most `max_events`; more is a FAILED_PRECONDITION
// rather than a silently truncated history.
absl::StatusOr<std::vector<perfledger::v1::RecordedEvent>> ReadStream(Session& session,
                                                                      const std::string& stream,
                                                                      size_t max_events);

// Decodes the payload when the server did not (it normally does).
void EnsureDecoded(perfledger::v1::RecordedEvent* event);

}  // namespace perfctl

#endif  // PERFLEDGER_TOOLS_PERFCTL_STREAM_READER_H_
