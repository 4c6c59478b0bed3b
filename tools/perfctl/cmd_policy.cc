// policy apply|show|list|diff, grade compute, deadlines fire, audit dry-run: the Policies
// service (proto/perfledger/v1/policies.proto, docs/POLICY.md).

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "perfledger/v1/policies.grpc.pb.h"
#include "tools/perfctl/commands.h"
#include "tools/perfctl/line_diff.h"
#include "tools/perfctl/parse.h"
#include "tools/perfctl/stream_reader.h"

namespace perfctl {
namespace {

namespace v1 = perfledger::v1;

// The server refuses larger documents (ledger/limits.h: 48 KiB); reading stops well above that
// so that a wrong file (a log, a binary) is refused locally with a clear message.
constexpr size_t kPolicyFileBytesMax = 1 << 20;
constexpr size_t kShaPrefixChars = 16;

absl::StatusOr<std::string> ReadDocument(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return UsageError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  std::string text;
  std::vector<char> buffer(64 * 1024);
  while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
    text.append(buffer.data(), static_cast<size_t>(in.gcount()));
    if (text.size() > kPolicyFileBytesMax) {
      return UsageError(absl::StrCat(path, ": larger than ", kPolicyFileBytesMax,
                                     " bytes; not a policy document"));
    }
  }
  if (in.bad()) return UsageError(absl::StrCat(path, ": read error"));
  if (text.empty()) return UsageError(absl::StrCat(path, ": empty file"));
  return text;
}

// "yaml" / "json" from the extension; empty lets the server detect it.
std::string FormatOf(const std::string& path) {
  const std::string lower = absl::AsciiStrToLower(path);
  if (absl::EndsWith(lower, ".yaml") || absl::EndsWith(lower, ".yml")) return "yaml";
  if (absl::EndsWith(lower, ".json")) return "json";
  return "";
}

// The canonical JSON (compact, keys sorted) pretty-printed; nlohmann's objects keep keys sorted,
// so the text is stable and two versions diff line by line.
std::string PrettyDocument(const std::string& document_json) {
  nlohmann::json doc = nlohmann::json::parse(document_json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return document_json;  // not JSON: show it as stored
  return doc.dump(2);
}

absl::StatusOr<v1::PolicyInfo> FetchPolicy(Session& session, uint64_t version) {
  v1::GetPolicyRequest request;
  request.set_version(version);
  return CallUnary<v1::Policies>(session, &v1::Policies::Stub::GetPolicy, request);
}

// ---------------------------------------------------------------- policy apply

struct ApplyFlags {
  std::string file;
  std::string comment;
  std::string format;
  MetaFlags meta;
};

absl::Status RunApply(Session& session, const ApplyFlags& flags) {
  PERFCTL_ASSIGN_OR_RETURN(std::string document, ReadDocument(flags.file));
  v1::PublishPolicyRequest request;
  request.set_document(std::move(document));
  request.set_format(flags.format.empty() ? FormatOf(flags.file) : flags.format);
  request.set_comment(flags.comment);
  PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags.meta));
  PERFCTL_ASSIGN_OR_RETURN(
      v1::CommandResult result,
      (CallUnary<v1::Policies>(session, &v1::Policies::Stub::PublishPolicy, request)));

  // The answer names the event only; the version and hash it was given are in the event itself
  // (the log is read-after-write, the policy views may still lag).
  const v1::PolicyPublished* published = nullptr;
  std::vector<v1::RecordedEvent> events;
  if (result.events_size() > 0) {
    absl::StatusOr<std::vector<v1::RecordedEvent>> read =
        ReadStream(session, result.events(0).stream(), 100'000);
    if (read.ok()) events = std::move(*read);
    for (const v1::RecordedEvent& e : events) {
      if (e.envelope().event_id() == result.events(0).event_id() &&
          e.event().has_policy_published()) {
        published = &e.event().policy_published();
      }
    }
  }
  if (session.format() == OutputFormat::kJson) {
    nlohmann::json json = ToJsonValue(result);
    json["file"] = flags.file;
    if (published != nullptr) {
      json["policy_id"] = published->policy_id();
      json["version"] = published->version();
      json["document_sha256"] = published->document_sha256();
    }
    std::cout << json.dump(2) << '\n';
    return absl::OkStatus();
  }
  if (published != nullptr) {
    std::cout << (result.deduplicated() ? "already published: policy " : "published policy ")
              << published->policy_id() << " version " << published->version() << " (sha256 "
              << published->document_sha256().substr(0, kShaPrefixChars) << ")\n";
  }
  PrintCommandResult(result, session.format(), std::cout);
  return absl::OkStatus();
}

void AddApply(CLI::App& policy, Session& session) {
  auto flags = std::make_shared<ApplyFlags>();
  CLI::App* sub = policy.add_subcommand(
      "apply", "Publish a policy document (YAML or JSON) as the next policy version");
  sub->add_option("FILE", flags->file, "Policy document, schema in docs/POLICY.md")->required();
  sub->add_option("--comment", flags->comment, "Why this version (kept with the policy)");
  sub->add_option("--format", flags->format, "yaml or json (default: by extension, else detect)")
      ->check(CLI::IsMember({"yaml", "json"}));
  AddMetaFlags(sub, &flags->meta);
  sub->footer(absl::StrCat(
      "\nThe server validates the whole document; an invalid one is refused with the field path"
      "\nand YAML line at fault (exit 1). Publishing the same document again with the same"
      "\n--idempotency-key is harmless; without one, it publishes a new version.",
      Examples({"perfctl policy apply deploy/examples/manufacturing/policy.yaml "
                "--comment 'reference policy'",
                "perfctl policy apply policy.json --idempotency-key policy-2026-07"})));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("apply policy ", flags->file),
                   [&session, flags] { return RunApply(session, *flags); });
  });
}

// ---------------------------------------------------------------- policy show | list | diff

void AddShow(CLI::App& policy, Session& session) {
  auto version = std::make_shared<uint64_t>(0);
  CLI::App* sub = policy.add_subcommand("show", "Print a policy version's canonical JSON");
  sub->add_option("--version", *version, "Policy version (default: the one in force)");
  sub->footer(Examples({"perfctl policy show", "perfctl policy show --version 1 -o json"}));
  sub->callback([&session, version] {
    session.Select("show policy", [&session, version]() -> absl::Status {
      PERFCTL_ASSIGN_OR_RETURN(v1::PolicyInfo info, FetchPolicy(session, *version));
      if (session.format() == OutputFormat::kJson) {
        nlohmann::json json = ToJsonValue(info);
        nlohmann::json doc = nlohmann::json::parse(info.document_json(), nullptr, false);
        if (!doc.is_discarded()) json["document"] = std::move(doc);
        std::cout << json.dump(2) << '\n';
        return absl::OkStatus();
      }
      Fields fields = {{"policy", info.policy_id()},
                       {"version", absl::StrCat(info.version())},
                       {"sha256", info.document_sha256()},
                       {"published at", FormatTimestamp(info.published_at())},
                       {"event", info.event_id()}};
      if (!info.comment().empty()) fields.emplace_back("comment", info.comment());
      PrintFields(std::cout, fields);
      std::cout << '\n' << PrettyDocument(info.document_json()) << '\n';
      return absl::OkStatus();
    });
  });
}

void AddList(CLI::App& policy, Session& session) {
  CLI::App* sub = policy.add_subcommand("list", "List every published policy version");
  sub->footer(Examples({"perfctl policy list"}));
  sub->callback([&session] {
    session.Select("list policies", [&session]() -> absl::Status {
      PERFCTL_ASSIGN_OR_RETURN(v1::ListPoliciesResponse response,
                               (CallUnary<v1::Policies>(session, &v1::Policies::Stub::ListPolicies,
                                                        v1::ListPoliciesRequest())));
      if (session.format() == OutputFormat::kJson) {
        PERFCTL_ASSIGN_OR_RETURN(std::string json, ToJson(response, JsonLayout::kPretty));
        std::cout << json << '\n';
        return absl::OkStatus();
      }
      if (response.policies_size() == 0) {
        std::cout << "no policy published\n";
        return absl::OkStatus();
      }
      Table table({"VERSION", "POLICY", "SHA256", "PUBLISHED_AT", "EVENT_ID", "COMMENT"});
      table.AlignRight(0);
      for (const v1::PolicyInfo& p : response.policies()) {
        table.AddRow({absl::StrCat(p.version()), p.policy_id(),
                      p.document_sha256().substr(0, kShaPrefixChars),
                      FormatTimestamp(p.published_at()), p.event_id(), p.comment()});
      }
      table.Print(std::cout);
      return absl::OkStatus();
    });
  });
}

struct DiffFlags {
  uint64_t from = 0;
  uint64_t to = 0;
  size_t context = 3;
};

void AddDiff(CLI::App& policy, Session& session) {
  auto flags = std::make_shared<DiffFlags>();
  CLI::App* sub = policy.add_subcommand(
      "diff", "Line diff of two policy versions (canonical JSON, keys sorted, pretty-printed)");
  sub->add_option("V1", flags->from, "Old version")->required()->check(CLI::PositiveNumber);
  sub->add_option("V2", flags->to, "New version")->required()->check(CLI::PositiveNumber);
  sub->add_option("-U,--context", flags->context, "Unchanged lines around each change")
      ->capture_default_str();
  sub->footer(Examples({"perfctl policy diff 1 2", "perfctl policy diff 1 3 -U 10"}));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("diff policy versions ", flags->from, " and ", flags->to),
                   [&session, flags]() -> absl::Status {
      PERFCTL_ASSIGN_OR_RETURN(v1::PolicyInfo from, FetchPolicy(session, flags->from));
      PERFCTL_ASSIGN_OR_RETURN(v1::PolicyInfo to, FetchPolicy(session, flags->to));
      const std::vector<DiffLine> diff = DiffLines(SplitLines(PrettyDocument(from.document_json())),
                                                   SplitLines(PrettyDocument(to.document_json())));
      const std::string from_label =
          absl::StrCat("version ", from.version(), " (", from.policy_id(), ", sha256 ",
                       from.document_sha256().substr(0, kShaPrefixChars), ")");
      const std::string to_label =
          absl::StrCat("version ", to.version(), " (", to.policy_id(), ", sha256 ",
                       to.document_sha256().substr(0, kShaPrefixChars), ")");
      const std::string text = UnifiedDiff(diff, from_label, to_label, flags->context);
      if (session.format() == OutputFormat::kJson) {
        size_t added = 0;
        size_t removed = 0;
        for (const DiffLine& line : diff) {
          added += line.op == '+' ? 1 : 0;
          removed += line.op == '-' ? 1 : 0;
        }
        nlohmann::json json = {{"from_version", from.version()},
                               {"to_version", to.version()},
                               {"from_sha256", from.document_sha256()},
                               {"to_sha256", to.document_sha256()},
                               {"identical", text.empty()},
                               {"lines_added", added},
                               {"lines_removed", removed},
                               {"diff", SplitLines(text)}};
        std::cout << json.dump(2) << '\n';
        return absl::OkStatus();
      }
      if (text.empty()) {
        std::cout << "versions " << from.version() << " and " << to.version()
                  << " are identical (sha256 " << from.document_sha256() << ")\n";
      } else {
        std::cout << text;
      }
      return absl::OkStatus();
    });
  });
}

// ---------------------------------------------------------------- grade compute

struct ComputeFlags {
  std::string cycle_id;
  std::vector<std::string> employees;
  bool dry_run = false;
  std::string at;
  std::string correlation_id;
};

absl::Status RunCompute(Session& session, const ComputeFlags& flags) {
  v1::ComputeGradesRequest request;
  PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", flags.cycle_id));
  request.set_cycle_id(flags.cycle_id);
  for (const std::string& employee : flags.employees) {
    PERFCTL_RETURN_IF_ERROR(ValidateId("--employee", employee));
    request.add_employee_ids(employee);
  }
  request.set_dry_run(flags.dry_run);
  if (!flags.at.empty()) {
    PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta()->mutable_occurred_at(),
                             ParseTimestamp("--at", flags.at));
  }
  request.mutable_meta()->set_correlation_id(flags.correlation_id);
  PERFCTL_ASSIGN_OR_RETURN(
      v1::ComputeGradesResponse response,
      (CallUnary<v1::Policies>(session, &v1::Policies::Stub::ComputeGrades, request)));
  std::vector<std::string> skipped;
  for (const v1::ComputedGrade& g : response.grades()) {
    if (g.outcome() == v1::GRADE_OUTCOME_SKIPPED) {
      skipped.push_back(absl::StrCat(g.employee_id(), " (", g.skipped_reason(), ")"));
    }
  }
  if (session.format() == OutputFormat::kJson) {
    PERFCTL_ASSIGN_OR_RETURN(std::string json, ToJson(response, JsonLayout::kPretty));
    std::cout << json << '\n';
  } else {
    size_t counts[5] = {};
    Table table({"EMPLOYEE", "GRADE", "SCORE_MILLI", "OUTCOME", "EVENT_ID / REASON"});
    table.AlignRight(2);
    for (const v1::ComputedGrade& g : response.grades()) {
      const v1::GradeOutcome o = g.outcome();
      counts[static_cast<size_t>(o) < 5 ? static_cast<size_t>(o) : 0]++;
      const bool graded = o != v1::GRADE_OUTCOME_SKIPPED;
      std::string outcome = EnumWord(v1::GradeOutcome_Name(o), "GRADE_OUTCOME_");
      if (flags.dry_run && (o == v1::GRADE_OUTCOME_FINALIZED || o == v1::GRADE_OUTCOME_REGRADED)) {
        outcome = absl::StrCat("would be ", outcome);
      }
      std::string note = graded ? g.event_id() : g.skipped_reason();
      if (o == v1::GRADE_OUTCOME_REGRADED) {
        note = absl::StrCat(note.empty() ? "" : note + " ", "supersedes ", g.supersedes_event_id());
      }
      table.AddRow({g.employee_id(), graded ? g.grade() : "-",
                    graded ? absl::StrCat(g.score_milli()) : "-", outcome, note});
    }
    if (!table.empty()) table.Print(std::cout);
    std::cout << response.grades_size() << " employees with policy version "
              << response.policy_version() << (flags.dry_run ? " (dry run: nothing appended)" : "")
              << ": " << counts[v1::GRADE_OUTCOME_FINALIZED] << " finalized, "
              << counts[v1::GRADE_OUTCOME_REGRADED] << " regraded, "
              << counts[v1::GRADE_OUTCOME_UNCHANGED] << " unchanged, "
              << counts[v1::GRADE_OUTCOME_SKIPPED] << " skipped\n";
  }
  if (!skipped.empty()) {
    return ReportedFailure(absl::StrCat("not graded: ", absl::StrJoin(skipped, ", ")));
  }
  return absl::OkStatus();
}

void AddCompute(CLI::App& app, Session& session) {
  // `grade finalize` (cmd_reviews.cc) created the group; compute joins it.
  CLI::App* grade = nullptr;
  try {
    grade = app.get_subcommand("grade");
  } catch (const CLI::OptionNotFound&) {
    grade = app.add_subcommand("grade", "Finalize grades");
    grade->require_subcommand(1);
  }
  grade->description("Compute or finalize grades");
  auto flags = std::make_shared<ComputeFlags>();
  CLI::App* sub = grade->add_subcommand(
      "compute", "Compute grades with the policy in force and finalize them (Policies.ComputeGrades)");
  sub->add_option("--cycle", flags->cycle_id, "Cycle id")->required();
  sub->add_option("--employee", flags->employees,
                  "Only this employee (repeatable; default: everyone with inputs in the cycle)");
  sub->add_flag("--dry-run", flags->dry_run, "Show what would be finalized; append nothing");
  sub->add_option("--at", flags->at, "Business time of the grades, RFC 3339 (default: now)");
  sub->add_option("--correlation-id", flags->correlation_id, "Conversation id carried on the events");
  sub->footer(absl::StrCat(
      "\nA grade follows its inputs: an employee whose current grade already follows from them"
      "\nis unchanged; after an amended score, a calibration, a late observation or a new policy"
      "\nversion the new grade supersedes the old one (its actions are cancelled, the new"
      "\ngrade's issued). Exits non-zero naming anyone who could not be graded.",
      Examples({"perfctl grade compute --cycle 2026H1 --at 2026-06-30T12:00:00Z",
                "perfctl grade compute --cycle 2026H1 --employee W11 --employee W12 --dry-run"})));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("compute grades of ", flags->cycle_id),
                   [&session, flags] { return RunCompute(session, *flags); });
  });
}

// ---------------------------------------------------------------- deadlines fire

void AddDeadlines(CLI::App& app, Session& session) {
  CLI::App* deadlines = app.add_subcommand("deadlines", "Scheduled deadlines (PIPs, follow-ups)");
  deadlines->require_subcommand(1);
  auto now = std::make_shared<std::string>();
  CLI::App* sub = deadlines->add_subcommand(
      "fire", "Append DeadlineReached for every deadline due at --now (Policies.FireDeadlines)");
  sub->add_option("--now", *now,
                  "Fire what is due at this time, RFC 3339 (default: the server's clock); a "
                  "future time simulates the passage of time");
  sub->footer(absl::StrCat(
      "\nThe fired events carry their deadline as business time, so firing early or twice"
      "\ndoes not change what the reactor decides.",
      Examples({"perfctl deadlines fire", "perfctl deadlines fire --now 2026-10-01T00:00:00Z"})));
  sub->callback([&session, now] {
    session.Select("fire deadlines", [&session, now]() -> absl::Status {
      v1::FireDeadlinesRequest request;
      if (!now->empty()) {
        PERFCTL_ASSIGN_OR_RETURN(*request.mutable_now(), ParseTimestamp("--now", *now));
      }
      PERFCTL_ASSIGN_OR_RETURN(
          v1::FireDeadlinesResponse response,
          (CallUnary<v1::Policies>(session, &v1::Policies::Stub::FireDeadlines, request)));
      if (session.format() == OutputFormat::kJson) {
        PERFCTL_ASSIGN_OR_RETURN(std::string json, ToJson(response, JsonLayout::kPretty));
        std::cout << json << '\n';
        return absl::OkStatus();
      }
      if (response.fired_size() > 0) {
        Table table({"FIRED"});
        for (const std::string& subject : response.fired()) table.AddRow({subject});
        table.Print(std::cout);
      }
      std::cout << response.fired_size() << " deadlines fired\n";
      return absl::OkStatus();
    });
  });
}

// ---------------------------------------------------------------- audit dry-run

std::string DescribeAction(const v1::ActionTriggered& a) {
  std::vector<std::string> parts;
  parts.push_back(absl::StrCat(v1::ActionKind_Name(a.kind()), " ", a.employee_id()));
  if (a.has_amount() && a.amount().amount_minor() != 0) {
    parts.push_back(absl::StrCat(a.amount().amount_minor(), " ", a.amount().currency()));
  }
  if (!a.course_id().empty()) parts.push_back(absl::StrCat("course ", a.course_id()));
  parts.push_back(absl::StrCat("v", a.policy_version()));
  return absl::StrJoin(parts, " ");
}

void AddAudit(CLI::App& app, Session& session) {
  CLI::App* audit = app.add_subcommand("audit", "Audit the policy reactor against the log");
  audit->require_subcommand(1);
  auto wait = std::make_shared<std::string>("10m");
  CLI::App* sub = audit->add_subcommand(
      "dry-run", "Re-derive every action from the log and compare with the recorded ones");
  sub->add_option("--wait", *wait, "How long the replay may take (replaces --timeout)")
      ->capture_default_str();
  sub->footer(absl::StrCat("\nExit 1 if any action differs (missing, unexpected or different).",
                           Examples({"perfctl audit dry-run", "perfctl audit dry-run -o json"})));
  sub->callback([&session, wait] {
    session.Select("audit dry-run", [&session, wait]() -> absl::Status {
      PERFCTL_ASSIGN_OR_RETURN(absl::Duration budget, ParseDuration("--wait", *wait));
      PERFCTL_ASSIGN_OR_RETURN(Connection * connection, session.connection());
      auto stub = v1::Policies::NewStub(connection->channel());
      auto context = connection->NewContext(budget);
      v1::DryRunResponse response;
      PERFCTL_RETURN_IF_ERROR(
          FromGrpc(stub->DryRun(context.get(), v1::DryRunRequest(), &response)));
      if (session.format() == OutputFormat::kJson) {
        PERFCTL_ASSIGN_OR_RETURN(std::string json, ToJson(response, JsonLayout::kPretty));
        std::cout << json << '\n';
      } else {
        PrintFields(std::cout, {{"events replayed", WithThousands(response.events_replayed())},
                                {"actions derived", WithThousands(response.actions_derived())},
                                {"actions recorded", WithThousands(response.actions_recorded())},
                                {"differences", WithThousands(response.differences_size())}});
        if (response.differences_size() > 0) {
          std::cout << '\n';
          Table table({"ACTION_ID", "DIFFERENCE", "RULE", "DERIVED", "RECORDED"});
          for (const v1::ActionDifference& d : response.differences()) {
            const std::string rule =
                d.has_derived() ? d.derived().rule_id() : d.recorded().rule_id();
            table.AddRow({d.action_id(), d.kind(), rule,
                           d.has_derived() ? DescribeAction(d.derived()) : "-",
                           d.has_recorded() ? DescribeAction(d.recorded()) : "-"});
          }
          table.Print(std::cout);
        }
      }
      if (response.differences_size() > 0) {
        return ReportedFailure(absl::StrCat(response.differences_size(),
                                            " actions differ between the log and the policy"));
      }
      return absl::OkStatus();
    });
  });
}

}  // namespace

void AddPolicyCommands(CLI::App& app, Session& session) {
  CLI::App* policy = app.add_subcommand("policy", "Publish, show, list and diff policy versions");
  policy->require_subcommand(1);
  AddApply(*policy, session);
  AddShow(*policy, session);
  AddList(*policy, session);
  AddDiff(*policy, session);
  AddCompute(app, session);
  AddDeadlines(app, session);
  AddAudit(app, session);
}

}  // namespace perfctl
