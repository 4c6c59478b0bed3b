#include "services/replay.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "ledger/embedded_log.h"
#include "ledger/kafka_log.h"
#include "ledger/state_store.h"
#include "ledger/status_macros.h"
#include "projections/view.h"

namespace perfledger::services {
namespace {

absl::StatusOr<std::unique_ptr<EventLog>> OpenForReading(const ServerConfig& c) {
  if (c.log_backend == "kafka") {
    KafkaLogOptions options;
    options.brokers = c.kafka_brokers;
    options.topic_prefix = c.kafka_topic_prefix;
    options.data_partitions = 0;  // whatever the log has
    options.role = KafkaRole::kReadReplica;
    ASSIGN_OR_RETURN(auto log, KafkaLog::Open(options));
    return std::unique_ptr<EventLog>(std::move(log));
  }
  EmbeddedLogOptions options;
  options.dir = (std::filesystem::path(c.data_dir) / "log").string();
  options.data_partitions = 0;
  ASSIGN_OR_RETURN(auto log, EmbeddedLog::Open(options));
  return std::unique_ptr<EventLog>(std::move(log));
}

}  // namespace

absl::StatusOr<ReplayResult> ReplayToScratch(const ServerConfig& config,
                                             const std::string& scratch_dir,
                                             absl::Duration timeout) {
  const std::filesystem::path state_dir = std::filesystem::path(scratch_dir) / "state";
  std::error_code ec;
  if (std::filesystem::exists(state_dir, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--replay-to: ", state_dir.string(), " exists; replay into an empty directory"));
  }
  std::filesystem::create_directories(state_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("--replay-to: cannot create ", state_dir.string(), ": ", ec.message()));
  }
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(std::unique_ptr<EventLog> log, OpenForReading(config));
  StateStoreOptions state_options;
  state_options.dir = state_dir.string();
  std::vector<std::unique_ptr<projections::View>> views = projections::AllViews();
  projections::Projector::AddFamilies(views, state_options);
  ASSIGN_OR_RETURN(std::unique_ptr<StateStore> state, StateStore::Open(state_options));
  ASSIGN_OR_RETURN(std::unique_ptr<projections::Projector> projector,
                   projections::Projector::Start(log.get(), state.get(), std::move(views)));
  absl::Status caught_up = projector->WaitCaughtUp(absl::Now() + timeout);
  projector->Stop();
  RETURN_IF_ERROR(caught_up);
  ReplayResult result;
  ASSIGN_OR_RETURN(result.digests, projector->Digests());
  result.events = projector->events_applied();
  result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  projector.reset();
  log->Close();
  return result;
}

}  // namespace perfledger::services
