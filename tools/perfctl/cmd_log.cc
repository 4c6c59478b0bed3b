// status, events read, events follow: the raw log and the server's health.

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "perfledger/v1/ledger.grpc.pb.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "tools/perfctl/commands.h"
#include "tools/perfctl/interrupt.h"
#include "tools/perfctl/parse.h"
#include "tools/perfctl/stream_reader.h"

namespace perfctl {
namespace {

namespace v1 = perfledger::v1;

constexpr size_t kHashPrefixChars = 16;

// ---------------------------------------------------------------- status

// The projector's progress in one line; a server without the Views service (or one whose
// projector failed) says so instead of failing the whole status.
std::string ProjectionLine(const absl::StatusOr<v1::ProjectionStatusResponse>& projection) {
  if (!projection.ok()) return absl::StrCat("unavailable (", DescribeFailure("", projection.status()), ")");
  std::vector<std::string> applied;
  for (const v1::Position& p : projection->applied()) applied.push_back(FormatPosition(p));
  return absl::StrCat("lag ", WithThousands(projection->lag_events()), " events; ",
                      WithThousands(projection->events_applied()), " applied; next ",
                      applied.empty() ? "-" : absl::StrJoin(applied, " "));
}

absl::Status RunStatus(Session& session) {
  PERFCTL_ASSIGN_OR_RETURN(v1::StatusResponse status,
                           (CallUnary<v1::Log>(session, &v1::Log::Stub::Status, v1::StatusRequest())));
  const absl::StatusOr<v1::ProjectionStatusResponse> projection = CallUnary<v1::Views>(
      session, &v1::Views::Stub::GetProjectionStatus, v1::ProjectionStatusRequest());
  if (session.format() == OutputFormat::kJson) {
    nlohmann::json json = ToJsonValue(status);
    if (projection.ok()) json["projection"] = ToJsonValue(*projection);
    else json["projection_error"] = DescribeFailure("", projection.status());
    std::cout << json.dump(2) << '\n';
    return absl::OkStatus();
  }
  Fields about;
  about.emplace_back("server", absl::StrCat(session.flags().server, "  (perfledgerd ",
                                            status.version().empty() ? "?" : status.version(), ")"));
  about.emplace_back("backend", status.log_backend());
  about.emplace_back("data dir", status.data_dir());
  about.emplace_back("started at", FormatTimestamp(status.started_at()));
  if (status.has_caller()) {
    about.emplace_back("caller", absl::StrCat(status.caller().principal(), " (",
                                              v1::Role_Name(status.caller().role()), ")"));
  }
  about.emplace_back("commands", absl::StrCat(WithThousands(status.commands_accepted()), " accepted, ",
                                              WithThousands(status.commands_rejected()), " rejected; ",
                                              WithThousands(status.appends()), " appends in ",
                                              WithThousands(status.group_commits()),
                                              " group commits"));
  about.emplace_back("projections", ProjectionLine(projection));
  PrintFields(std::cout, about);
  std::cout << '\n';

  Table partitions({"PARTITION", "END OFFSET", "EVENTS", "LAST HASH"});
  for (size_t column : {0, 1, 2}) partitions.AlignRight(column);
  for (const v1::PartitionStatus& p : status.partitions()) {
    partitions.AddRow({absl::StrCat(p.partition()), WithThousands(p.end_offset()),
                       WithThousands(p.events()),
                       p.last_hash().empty() ? "-" : p.last_hash().substr(0, kHashPrefixChars)});
  }
  partitions.AddRow({"total", "", WithThousands(status.total_events()), ""});
  partitions.Print(std::cout);

  if (status.views_size() > 0) {
    std::cout << '\n';
    Table views({"VIEW", "LAG (EVENTS)"});
    views.AlignRight(1);
    for (const v1::ViewLag& view : status.views()) {
      views.AddRow({view.view(), WithThousands(view.lag_events())});
    }
    views.Print(std::cout);
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- events

std::vector<std::string> EventCells(const v1::RecordedEvent& event) {
  const v1::Envelope& envelope = event.envelope();
  return {FormatPosition(envelope.position()), FormatTimestamp(envelope.recorded_at()),
          EventTypeOf(event), absl::StrCat(envelope.stream(), "@", envelope.stream_version()),
          envelope.event_id()};
}

const std::vector<std::string>& EventHeaders() {
  static const std::vector<std::string> headers = {"POSITION", "RECORDED_AT", "TYPE",
                                                   "STREAM@VERSION", "EVENT_ID"};
  return headers;
}

void PrintEventJsonLine(const v1::RecordedEvent& event) {
  std::cout << RecordedEventJson(event).dump() << '\n';
  std::cout.flush();
}

struct ReadFlags {
  uint32_t partition = 0;
  CLI::Option* partition_option = nullptr;
  bool all = false;
  uint64_t from = 0;
  uint32_t limit = 0;
  std::string stream;
};

absl::Status RunRead(Session& session, const ReadFlags& flags) {
  v1::ReadEventsRequest request;
  // Without --partition, read everything: the operator rarely knows which partition holds what.
  const bool all = flags.all || flags.partition_option->count() == 0;
  request.set_all_partitions(all);
  request.set_partition(flags.partition);
  request.set_from_offset(flags.from);
  request.set_limit(flags.limit);
  request.set_stream(flags.stream);

  PERFCTL_ASSIGN_OR_RETURN(Connection * connection, session.connection());
  auto stub = v1::Log::NewStub(connection->channel());
  auto context = connection->NewContext();
  auto reader = stub->ReadEvents(context.get(), request);
  const bool json = session.format() == OutputFormat::kJson;
  Table table(EventHeaders());
  v1::RecordedEvent event;
  uint64_t count = 0;
  while (reader->Read(&event)) {
    ++count;
    EnsureDecoded(&event);
    if (json) PrintEventJsonLine(event);
    else table.AddRow(EventCells(event));
  }
  const grpc::Status status = reader->Finish();
  // Print what arrived even when the stream broke: those events are real.
  if (!json) {
    if (count > 0) table.Print(std::cout);
    std::cout << WithThousands(count) << " events\n";
  }
  return FromGrpc(status);
}

struct FollowFlags {
  bool from_latest = false;
  std::vector<std::string> types;
  std::vector<std::string> from;
};

absl::Status RunFollow(Session& session, const FollowFlags& flags) {
  v1::FollowEventsRequest request;
  request.set_from_latest(flags.from_latest);
  for (const std::string& type : flags.types) request.add_types(type);
  for (const std::string& spec : flags.from) {
    const std::vector<std::string> parts = SplitColon(spec, 2);
    const std::string field = absl::StrCat("--from '", spec, "'");
    if (parts.size() != 2) return UsageError(absl::StrCat(field, ": expected PARTITION:OFFSET"));
    v1::Position* position = request.add_from();
    PERFCTL_ASSIGN_OR_RETURN(uint32_t partition, ParseUint32(field, parts[0]));
    PERFCTL_ASSIGN_OR_RETURN(int64_t offset, ParseInt64(field, parts[1]));
    if (offset < 0) return UsageError(absl::StrCat(field, ": negative offset"));
    position->set_partition(partition);
    position->set_offset(static_cast<uint64_t>(offset));
  }

  PERFCTL_ASSIGN_OR_RETURN(Connection * connection, session.connection());
  auto stub = v1::Log::NewStub(connection->channel());
  // No deadline: following is meant to run until the operator stops it.
  auto context = connection->NewUnboundedContext();
  CancelOnInterrupt cancel(context.get());
  auto reader = stub->FollowEvents(context.get(), request);
  const bool json = session.format() == OutputFormat::kJson;
  StreamingTable table(EventHeaders(), {8, 30, 22, 24, 0});
  v1::RecordedEvent event;
  while (reader->Read(&event)) {
    EnsureDecoded(&event);
    if (json) PrintEventJsonLine(event);
    else table.PrintRow(std::cout, EventCells(event));
  }
  const grpc::Status status = reader->Finish();
  if (cancel.interrupted()) return absl::OkStatus();  // Ctrl-C is how following ends
  if (status.ok()) {
    return absl::UnavailableError("the server ended the stream (shutting down?)");
  }
  return FromGrpc(status);
}

void AddEvents(CLI::App& app, Session& session) {
  CLI::App* events = app.add_subcommand("events", "Read or follow the raw event log");
  events->require_subcommand(1);

  auto read = std::make_shared<ReadFlags>();
  CLI::App* sub = events->add_subcommand("read", "Print events from the log");
  read->partition_option =
      sub->add_option("--partition", read->partition, "Partition to read (0 = control stream)");
  auto* all = sub->add_flag("--all", read->all, "Read every partition (the default)");
  read->partition_option->excludes(all);
  sub->add_option("--from", read->from, "First offset (per partition with --all)");
  sub->add_option("--limit", read->limit, "Max events (default and cap: the server's)");
  sub->add_option("--stream", read->stream, "Only this stream, e.g. employee/E7");
  sub->footer(Examples({"perfctl events read --limit 20",
                        "perfctl events read --partition 0 --from 100",
                        "perfctl events read --stream employee/E7 -o json | jq .event"}));
  sub->callback([&session, read] {
    session.Select("read events", [&session, read] { return RunRead(session, *read); });
  });

  auto follow = std::make_shared<FollowFlags>();
  CLI::App* fol = events->add_subcommand("follow", "Print events as they are appended, until Ctrl-C");
  fol->add_flag("--from-latest", follow->from_latest, "Start at the current end of the log");
  fol->add_option("--type", follow->types, "Only events of this type, e.g. GradeFinalized. Repeatable");
  fol->add_option("--from", follow->from, "PARTITION:OFFSET to start a partition at. Repeatable");
  fol->footer(Examples({"perfctl events follow --from-latest",
                        "perfctl events follow --type GradeFinalized --type ActionTriggered -o json"}));
  fol->callback([&session, follow] {
    session.Select("follow events", [&session, follow] { return RunFollow(session, *follow); });
  });
}

}  // namespace

void AddLogCommands(CLI::App& app, Session& session) {
  CLI::App* status = app.add_subcommand("status", "Show the log's partitions and server counters");
  status->footer(Examples({"perfctl status", "perfctl --server ledger:7411 status -o json"}));
  status->callback([&session] {
    session.Select("status", [&session] { return RunStatus(session); });
  });
  AddEvents(app, session);
}

}  // namespace perfctl
