// audit verify|digest|prove|as-of|export and explain: the Audit service
// (proto/perfledger/v1/audit.proto). `audit dry-run` (the reactor's re-derivation) lives in
// cmd_policy.cc; these join its `audit` group.
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "perfledger/v1/audit.grpc.pb.h"
#include "tools/perfctl/commands.h"
#include "tools/perfctl/interrupt.h"
#include "tools/perfctl/parse.h"
#include "tools/perfctl/progress.h"

namespace perfctl {
namespace v1 = perfledger::v1;
namespace {

void PrintPretty(const google::protobuf::Message& message) {
  absl::StatusOr<std::string> json = ToJson(message, JsonLayout::kPretty);
  std::cout << (json.ok() ? *json : std::string("{}")) << '\n';
}

std::string Short(const std::string& hash) { return HexOf(hash).substr(0, 16); }

// The one-line verdict of a chain check; a broken chain is a ReportedFailure (exit 1).
absl::Status ReportVerdict(Session& session, const v1::ChainVerdict& v, const std::string& what) {
  if (session.format() == OutputFormat::kJson) {
    PrintPretty(v);
  } else if (v.ok()) {
    std::cout << absl::StrFormat("%s: OK, %s events in %d partitions (%.2f s)\n", what,
                                 WithThousands(v.events_checked()), v.partitions_size(),
                                 v.seconds());
  } else {
    const v1::BrokenLink& b = v.broken();
    std::cout << absl::StrFormat(
        "%s: BROKEN at partition %d offset %d (event %s): %s; expected %s, found %s\n", what,
        b.partition(), b.offset(), b.event_id().empty() ? "?" : b.event_id(), b.reason(),
        Short(b.expected_hash()), b.found_hash().empty() ? "-" : Short(b.found_hash()));
  }
  if (v.ok()) return absl::OkStatus();
  return ReportedFailure(absl::StrFormat("broken link at partition %d offset %d (event %s)",
                                         v.broken().partition(), v.broken().offset(),
                                         v.broken().event_id()));
}

// Reads a ChainCheckResponse stream: progress to the bar (TTY only), the verdict at the end.
template <typename Reader>
absl::StatusOr<v1::ChainVerdict> ReadVerdict(Reader& reader, const std::string& label) {
  v1::ChainCheckResponse r;
  v1::ChainVerdict verdict;
  bool have = false;
  std::unique_ptr<ProgressBar> bar;
  while (reader->Read(&r)) {
    if (r.has_progress()) {
      if (!bar) bar = std::make_unique<ProgressBar>(label, r.progress().events_total(), "checked");
      bar->Update(r.progress().events_done(), r.progress().events_done());
    } else if (r.has_verdict()) {
      verdict = r.verdict();
      have = true;
    }
  }
  bar.reset();
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return FromGrpc(status);
  if (!have) return absl::UnavailableError("the server ended the stream without a verdict");
  return verdict;
}

struct WaitFlag {
  std::string wait = "30m";
};

void AddWait(CLI::App* sub, WaitFlag* flag) {
  sub->add_option("--wait", flag->wait, "How long the server may take (replaces --timeout)")
      ->capture_default_str();
}

// ---------------------------------------------------------------- verify, digest, prove

void AddVerify(CLI::App& audit, Session& session) {
  auto flags = std::make_shared<WaitFlag>();
  CLI::App* sub = audit.add_subcommand(
      "verify", "Verify the hash chain of every partition; name the first broken link");
  AddWait(sub, flags.get());
  sub->footer(absl::StrCat("\nExit 1 when a link is broken (partition, offset and event named).",
                           Examples({"perfctl audit verify", "perfctl audit verify -o json"})));
  sub->callback([&session, flags] {
    session.Select("audit verify", [&session, flags]() -> absl::Status {
      PERFCTL_ASSIGN_OR_RETURN(absl::Duration budget, ParseDuration("--wait", flags->wait));
      PERFCTL_ASSIGN_OR_RETURN(Connection * connection, session.connection());
      auto stub = v1::Audit::NewStub(connection->channel());
      auto context = connection->NewContext(budget);
      CancelOnInterrupt cancel(context.get());
      auto reader = stub->VerifyChain(context.get(), v1::VerifyChainRequest());
      PERFCTL_ASSIGN_OR_RETURN(v1::ChainVerdict verdict, ReadVerdict(reader, "verify"));
      return ReportVerdict(session, verdict, "chain");
    });
  });
}

void AddDigest(CLI::App& audit, Session& session) {
  auto save = std::make_shared<std::string>();
  CLI::App* sub = audit.add_subcommand(
      "digest", "Print (and save) the log's digest: every partition's end and chain hash");
  sub->add_option("--save", *save, "Write the digest to this file (JSON) for `audit prove`");
  sub->footer(Examples({"perfctl audit digest --save digest-2026-11-27.json",
                        "perfctl audit digest -o json"}));
  sub->callback([&session, save] {
    session.Select("audit digest", [&session, save]() -> absl::Status {
      PERFCTL_ASSIGN_OR_RETURN(v1::LogDigest digest,
                               (CallUnary<v1::Audit>(session, &v1::Audit::Stub::GetDigest,
                                                     v1::GetDigestRequest())));
      if (!save->empty()) {
        PERFCTL_ASSIGN_OR_RETURN(std::string json, ToJson(digest, JsonLayout::kPretty));
        std::ofstream out(*save, std::ios::trunc);
        out << json << '\n';
        out.close();
        if (!out) return UsageError(absl::StrCat("--save ", *save, ": cannot write"));
      }
      if (session.format() == OutputFormat::kJson) {
        PrintPretty(digest);
        return absl::OkStatus();
      }
      Table table({"PARTITION", "NEXT_OFFSET", "CHAIN_HASH"});
      table.AlignRight(0);
      table.AlignRight(1);
      uint64_t events = 0;
      for (const v1::DigestEntry& e : digest.entries()) {
        table.AddRow({absl::StrCat(e.partition()), absl::StrCat(e.next_offset()), HexOf(e.hash())});
        events += e.next_offset();
      }
      table.Print(std::cout);
      std::cout << "digest of " << WithThousands(events) << " events"
                << (digest.has_newest_recorded_at()
                        ? absl::StrCat(", newest recorded ",
                                       FormatTimestamp(digest.newest_recorded_at()))
                        : std::string())
                << (save->empty() ? "" : absl::StrCat("; saved to ", *save)) << '\n';
      return absl::OkStatus();
    });
  });
}

void AddProve(CLI::App& audit, Session& session) {
  auto file = std::make_shared<std::string>();
  auto flags = std::make_shared<WaitFlag>();
  CLI::App* sub = audit.add_subcommand(
      "prove", "Prove the log still extends a digest saved with `audit digest --save`");
  sub->add_option("FILE", *file, "The saved digest (JSON)")->required();
  AddWait(sub, flags.get());
  sub->footer(absl::StrCat(
      "\nThe chain from genesis must reproduce every saved hash at its offset and verify on to"
      "\nthe tip. Exit 1 naming the first partition and offset where it diverges.",
      Examples({"perfctl audit prove digest-2026-11-27.json"})));
  sub->callback([&session, file, flags] {
    session.Select(absl::StrCat("audit prove ", *file), [&session, file, flags]() -> absl::Status {
      PERFCTL_ASSIGN_OR_RETURN(absl::Duration budget, ParseDuration("--wait", flags->wait));
      std::ifstream in(*file);
      if (!in) return UsageError(absl::StrCat(*file, ": cannot read"));
      std::stringstream text;
      text << in.rdbuf();
      v1::ProveDigestRequest request;
      google::protobuf::util::JsonParseOptions options;
      options.ignore_unknown_fields = false;
      if (!google::protobuf::util::JsonStringToMessage(text.str(), request.mutable_digest(),
                                                       options)
               .ok()) {
        return UsageError(absl::StrCat(*file, ": not a digest saved by `perfctl audit digest`"));
      }
      PERFCTL_ASSIGN_OR_RETURN(Connection * connection, session.connection());
      auto stub = v1::Audit::NewStub(connection->channel());
      auto context = connection->NewContext(budget);
      CancelOnInterrupt cancel(context.get());
      auto reader = stub->ProveDigest(context.get(), request);
      PERFCTL_ASSIGN_OR_RETURN(v1::ChainVerdict verdict, ReadVerdict(reader, "prove"));
      return ReportVerdict(session, verdict, absl::StrCat("digest ", *file));
    });
  });
}

// ---------------------------------------------------------------- as-of

struct AsOfFlags {
  std::vector<std::string> positions;
  std::string time;
  std::string wait = "30m";
};

absl::Status BuildCut(const AsOfFlags& flags, v1::AsOfRequest* request) {
  if (flags.positions.empty() == flags.time.empty()) {
    return UsageError("as-of: give exactly one of --position and --time");
  }
  if (!flags.time.empty()) {
    PERFCTL_ASSIGN_OR_RETURN(*request->mutable_time(), ParseTimestamp("--time", flags.time));
    return absl::OkStatus();
  }
  for (const std::string& list : flags.positions) {
    for (absl::string_view piece : absl::StrSplit(list, ',', absl::SkipEmpty())) {
      const std::string spec(piece);
      const std::string field = absl::StrCat("--position '", spec, "'");
      const std::vector<std::string> parts = SplitColon(spec, 2);
      if (parts.size() != 2) return UsageError(absl::StrCat(field, ": expected PARTITION:OFFSET"));
      PERFCTL_ASSIGN_OR_RETURN(uint32_t partition, ParseUint32(field, parts[0]));
      PERFCTL_ASSIGN_OR_RETURN(int64_t offset, ParseInt64(field, parts[1]));
      if (offset < 0) return UsageError(absl::StrCat(field, ": negative offset"));
      v1::Position* p = request->mutable_positions()->add_ends();
      p->set_partition(partition);
      p->set_offset(static_cast<uint64_t>(offset));
    }
  }
  return absl::OkStatus();
}

absl::Status RunAsOf(Session& session, const AsOfFlags& flags, v1::AsOfRequest request) {
  PERFCTL_RETURN_IF_ERROR(BuildCut(flags, &request));
  PERFCTL_ASSIGN_OR_RETURN(absl::Duration budget, ParseDuration("--wait", flags.wait));
  PERFCTL_ASSIGN_OR_RETURN(Connection * connection, session.connection());
  auto stub = v1::Audit::NewStub(connection->channel());
  auto context = connection->NewContext(budget);
  CancelOnInterrupt cancel(context.get());
  auto reader = stub->AsOf(context.get(), request);
  v1::AsOfResponse r;
  v1::AsOfAnswer answer;
  bool have = false;
  std::unique_ptr<ProgressBar> bar;
  while (reader->Read(&r)) {
    if (r.has_progress()) {
      if (!bar) bar = std::make_unique<ProgressBar>("replay", r.progress().events_total(), "replayed");
      bar->Update(r.progress().events_done(), r.progress().events_done());
    } else if (r.has_answer()) {
      answer = r.answer();
      have = true;
    }
  }
  bar.reset();
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return FromGrpc(status);
  if (!have) return absl::UnavailableError("the server ended the stream without an answer");
  if (session.format() == OutputFormat::kJson) {
    PrintPretty(answer);
    return absl::OkStatus();
  }
  std::vector<std::string> cut;
  for (const v1::Position& p : answer.cut().ends()) cut.push_back(FormatPosition(p));
  std::cout << "as of " << absl::StrJoin(cut, ",") << " (" << WithThousands(answer.events_applied())
            << " events replayed; newest " << FormatTimestamp(answer.as_of()) << ")\n";
  if (answer.has_ranking()) {
    Table table({"RANK", "EMPLOYEE", "ORG_UNIT", "GRADE", "SCORE_MILLI", "PERCENTILE_BP"});
    for (size_t column : {0, 4, 5}) table.AlignRight(column);
    for (const v1::RankingEntry& e : answer.ranking().entries()) {
      table.AddRow({absl::StrCat(e.rank()), e.employee_id(), e.org_unit_id(), e.grade(),
                    absl::StrCat(e.score_milli()), absl::StrCat(e.percentile_bp())});
    }
    table.Print(std::cout);
  } else if (answer.has_distribution()) {
    Table table({"GRADE", "COUNT", "SHARE_BP", "RECOMMENDED_BP"});
    for (size_t column : {1, 2, 3}) table.AlignRight(column);
    for (const v1::GradeCount& g : answer.distribution().grades()) {
      table.AddRow({g.grade(), absl::StrCat(g.count()), absl::StrCat(g.share_bp()),
                    absl::StrCat(g.recommended_bp())});
    }
    table.Print(std::cout);
  } else if (answer.has_timeline()) {
    for (const v1::RecordedEvent& e : answer.timeline().events()) {
      std::cout << RecordedEventJson(e).dump() << '\n';
    }
  } else {
    // The other views print as JSON: their shapes are richer than one table.
    v1::AsOfAnswer result = answer;
    result.clear_cut();
    PrintPretty(result);
  }
  return absl::OkStatus();
}

// Adds one view under `audit as-of`; `fill` turns the view's flags into the request.
void AddAsOfView(CLI::App* asof, Session& session, std::shared_ptr<AsOfFlags> flags,
                 const std::string& name, const std::string& help,
                 const std::function<void(CLI::App*, std::shared_ptr<v1::AsOfRequest>)>& options,
                 const std::function<absl::Status(v1::AsOfRequest&)>& check) {
  auto request = std::make_shared<v1::AsOfRequest>();
  CLI::App* sub = asof->add_subcommand(name, help);
  options(sub, request);
  sub->callback([&session, flags, request, check, name] {
    session.Select(absl::StrCat("audit as-of ", name), [&session, flags, request, check]() {
      PERFCTL_RETURN_IF_ERROR(check(*request));
      return RunAsOf(session, *flags, *request);
    });
  });
}

void AddAsOf(CLI::App& audit, Session& session) {
  auto flags = std::make_shared<AsOfFlags>();
  CLI::App* asof = audit.add_subcommand(
      "as-of", "Answer a view as it stood at a past log position or time (replayed in scratch)");
  asof->require_subcommand(1);
  asof->add_option("--position", flags->positions,
                   "The log prefix: PARTITION:NEXT_OFFSET[,...] as `perfctl status` or "
                   "`projections status` print them; unlisted partitions contribute nothing");
  asof->add_option("--time", flags->time, "The log as it stood at this time (RFC 3339)");
  asof->add_option("--wait", flags->wait, "How long the replay may take")->capture_default_str();
  asof->footer(Examples({"perfctl audit as-of --time 2026-07-01T00:00:00Z ranking --cycle 2026H1",
                         "perfctl audit as-of --position 0:12,1:40,2:33 distribution --cycle "
                         "2026H1"}));
  auto ok = [](v1::AsOfRequest&) { return absl::OkStatus(); };
  AddAsOfView(asof, session, flags, "ranking", "Ranking of a cycle",
              [](CLI::App* s, std::shared_ptr<v1::AsOfRequest> r) {
                s->add_option("--cycle", *r->mutable_ranking()->mutable_cycle_id(), "Cycle id")
                    ->required();
                s->add_option("--org-unit", *r->mutable_ranking()->mutable_org_unit_id(),
                              "Only this unit's members");
                s->add_option("--page-size", [r](const std::vector<std::string>& v) {
                  r->mutable_ranking()->set_page_size(static_cast<uint32_t>(std::stoul(v[0])));
                  return true;
                }, "Entries (server default otherwise)");
              },
              ok);
  AddAsOfView(asof, session, flags, "distribution", "Grade distribution of a cycle",
              [](CLI::App* s, std::shared_ptr<v1::AsOfRequest> r) {
                s->add_option("--cycle", *r->mutable_distribution()->mutable_cycle_id(),
                              "Cycle id")
                    ->required();
                s->add_option("--org-unit", *r->mutable_distribution()->mutable_org_unit_id(),
                              "Only this unit");
              },
              ok);
  AddAsOfView(asof, session, flags, "timeline", "One person's events",
              [](CLI::App* s, std::shared_ptr<v1::AsOfRequest> r) {
                s->add_option("EMPLOYEE", *r->mutable_timeline()->mutable_employee_id(),
                              "Employee id")
                    ->required();
              },
              ok);
  AddAsOfView(asof, session, flags, "checkins", "Check-ins of an employee or a manager",
              [](CLI::App* s, std::shared_ptr<v1::AsOfRequest> r) {
                s->add_option("--employee", *r->mutable_check_ins()->mutable_employee_id(),
                              "Employee id");
                s->add_option("--manager", *r->mutable_check_ins()->mutable_manager_id(),
                              "Manager id");
              },
              [](v1::AsOfRequest& r) { r.mutable_check_ins(); return absl::OkStatus(); });
  AddAsOfView(asof, session, flags, "goals", "The goal tree of a cycle",
              [](CLI::App* s, std::shared_ptr<v1::AsOfRequest> r) {
                s->add_option("--cycle", *r->mutable_goal_tree()->mutable_cycle_id(), "Cycle id");
                s->add_option("--goal", *r->mutable_goal_tree()->mutable_goal_id(),
                              "Subtree of this goal");
              },
              [](v1::AsOfRequest& r) { r.mutable_goal_tree(); return absl::OkStatus(); });
  AddAsOfView(asof, session, flags, "payroll", "Payroll items",
              [](CLI::App* s, std::shared_ptr<v1::AsOfRequest> r) {
                s->add_option("--cycle", *r->mutable_payroll_items()->mutable_cycle_id(),
                              "Cycle id");
                s->add_option("--employee", *r->mutable_payroll_items()->mutable_employee_id(),
                              "Employee id");
              },
              [](v1::AsOfRequest& r) { r.mutable_payroll_items(); return absl::OkStatus(); });
  AddAsOfView(asof, session, flags, "training", "Training recommendations and completions",
              [](CLI::App* s, std::shared_ptr<v1::AsOfRequest> r) {
                s->add_option("--employee", *r->mutable_training()->mutable_employee_id(),
                              "Employee id");
                s->add_option("--course", *r->mutable_training()->mutable_course_id(),
                              "Course id");
              },
              [](v1::AsOfRequest& r) { r.mutable_training(); return absl::OkStatus(); });
  AddAsOfView(asof, session, flags, "pips", "Performance improvement plans",
              [](CLI::App* s, std::shared_ptr<v1::AsOfRequest> r) {
                s->add_option("--employee", *r->mutable_pips()->mutable_employee_id(),
                              "Employee id");
              },
              [](v1::AsOfRequest& r) { r.mutable_pips(); return absl::OkStatus(); });
}

// ---------------------------------------------------------------- export

struct ExportFlags {
  std::string employee_id;
  std::string cycle_id;
  std::string output_file;
  std::string wait = "30m";
};

void AddExport(CLI::App& audit, Session& session) {
  auto flags = std::make_shared<ExportFlags>();
  CLI::App* sub = audit.add_subcommand(
      "export", "Export one person's or one cycle's events as JSON lines (position and hash)");
  auto* employee = sub->add_option("--employee", flags->employee_id, "Employee id");
  auto* cycle = sub->add_option("--cycle", flags->cycle_id, "Cycle id");
  employee->excludes(cycle);
  cycle->excludes(employee);
  sub->add_option("--output-file", flags->output_file, "Write here instead of stdout");
  sub->add_option("--wait", flags->wait, "How long the export may take")->capture_default_str();
  sub->footer(absl::StrCat(
      "\nOne event per line: {\"envelope\": {..., \"position\", \"hash\" (hex)}, \"event\": ...}."
      "\nAn employee's events come in log order; a cycle's in partition, then offset order.",
      Examples({"perfctl audit export --employee W11",
                "perfctl audit export --cycle 2026H1 --output-file 2026H1.jsonl"})));
  sub->callback([&session, flags] {
    session.Select("audit export", [&session, flags]() -> absl::Status {
      v1::ExportRequest request;
      if (!flags->employee_id.empty()) {
        PERFCTL_RETURN_IF_ERROR(ValidateId("--employee", flags->employee_id));
        request.set_employee_id(flags->employee_id);
      } else if (!flags->cycle_id.empty()) {
        PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", flags->cycle_id));
        request.set_cycle_id(flags->cycle_id);
      } else {
        return UsageError("audit export: give --employee or --cycle");
      }
      PERFCTL_ASSIGN_OR_RETURN(absl::Duration budget, ParseDuration("--wait", flags->wait));
      std::ofstream file;
      if (!flags->output_file.empty()) {
        file.open(flags->output_file, std::ios::trunc);
        if (!file) return UsageError(absl::StrCat("--output-file ", flags->output_file,
                                                  ": cannot write"));
      }
      std::ostream& out = flags->output_file.empty() ? std::cout : file;
      PERFCTL_ASSIGN_OR_RETURN(Connection * connection, session.connection());
      auto stub = v1::Audit::NewStub(connection->channel());
      auto context = connection->NewContext(budget);
      CancelOnInterrupt cancel(context.get());
      auto reader = stub->Export(context.get(), request);
      v1::RecordedEvent event;
      uint64_t count = 0;
      while (reader->Read(&event)) {
        out << RecordedEventJson(event).dump() << '\n';
        count++;
      }
      const grpc::Status status = reader->Finish();
      if (!status.ok()) return FromGrpc(status);
      if (!flags->output_file.empty()) {
        file.close();
        if (!file) return UsageError(absl::StrCat("--output-file ", flags->output_file,
                                                  ": write failed"));
        std::cout << "exported " << WithThousands(count) << " events to " << flags->output_file
                  << '\n';
      }
      return absl::OkStatus();
    });
  });
}

// ---------------------------------------------------------------- explain

// An observation set's one-line summary: what it counts and where its listing continues.
std::string ObservationSummary(const v1::ObservationSet& o) {
  std::string line = absl::StrFormat("%s of %s in %s: %s observations through %s", o.metric(),
                                     o.employee_id(), o.cycle_id(), WithThousands(o.count()),
                                     FormatPosition(o.through()));
  if (!o.next_page_token().empty()) {
    absl::StrAppend(&line, "; all of them: perfctl audit observations ", o.employee_id(), " ",
                    o.cycle_id(), " ", o.metric(), " --through ",
                    absl::StrCat(o.through().partition(), ":", o.through().offset()));
  }
  return line;
}

void AddExplain(CLI::App& app, Session& session) {
  auto id = std::make_shared<std::string>();
  auto grade = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand(
      "explain",
      "Explain an action or a grade: action ← grade ← scores/metrics (every observation) ← "
      "superseded grades and their cancelled actions ← policy version and rule");
  sub->add_option("ID", *id,
                  "Action id (as payroll list or events read show it), or with --grade the "
                  "GradeFinalized event id")
      ->required();
  sub->add_flag("--grade", *grade, "ID is a grade's event id");
  sub->footer(Examples({"perfctl explain 3f9c0e1d2b4a59687766554433221100",
                        "perfctl explain --grade 8e0c1b2a39485766554433221100ffee -o json"}));
  sub->callback([&session, id, grade] {
    session.Select(absl::StrCat("explain ", *id), [&session, id, grade]() -> absl::Status {
      v1::ExplainRequest request;
      if (*grade) {
        request.set_grade_event_id(*id);
      } else {
        request.set_action_id(*id);
      }
      PERFCTL_ASSIGN_OR_RETURN(v1::ExplainResponse response,
                               (CallUnary<v1::Audit>(session, &v1::Audit::Stub::Explain, request)));
      if (session.format() == OutputFormat::kJson) {
        nlohmann::json json;
        json["action_id"] = response.action_id();
        json["steps"] = nlohmann::json::array();
        for (const v1::ExplainStep& s : response.steps()) {
          nlohmann::json step;
          step["role"] = s.role();
          if (!s.explains_event_id().empty()) step["explains_event_id"] = s.explains_event_id();
          if (!s.rule().empty()) step["rule"] = s.rule();
          step["event"] = RecordedEventJson(s.event());
          if (s.has_observations()) step["observations"] = ToJsonValue(s.observations());
          json["steps"].push_back(std::move(step));
        }
        json["missing_event_ids"] = nlohmann::json::array();
        for (const std::string& missing : response.missing_event_ids()) {
          json["missing_event_ids"].push_back(missing);
        }
        std::cout << json.dump(2) << '\n';
        return absl::OkStatus();
      }
      Table table({"ROLE", "TYPE", "EVENT_ID", "POSITION", "OCCURRED_AT", "EXPLAINS", "RULE"});
      for (const v1::ExplainStep& s : response.steps()) {
        table.AddRow({s.role(), s.event().envelope().type(), s.event().envelope().event_id(),
                      FormatPosition(s.event().envelope().position()),
                      FormatTimestamp(s.event().envelope().occurred_at()),
                      s.explains_event_id(), s.rule()});
      }
      table.Print(std::cout);
      std::cout << '\n';
      // The content of every step, one JSON object per line, in the table's order.
      for (const v1::ExplainStep& s : response.steps()) {
        nlohmann::json content = RecordedEventJson(s.event());
        std::cout << s.role() << ' ' << content["event"].dump() << '\n';
        if (s.has_observations()) {
          std::cout << "  observations: " << ObservationSummary(s.observations()) << '\n';
        }
      }
      if (response.missing_event_ids_size() > 0) {
        std::cout << "missing from the log: " << absl::StrJoin(response.missing_event_ids(), ", ")
                  << '\n';
        return ReportedFailure("the explanation names events the log does not hold");
      }
      return absl::OkStatus();
    });
  });
}

void AddObservations(CLI::App& audit, Session& session) {
  auto q = std::make_shared<v1::ListObservationsRequest>();
  auto through = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  CLI::App* sub = audit.add_subcommand(
      "observations", "List the observations of an employee's metric in a cycle (what a metric "
                      "grade counted), in log order");
  sub->add_option("EMPLOYEE_ID", *q->mutable_employee_id(), "Employee")->required();
  sub->add_option("CYCLE_ID", *q->mutable_cycle_id(), "Cycle")->required();
  sub->add_option("METRIC", *q->mutable_metric(), "Metric, e.g. defect_rate")->required();
  sub->add_option("--through", *through,
                  "Only up to this position PARTITION:OFFSET (a grade input's `through`)");
  sub->add_flag("--all", *all, "Follow every page");
  sub->footer(Examples({"perfctl audit observations w-17 2026-H1 defect_rate --through 3:1200 --all"}));
  sub->callback([&session, q, through, all] {
    session.Select("audit observations", [&session, q, through, all]() -> absl::Status {
      v1::ListObservationsRequest request = *q;
      if (!through->empty()) {
        std::vector<std::string> parts = absl::StrSplit(*through, ':');
        uint32_t partition = 0;
        uint64_t offset = 0;
        if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &partition) ||
            !absl::SimpleAtoi(parts[1], &offset)) {
          return absl::InvalidArgumentError("--through: give PARTITION:OFFSET, e.g. 3:1200");
        }
        request.mutable_through()->set_partition(partition);
        request.mutable_through()->set_offset(offset);
      }
      Table table({"POSITION", "EVENT_ID", "VALUE_MILLI", "DENOMINATOR", "OCCURRED_AT"});
      uint64_t count = 0;
      __int128 sum = 0;
      while (true) {
        PERFCTL_ASSIGN_OR_RETURN(
            v1::ListObservationsResponse page,
            (CallUnary<v1::Audit>(session, &v1::Audit::Stub::ListObservations, request)));
        for (const v1::ObservationRef& o : page.observations()) {
          count++;
          sum += o.value_milli();
          if (session.format() == OutputFormat::kJson) {
            absl::StatusOr<std::string> line = ToJson(o, JsonLayout::kLine);
            if (line.ok()) std::cout << *line << '\n';
          } else {
            table.AddRow({FormatPosition(o.position()), o.event_id(),
                          std::to_string(o.value_milli()),
                          o.denominator() == 0 ? "" : std::to_string(o.denominator()),
                          FormatTimestamp(o.occurred_at())});
          }
        }
        if (page.next_page_token().empty() || !*all) {
          if (session.format() != OutputFormat::kJson) {
            table.Print(std::cout);
            std::cout << absl::StrFormat("%s observations, sum %d milli", WithThousands(count),
                                         static_cast<int64_t>(sum));
            if (!page.next_page_token().empty()) std::cout << "; more: --all";
            std::cout << '\n';
          }
          return absl::OkStatus();
        }
        request.set_page_token(page.next_page_token());
      }
    });
  });
}

}  // namespace

void AddAuditCommands(CLI::App& app, Session& session) {
  // `audit` was created by AddPolicyCommands (dry-run); add the rest to it.
  CLI::App* audit = app.get_subcommand("audit");
  AddVerify(*audit, session);
  AddDigest(*audit, session);
  AddProve(*audit, session);
  AddAsOf(*audit, session);
  AddExport(*audit, session);
  AddObservations(*audit, session);
  AddExplain(app, session);
}

}  // namespace perfctl
