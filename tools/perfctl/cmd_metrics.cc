// metric record (one observation) and metric import (a CSV file streamed in batches).

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "perfledger/v1/ledger.grpc.pb.h"
#include "tools/perfctl/commands.h"
#include "tools/perfctl/csv.h"
#include "tools/perfctl/digest.h"
#include "tools/perfctl/limits.h"
#include "tools/perfctl/parse.h"
#include "tools/perfctl/progress.h"

namespace perfctl {
namespace {

namespace v1 = perfledger::v1;

// ---------------------------------------------------------------- metric record

struct RecordFlags {
  std::string subject_id;
  std::string metric;
  std::string value_milli;
  std::string unit;
  std::string source;
  bool org_unit_subject = false;
  std::string cycle_id;
  std::string denominator;
  MetaFlags meta;
};

absl::StatusOr<v1::ObserveMetricRequest> BuildRecord(const RecordFlags& flags) {
  v1::ObserveMetricRequest request;
  v1::Observation* observation = request.mutable_observation();
  PERFCTL_RETURN_IF_ERROR(ValidateId("SUBJECT", flags.subject_id));
  if (flags.metric.empty()) return UsageError("METRIC: required");
  observation->set_subject_id(flags.subject_id);
  observation->set_subject_kind(flags.org_unit_subject ? v1::OWNER_KIND_ORG_UNIT
                                                       : v1::OWNER_KIND_EMPLOYEE);
  observation->set_metric(flags.metric);
  PERFCTL_ASSIGN_OR_RETURN(int64_t value, ParseInt64("VALUE_MILLI", flags.value_milli));
  observation->set_value_milli(value);
  observation->set_unit(flags.unit);
  observation->set_source(flags.source);
  if (!flags.cycle_id.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", flags.cycle_id));
  observation->set_cycle_id(flags.cycle_id);
  if (!flags.denominator.empty()) {
    PERFCTL_ASSIGN_OR_RETURN(int64_t denominator, ParseInt64("--of", flags.denominator));
    observation->set_denominator(denominator);
  }
  PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags.meta));
  // --at is the observation's time too; the contract would fall back to it anyway, but saying
  // it explicitly keeps the stored observation self-describing.
  if (request.meta().has_occurred_at()) {
    *observation->mutable_observed_at() = request.meta().occurred_at();
  }
  return request;
}

void AddRecord(CLI::App& metric, Session& session) {
  auto flags = std::make_shared<RecordFlags>();
  CLI::App* sub = metric.add_subcommand("record", "Record one metric observation");
  sub->add_option("SUBJECT", flags->subject_id, "Employee id (or org unit id with --org-unit-subject)")
      ->required();
  sub->add_option("METRIC", flags->metric, "Metric name, e.g. defect_rate")->required();
  sub->add_option("VALUE_MILLI", flags->value_milli, "Value in milli-units (2.5 % = 2500)")
      ->required();
  sub->add_option("--unit", flags->unit, "Unit, e.g. %");
  sub->add_option("--source", flags->source, "Source system, e.g. IoT, ERP, CRM");
  sub->add_flag("--org-unit-subject", flags->org_unit_subject, "SUBJECT is an org unit");
  sub->add_option("--cycle", flags->cycle_id, "Cycle the observation counts toward");
  sub->add_option("--of", flags->denominator,
                  "What the value is a rate over, e.g. 120 units inspected (org units roll "
                  "such rates up as Σ(value × of) / Σ of)");
  AddMetaFlags(sub, &flags->meta);
  sub->footer(Examples({"perfctl metric record E7 defect_rate 2500 --unit % --source IoT "
                        "--at 2026-03-02T10:00:00Z",
                        "perfctl metric record LINE2 defect_rate 5400 --unit % --org-unit-subject"}));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("record metric ", flags->metric, " of ", flags->subject_id),
                   [&session, flags]() -> absl::Status {
                     PERFCTL_ASSIGN_OR_RETURN(v1::ObserveMetricRequest request, BuildRecord(*flags));
                     return SendCommand<v1::Metrics>(session, &v1::Metrics::Stub::ObserveMetric,
                                                     request);
                   });
  });
}

// ---------------------------------------------------------------- metric import

const std::vector<std::string>& RequiredColumns() {
  static const std::vector<std::string> columns = {"subject_id", "metric", "value_milli"};
  return columns;
}
const std::vector<std::string>& OptionalColumns() {
  static const std::vector<std::string> columns = {"unit", "source", "observed_at",
                                                   "subject_kind", "cycle_id", "denominator"};
  return columns;
}

struct ImportFlags {
  std::string file;
  uint32_t batch_size = limits::kMetricBatchSizeDefault;
  bool dry_run = false;
  bool skip_invalid = false;
  std::string key_base;
  std::string retry_for = limits::kImportRetryForDefault;
};

struct InvalidRow {
  int64_t line;
  std::string reason;
};

// Reads a metrics CSV: header check, then one Observation per record. Both passes of an import
// use it, so they agree exactly on which rows exist and how they are batched.
class MetricFile {
 public:
  static absl::StatusOr<std::unique_ptr<MetricFile>> Open(const std::string& path) {
    auto file = std::unique_ptr<MetricFile>(new MetricFile(path));
    if (!file->in_) return UsageError(absl::StrCat("cannot open: ", std::strerror(errno)));
    PERFCTL_ASSIGN_OR_RETURN(std::optional<CsvRecord> header, file->reader_.Next());
    if (!header.has_value()) return UsageError(absl::StrCat("empty file, expected a header row"));
    if (!header->error.empty()) return UsageError(absl::StrCat("header: ", header->error));
    for (const std::string& field : header->fields) {
      const std::string column = absl::AsciiStrToLower(absl::StripAsciiWhitespace(field));
      const auto& optional = OptionalColumns();
      const auto& required = RequiredColumns();
      if (std::find(required.begin(), required.end(), column) == required.end() &&
          std::find(optional.begin(), optional.end(), column) == optional.end()) {
        return UsageError(absl::StrCat("unknown column '", column, "' (known: ",
                                       absl::StrJoin(required, ","), ",",
                                       absl::StrJoin(optional, ","), ")"));
      }
      file->columns_.push_back(column);
    }
    for (const std::string& column : RequiredColumns()) {
      if (file->ColumnIndex(column) < 0) {
        return UsageError(absl::StrCat("missing required column '", column, "'"));
      }
    }
    return file;
  }

  // Next data record: an observation, or an InvalidRow; nullopt at the end.
  struct Item {
    int64_t line = 0;
    std::optional<v1::Observation> observation;
    std::string error;
  };
  absl::StatusOr<std::optional<Item>> Next() {
    PERFCTL_ASSIGN_OR_RETURN(std::optional<CsvRecord> record, reader_.Next());
    if (!record.has_value()) return std::optional<Item>();
    Item item;
    item.line = record->line;
    absl::StatusOr<v1::Observation> observation = Parse(*record);
    if (observation.ok()) item.observation = std::move(*observation);
    else item.error = std::string(observation.status().message());
    return std::optional<Item>(std::move(item));
  }

  uint64_t bytes_read() const { return reader_.bytes_read(); }

 private:
  explicit MetricFile(const std::string& path) : in_(path, std::ios::binary), reader_(in_) {}

  int ColumnIndex(const std::string& column) const {
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (columns_[i] == column) return static_cast<int>(i);
    }
    return -1;
  }

  absl::StatusOr<v1::Observation> Parse(const CsvRecord& record) const {
    if (!record.error.empty()) return UsageError(record.error);
    if (record.fields.size() != columns_.size()) {
      return UsageError(absl::StrCat("expected ", columns_.size(), " fields, found ",
                                     record.fields.size()));
    }
    auto get = [&](const std::string& column) -> std::string {
      const int i = ColumnIndex(column);
      return i < 0 ? std::string() : std::string(absl::StripAsciiWhitespace(record.fields[i]));
    };
    v1::Observation observation;
    const std::string subject = get("subject_id");
    PERFCTL_RETURN_IF_ERROR(ValidateId("subject_id", subject));
    observation.set_subject_id(subject);
    PERFCTL_ASSIGN_OR_RETURN(v1::OwnerKind kind, ParseOwnerKind("subject_kind", get("subject_kind")));
    observation.set_subject_kind(kind);
    if (get("metric").empty()) return UsageError("metric: required");
    observation.set_metric(get("metric"));
    PERFCTL_ASSIGN_OR_RETURN(int64_t value, ParseInt64("value_milli", get("value_milli")));
    observation.set_value_milli(value);
    observation.set_unit(get("unit"));
    observation.set_source(get("source"));
    const std::string cycle = get("cycle_id");
    if (!cycle.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("cycle_id", cycle));
    observation.set_cycle_id(cycle);
    if (const std::string denominator = get("denominator"); !denominator.empty()) {
      PERFCTL_ASSIGN_OR_RETURN(int64_t d, ParseInt64("denominator", denominator));
      observation.set_denominator(d);
    }
    const std::string at = get("observed_at");
    if (!at.empty()) {
      PERFCTL_ASSIGN_OR_RETURN(*observation.mutable_observed_at(), ParseTimestamp("observed_at", at));
    }
    return observation;
  }

  std::ifstream in_;
  CsvReader reader_;
  std::vector<std::string> columns_;
};

struct Survey {
  std::string sha256_hex;
  uint64_t bytes = 0;
  uint64_t valid = 0;
  uint64_t invalid = 0;
  std::vector<InvalidRow> invalid_shown;
};

absl::StatusOr<Survey> SurveyFile(const std::string& path) {
  Survey survey;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) return UsageError(absl::StrCat("cannot open: ", std::strerror(errno)));
    Sha256 sha;
    std::vector<char> buffer(1 << 20);
    while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
      sha.Update(buffer.data(), static_cast<size_t>(in.gcount()));
      survey.bytes += static_cast<uint64_t>(in.gcount());
    }
    if (in.bad()) return UsageError(absl::StrCat("read error"));
    survey.sha256_hex = sha.FinishHex();
  }
  PERFCTL_ASSIGN_OR_RETURN(std::unique_ptr<MetricFile> file, MetricFile::Open(path));
  while (true) {
    PERFCTL_ASSIGN_OR_RETURN(std::optional<MetricFile::Item> item, file->Next());
    if (!item.has_value()) break;
    if (item->observation.has_value()) {
      ++survey.valid;
    } else {
      ++survey.invalid;
      if (survey.invalid_shown.size() < limits::kInvalidRowsShownMax) {
        survey.invalid_shown.push_back({item->line, item->error});
      }
    }
  }
  return survey;
}

void PrintInvalid(const Survey& survey, OutputFormat format, nlohmann::json* report) {
  if (format == OutputFormat::kJson) {
    nlohmann::json rows = nlohmann::json::array();
    for (const InvalidRow& row : survey.invalid_shown) {
      rows.push_back({{"line", row.line}, {"reason", row.reason}});
    }
    (*report)["invalid_rows"] = std::move(rows);
    return;
  }
  if (survey.invalid_shown.empty()) return;
  Table table({"LOCATION", "OUTCOME", "DETAIL"});
  for (const InvalidRow& row : survey.invalid_shown) {
    table.AddRow({absl::StrCat("line ", row.line), "invalid", row.reason});
  }
  table.Print(std::cout);
  if (survey.invalid > survey.invalid_shown.size()) {
    std::cout << "... and " << survey.invalid - survey.invalid_shown.size() << " more\n";
  }
}

// Batch keys: the same file sent with the same batch size produces the same keys, so a re-run
// (after a crash, a timeout, or by mistake) is answered as deduplicated instead of appending
// twice. The batch size is part of the key because it decides which rows share a batch.
std::string BatchKey(const std::string& key_base, uint32_t batch_size, uint64_t index) {
  return absl::StrCat("metrics:", key_base, ":", batch_size, ":", index);
}

// Trailing metadata of a failed StreamMetrics: how many of that stream's batches the server
// recorded (proto/perfledger/v1/ledger.proto).
constexpr char kBatchesRecordedTrailer[] = "perfledger-batches-recorded";

struct StreamAttempt {
  grpc::Status status;
  // Batches of this stream known to be recorded: all of them on success, the server's trailer
  // on failure, 0 when the call failed without one (the connection broke).
  uint64_t recorded = 0;
  uint64_t written = 0;  // batches the transport took (the server was reachable)
  v1::ObserveMetricsSummary summary;
};

// Streams the file's batches [first, batches), at most limits::kImportStreamBatchesMax of them,
// in one call. Batch i always carries BatchKey(..., i), whichever call sends it.
absl::StatusOr<StreamAttempt> StreamFrom(const Connection& connection, v1::Metrics::Stub& stub,
                                         const ImportFlags& flags, const std::string& key_base,
                                         uint64_t batches, uint64_t first, ProgressBar& progress) {
  const uint64_t last = std::min(batches, first + limits::kImportStreamBatchesMax);
  // The deadline grants every batch the per-call timeout, so a stalled server is noticed while a
  // large healthy import is not cut short.
  auto context = connection.NewContext(
      connection.timeout() * static_cast<int64_t>(std::max<uint64_t>(last - first, 1)));
  PERFCTL_ASSIGN_OR_RETURN(std::unique_ptr<MetricFile> file, MetricFile::Open(flags.file));
  StreamAttempt attempt;
  auto writer = stub.StreamMetrics(context.get(), &attempt.summary);
  uint64_t index = 0;  // of the batch being filled, counted from the file's start
  uint64_t rows = 0;   // valid rows read so far
  bool broken = false;
  v1::ObserveMetricsRequest batch;
  auto flush = [&]() {
    if (batch.observations_size() == 0 || broken) return;
    batch.mutable_meta()->set_idempotency_key(BatchKey(key_base, flags.batch_size, index));
    if (writer->Write(batch)) {
      ++attempt.written;
    } else {
      broken = true;  // the server ended the stream (or was not there); Finish() says why
    }
    batch.Clear();
    ++index;
    progress.Update(file->bytes_read(), rows);
  };
  while (!broken && index < last) {
    absl::StatusOr<std::optional<MetricFile::Item>> item = file->Next();
    if (!item.ok()) {
      // A call must be finished before its context goes away; cancel rather than commit the
      // batch in progress.
      context->TryCancel();
      writer->Finish();
      return item.status();
    }
    if (!item->has_value()) break;
    if (!(*item)->observation.has_value()) continue;  // counted in pass 1; --skip-invalid
    ++rows;
    if (index < first) {  // recorded by an earlier call: only keep the count of rows
      if (rows % flags.batch_size == 0) ++index;
      continue;
    }
    *batch.add_observations() = std::move(*(*item)->observation);
    if (static_cast<uint32_t>(batch.observations_size()) >= flags.batch_size) flush();
  }
  flush();
  if (!broken) writer->WritesDone();
  attempt.status = writer->Finish();
  if (attempt.status.ok()) {
    attempt.recorded = last - first;
    return attempt;
  }
  const auto& trailers = context->GetServerTrailingMetadata();
  if (auto it = trailers.find(kBatchesRecordedTrailer); it != trailers.end()) {
    uint64_t recorded = 0;
    if (absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &recorded)) {
      attempt.recorded = std::min(recorded, last - first);
    }
  }
  return attempt;
}

absl::Status RunImport(Session& session, const ImportFlags& flags) {
  if (flags.batch_size == 0 || flags.batch_size > limits::kMetricBatchSizeMax) {
    return UsageError(absl::StrCat("--batch-size: must be 1..", limits::kMetricBatchSizeMax));
  }
  if (!flags.key_base.empty()) {
    PERFCTL_RETURN_IF_ERROR(ValidateId("--key-base", flags.key_base));
    // Keeps the whole key within the 64-character limit of idempotency keys.
    if (flags.key_base.size() > 32) return UsageError("--key-base: at most 32 characters");
  }
  PERFCTL_ASSIGN_OR_RETURN(const absl::Duration retry_for,
                           ParseDuration("--retry-for", flags.retry_for, /*allow_zero=*/true));
  // Pass 1: hash the file (the key base) and validate every row before anything is sent, so a
  // bad row never leaves a half-imported file behind.
  PERFCTL_ASSIGN_OR_RETURN(Survey survey, SurveyFile(flags.file));
  const std::string key_base =
      flags.key_base.empty() ? survey.sha256_hex.substr(0, 16) : flags.key_base;
  const uint64_t batches = (survey.valid + flags.batch_size - 1) / flags.batch_size;
  nlohmann::json report = {{"file", flags.file}, {"sha256", survey.sha256_hex},
                           {"key_base", key_base}, {"valid_rows", survey.valid},
                           {"invalid_rows_total", survey.invalid}, {"batch_size", flags.batch_size},
                           {"batches", batches}, {"dry_run", flags.dry_run}};

  if (flags.dry_run || (survey.invalid > 0 && !flags.skip_invalid)) {
    PrintInvalid(survey, session.format(), &report);
    if (session.format() == OutputFormat::kJson) {
      std::cout << report.dump(2) << '\n';
    } else {
      std::cout << flags.file << ": " << WithThousands(survey.valid) << " valid rows in "
                << batches << " batches of " << flags.batch_size << ", " << survey.invalid
                << " invalid" << (flags.dry_run ? " (dry run: nothing sent)" : "") << '\n';
    }
    if (survey.invalid == 0) return absl::OkStatus();
    return ReportedFailure(absl::StrCat(
        survey.invalid, " invalid rows",
        flags.dry_run ? "" : "; nothing sent (fix them, or pass --skip-invalid)"));
  }

  // Pass 2: stream, resuming after UNAVAILABLE (see StreamFrom).
  PERFCTL_ASSIGN_OR_RETURN(Connection * connection, session.connection());
  auto stub = v1::Metrics::NewStub(connection->channel());
  ProgressBar progress(absl::StrCat("metric import ", flags.file), survey.bytes);
  const absl::Time started = absl::Now();
  const absl::Time give_up = started + retry_for;
  absl::Duration backoff = limits::kImportRetryBackoffFirst;
  uint64_t next_batch = 0;  // every batch before it is known to be recorded
  uint64_t retries = 0;
  v1::ObserveMetricsSummary summary;
  absl::flat_hash_map<uint32_t, uint64_t> last_offsets;
  while (true) {
    PERFCTL_ASSIGN_OR_RETURN(
        StreamAttempt attempt,
        StreamFrom(*connection, *stub, flags, key_base, batches, next_batch, progress));
    const uint64_t first = next_batch;
    next_batch += attempt.recorded;
    if (attempt.status.ok()) {
      summary.set_batches(summary.batches() + attempt.summary.batches());
      summary.set_events(summary.events() + attempt.summary.events());
      summary.set_deduplicated_batches(summary.deduplicated_batches() +
                                       attempt.summary.deduplicated_batches());
      summary.set_duplicate_events(summary.duplicate_events() +
                                   attempt.summary.duplicate_events());
      for (const v1::Position& p : attempt.summary.last_positions()) {
        uint64_t& offset = last_offsets[p.partition()];
        offset = std::max(offset, p.offset());
      }
      if (next_batch >= batches) break;
      continue;  // a full stream (limits::kImportStreamBatchesMax): open the next one
    }
    absl::Status failure = FromGrpc(attempt.status);
    // UNAVAILABLE is the server asking to come back later (its views are behind, it is shutting
    // down, or it cannot be reached), and a CANCELLED call is one a draining server ended (both
    // map to ExitCode::kUnavailable): every batch carries its idempotency key, so sending again
    // from the first unconfirmed batch cannot append anything twice.
    if (ExitCodeFor(failure) == ExitCode::kUnavailable &&
        failure.code() != absl::StatusCode::kDeadlineExceeded && absl::Now() < give_up) {
      // A call that reached the server (a broken connection sends no trailer, so progress is
      // not always known) starts the backoff over.
      if (next_batch > first || attempt.written > 0) {
        backoff = limits::kImportRetryBackoffFirst;
      }
      ++retries;
      progress.Clear();
      std::cerr << "perfctl: metric import: " << failure.message() << "; retrying from batch "
                << next_batch << " of " << batches << " in "
                << absl::FormatDuration(backoff) << '\n';
      absl::SleepFor(std::min(backoff, give_up - absl::Now()));
      backoff = std::min(backoff * 2, limits::kImportRetryBackoffMax);
      continue;
    }
    progress.Clear();
    // Batches the server accepted before the failure are durable. An unchanged file resumes by
    // itself (those batches are deduplicated); an edited file gets new keys unless the old key
    // base is reused, so the hint says which applies.
    const std::string hint =
        ExitCodeFor(failure) == ExitCode::kUnavailable
            ? "re-run the same file to resume"
            : absl::StrCat("after fixing the file re-run with --key-base ", key_base,
                           " --batch-size ", flags.batch_size,
                           " so accepted batches are not appended twice");
    return absl::Status(failure.code(),
                        absl::StrCat(failure.message(), " (", next_batch, " of ", batches,
                                     " batches recorded", retries > 0 ? absl::StrCat(
                                         " after ", retries, " retries") : "",
                                     "; ", hint, ")"));
  }
  progress.Clear();
  std::vector<std::pair<uint32_t, uint64_t>> sorted(last_offsets.begin(), last_offsets.end());
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [partition, offset] : sorted) {
    v1::Position* position = summary.add_last_positions();
    position->set_partition(partition);
    position->set_offset(offset);
  }
  const uint64_t sent_batches = next_batch;
  const uint64_t sent_rows = survey.valid;
  const double seconds = std::max(absl::ToDoubleSeconds(absl::Now() - started), 1e-3);

  const uint64_t rate = static_cast<uint64_t>(static_cast<double>(sent_rows) / seconds);
  if (session.format() == OutputFormat::kJson) {
    PrintInvalid(survey, session.format(), &report);
    report["sent_rows"] = sent_rows;
    report["sent_batches"] = sent_batches;
    report["seconds"] = seconds;
    report["retries"] = retries;
    report["summary"] = ToJsonValue(summary);
    std::cout << report.dump(2) << '\n';
  } else {
    PrintInvalid(survey, session.format(), &report);
    std::vector<std::string> positions;
    for (const v1::Position& p : summary.last_positions()) positions.push_back(FormatPosition(p));
    std::cout << flags.file << ": sent " << WithThousands(sent_rows) << " observations in "
              << sent_batches << " batches, " << absl::StrFormat("%.1f", seconds) << " s ("
              << WithThousands(rate) << "/s); server acknowledged "
              << WithThousands(summary.events()) << " events in " << summary.batches()
              << " batches";
    // The summary counts a replayed (deduplicated) batch like a new one, so a re-run looks the
    // same as a first run here; say what the count means rather than claim new appends.
    std::cout << "\n(a batch sent before with the same key is acknowledged again, not appended twice)";
    std::cout << '\n';
    if (!positions.empty()) std::cout << "last positions: " << absl::StrJoin(positions, " ") << '\n';
    if (summary.duplicate_events() > 0) {
      std::cout << WithThousands(summary.duplicate_events())
                << " observations were already recorded under their event id (not appended "
                   "again)\n";
    }
    if (survey.invalid > 0) std::cout << survey.invalid << " invalid rows skipped\n";
    if (retries > 0) std::cout << retries << " retries after UNAVAILABLE\n";
  }
  if (survey.invalid > 0) {
    return ReportedFailure(absl::StrCat(survey.invalid, " invalid rows skipped"));
  }
  return absl::OkStatus();
}

void AddImport(CLI::App& metric, Session& session) {
  auto flags = std::make_shared<ImportFlags>();
  CLI::App* sub = metric.add_subcommand("import", "Stream a CSV file of observations in batches");
  sub->add_option("FILE", flags->file, "CSV with a header row")->required();
  sub->add_option("--batch-size", flags->batch_size, "Observations per atomic batch")
      ->capture_default_str();
  sub->add_flag("--dry-run", flags->dry_run, "Validate every row; send nothing");
  sub->add_flag("--skip-invalid", flags->skip_invalid,
                "Send the valid rows even if some are invalid (exit 1 afterwards)");
  sub->add_option("--retry-for", flags->retry_for,
                  "How long to keep resuming after UNAVAILABLE (views behind, server restarting); "
                  "0 = stop at the first")
      ->capture_default_str();
  sub->add_option("--key-base", flags->key_base,
                  "Base of the batch idempotency keys (default: first 16 hex of the file's "
                  "SHA-256); reuse the old one to resume an edited file");
  sub->footer(absl::StrCat(
      "\nColumns: subject_id,metric,value_milli (required), unit,source,observed_at (RFC 3339),"
      "\n  subject_kind (employee|org_unit, default employee),cycle_id,"
      "\n  denominator (what the value is a rate over, e.g. units inspected)"
      "\nEvery row is validated before the first batch is sent. Batch i carries the idempotency "
      "key\nmetrics:<key-base>:<batch-size>:<i>, so re-running the same file is harmless. When the"
      "\nserver answers UNAVAILABLE (views behind, restarting) the import waits and resumes from"
      "\nthe first batch not recorded, for up to --retry-for.",
      Examples({"perfctl metric import tools/perfctl/examples/metrics.csv",
                "perfctl metric import feed.csv --batch-size 2000 --dry-run"})));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("metric import ", flags->file),
                   [&session, flags] { return RunImport(session, *flags); });
  });
}

}  // namespace

void AddMetricCommands(CLI::App& app, Session& session) {
  CLI::App* metric = app.add_subcommand("metric", "Record metric observations (KPIs, IoT feeds)");
  metric->require_subcommand(1);
  AddRecord(*metric, session);
  AddImport(*metric, session);
}

}  // namespace perfctl
