// Queries over the projected views (proto/perfledger/v1/views.proto): ranking, distribution,
// timeline, checkins, goals tree, the payroll/training/PIP hooks (payroll list, training
// list|summary, pips list), and the projector itself (projections status|rebuild).
//
// Every query takes --min-position P:OFF (repeatable): the positions a write command printed.
// The server then answers only once its views have applied them (read-your-writes).

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "tools/perfctl/commands.h"
#include "tools/perfctl/parse.h"
#include "tools/perfctl/stream_reader.h"

namespace perfctl {
namespace {

namespace v1 = perfledger::v1;

// The server's page size cap (views.proto).
constexpr uint32_t kPageSizeMax = 1000;

// 830 -> "0.83" (OKR grades are 0..1000).
std::string OkrGrade(uint32_t milli) { return absl::StrFormat("%d.%02d", milli / 1000, (milli % 1000) / 10); }

std::string OwnerOf(v1::OwnerKind kind, const std::string& id) {
  switch (kind) {
    case v1::OWNER_KIND_EMPLOYEE: return absl::StrCat("employee ", id);
    case v1::OWNER_KIND_ORG_UNIT: return absl::StrCat("org unit ", id);
    default: return id;
  }
}

// ---------------------------------------------------------------- --min-position

struct ConsistencyFlags {
  std::vector<std::string> min_positions;
};

void AddConsistencyFlag(CLI::App* sub, ConsistencyFlags* flags) {
  sub->add_option("--min-position", flags->min_positions,
                  "Answer only once the views applied this log position, PARTITION:OFFSET as a "
                  "write command printed it (repeatable; read-your-writes)")
      ->group("Consistency");
}

absl::StatusOr<v1::Consistency> BuildConsistency(const ConsistencyFlags& flags) {
  v1::Consistency consistency;
  for (const std::string& spec : flags.min_positions) {
    const std::vector<std::string> parts = SplitColon(spec, 2);
    const std::string field = absl::StrCat("--min-position '", spec, "'");
    if (parts.size() != 2) return UsageError(absl::StrCat(field, ": expected PARTITION:OFFSET"));
    PERFCTL_ASSIGN_OR_RETURN(uint32_t partition, ParseUint32(field, parts[0]));
    PERFCTL_ASSIGN_OR_RETURN(int64_t offset, ParseInt64(field, parts[1]));
    if (offset < 0) return UsageError(absl::StrCat(field, ": negative offset"));
    v1::Position* position = consistency.add_min_position();
    position->set_partition(partition);
    position->set_offset(static_cast<uint64_t>(offset));
  }
  return consistency;
}

// ---------------------------------------------------------------- ranking

struct RankingFlags {
  std::string cycle_id;
  std::string org_unit_id;
  uint32_t top = 0;
  bool all = false;
  ConsistencyFlags consistency;
};

absl::Status RunRanking(Session& session, const RankingFlags& flags) {
  PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", flags.cycle_id));
  if (!flags.org_unit_id.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--org-unit", flags.org_unit_id));
  v1::RankingRequest request;
  PERFCTL_ASSIGN_OR_RETURN(*request.mutable_consistency(), BuildConsistency(flags.consistency));
  request.set_cycle_id(flags.cycle_id);
  request.set_org_unit_id(flags.org_unit_id);
  // --top N: the first N (paging past the server's cap); --all: every page; neither: one page of
  // the server's default size.
  v1::RankingResponse merged;
  while (true) {
    if (flags.top > 0) {
      request.set_page_size(std::min<uint32_t>(flags.top - merged.entries_size(), kPageSizeMax));
    } else if (flags.all) {
      request.set_page_size(kPageSizeMax);
    }
    PERFCTL_ASSIGN_OR_RETURN(v1::RankingResponse page,
                             (CallUnary<v1::Views>(session, &v1::Views::Stub::GetRanking, request)));
    for (v1::RankingEntry& entry : *page.mutable_entries()) {
      *merged.add_entries() = std::move(entry);
    }
    merged.set_total(page.total());
    merged.set_next_page_token(page.next_page_token());
    const bool want_more = flags.all || (flags.top > 0 && static_cast<uint32_t>(
                                                              merged.entries_size()) < flags.top);
    if (page.next_page_token().empty() || !want_more) break;
    request.set_page_token(page.next_page_token());
  }
  if (flags.top > 0 && static_cast<uint32_t>(merged.entries_size()) > flags.top) {
    merged.mutable_entries()->DeleteSubrange(
        static_cast<int>(flags.top), merged.entries_size() - static_cast<int>(flags.top));
  }
  if (session.format() == OutputFormat::kJson) {
    PrintJson(merged);
    return absl::OkStatus();
  }
  if (merged.entries_size() == 0) {
    std::cout << "no grades in cycle " << flags.cycle_id
              << (flags.org_unit_id.empty() ? "" : absl::StrCat(" for ", flags.org_unit_id)) << '\n';
    return absl::OkStatus();
  }
  Table table({"RANK", "EMPLOYEE", "ORG_UNIT", "GRADE", "SCORE_MILLI", "PERCENTILE"});
  for (size_t column : {0, 4, 5}) table.AlignRight(column);
  for (const v1::RankingEntry& e : merged.entries()) {
    table.AddRow({absl::StrCat(e.rank()), e.employee_id(), e.org_unit_id(), e.grade(),
                  absl::StrCat(e.score_milli()), Percent(e.percentile_bp())});
  }
  table.Print(std::cout);
  std::cout << merged.entries_size() << " of " << merged.total() << " ranked";
  if (!merged.next_page_token().empty() && !flags.all) std::cout << " (--all for every page)";
  std::cout << '\n';
  return absl::OkStatus();
}

void AddRanking(CLI::App& app, Session& session) {
  auto flags = std::make_shared<RankingFlags>();
  CLI::App* sub = app.add_subcommand("ranking", "Rank the graded employees of a cycle");
  sub->add_option("--cycle", flags->cycle_id, "Cycle id")->required();
  sub->add_option("--org-unit", flags->org_unit_id,
                  "Rank this unit's direct members (default: the whole organisation)");
  auto* top = sub->add_option("--top", flags->top, "Only the first N")->check(CLI::PositiveNumber);
  auto* all = sub->add_flag("--all", flags->all, "Every entry (follows the page tokens)");
  top->excludes(all);
  all->excludes(top);
  AddConsistencyFlag(sub, &flags->consistency);
  sub->footer(absl::StrCat(
      "\nBest first, by the policy's direction (a lower defect rate ranks higher); equal scores"
      "\nby employee id. Without --top or --all: one page (the server's default size).",
      Examples({"perfctl ranking --cycle 2026H1 --all",
                "perfctl ranking --cycle 2026H1 --org-unit LINE2 --top 3 -o json"})));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("ranking of ", flags->cycle_id),
                   [&session, flags] { return RunRanking(session, *flags); });
  });
}

// ---------------------------------------------------------------- distribution

struct DistributionFlags {
  std::string cycle_id;
  std::string org_unit_id;
  ConsistencyFlags consistency;
};

void AddDistribution(CLI::App& app, Session& session) {
  auto flags = std::make_shared<DistributionFlags>();
  CLI::App* sub = app.add_subcommand(
      "distribution", "Grade counts of a cycle against the policy's recommended distribution");
  sub->add_option("--cycle", flags->cycle_id, "Cycle id")->required();
  sub->add_option("--org-unit", flags->org_unit_id, "Only this unit (default: everyone)");
  AddConsistencyFlag(sub, &flags->consistency);
  sub->footer(Examples({"perfctl distribution --cycle 2026H1",
                        "perfctl distribution --cycle 2026H1 --org-unit LINE1 -o json"}));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("distribution of ", flags->cycle_id), [&session, flags]() -> absl::Status {
      PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", flags->cycle_id));
      if (!flags->org_unit_id.empty()) {
        PERFCTL_RETURN_IF_ERROR(ValidateId("--org-unit", flags->org_unit_id));
      }
      v1::DistributionRequest request;
      PERFCTL_ASSIGN_OR_RETURN(*request.mutable_consistency(), BuildConsistency(flags->consistency));
      request.set_cycle_id(flags->cycle_id);
      request.set_org_unit_id(flags->org_unit_id);
      PERFCTL_ASSIGN_OR_RETURN(
          v1::DistributionResponse response,
          (CallUnary<v1::Views>(session, &v1::Views::Stub::GetDistribution, request)));
      if (session.format() == OutputFormat::kJson) {
        PrintJson(response);
        return absl::OkStatus();
      }
      Table table({"GRADE", "COUNT", "SHARE", "RECOMMENDED"});
      for (size_t column : {1, 2, 3}) table.AlignRight(column);
      for (const v1::GradeCount& g : response.grades()) {
        table.AddRow({g.grade(), absl::StrCat(g.count()), Percent(g.share_bp()),
                      g.recommended_bp() == 0 ? "-" : Percent(g.recommended_bp())});
      }
      table.AddRow({"total", absl::StrCat(response.total()), "", ""});
      table.Print(std::cout);
      if (response.policy_version() > 0) {
        std::cout << "recommended by policy version " << response.policy_version() << '\n';
      }
      return absl::OkStatus();
    });
  });
}

// ---------------------------------------------------------------- unit ranking

struct UnitRankingFlags {
  std::string cycle_id;
  std::string metric;
  std::string parent;
  ConsistencyFlags consistency;
};

void AddUnitRanking(CLI::App& app, Session& session) {
  auto flags = std::make_shared<UnitRankingFlags>();
  CLI::App* sub = app.add_subcommand(
      "unit-ranking", "Rank org units by their roll-up of a metric over a cycle");
  sub->add_option("--cycle", flags->cycle_id, "Cycle id")->required();
  sub->add_option("--metric", flags->metric, "Metric, e.g. defect_rate")->required();
  sub->add_option("--parent", flags->parent,
                  "Rank this unit's direct sub-units (default: every unit observed)");
  AddConsistencyFlag(sub, &flags->consistency);
  sub->footer(absl::StrCat(
      "\nA unit's figure counts its members' observations (by the unit they belonged to when"
      "\nobserved), its sub-units' and its own, rolled up as the policy's `metrics` section says."
      "\nOutside HR, units with fewer people than the minimum group size show no figure.",
      Examples({"perfctl unit-ranking --cycle 2026H1 --metric defect_rate --parent PLANT1"})));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("unit ranking of ", flags->cycle_id),
                   [&session, flags]() -> absl::Status {
      PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", flags->cycle_id));
      if (!flags->parent.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--parent", flags->parent));
      v1::UnitRankingRequest request;
      PERFCTL_ASSIGN_OR_RETURN(*request.mutable_consistency(),
                               BuildConsistency(flags->consistency));
      request.set_cycle_id(flags->cycle_id);
      request.set_metric(flags->metric);
      request.set_parent_org_unit_id(flags->parent);
      PERFCTL_ASSIGN_OR_RETURN(
          v1::UnitRankingResponse response,
          (CallUnary<v1::Views>(session, &v1::Views::Stub::GetUnitRanking, request)));
      if (session.format() == OutputFormat::kJson) {
        PrintJson(response);
        return absl::OkStatus();
      }
      Table table({"RANK", "ORG_UNIT", "VALUE_MILLI", "OBSERVATIONS", "WEIGHT", "PEOPLE"});
      for (size_t column : {0, 2, 3, 4, 5}) table.AlignRight(column);
      for (const v1::UnitRankingEntry& e : response.entries()) {
        if (e.suppressed()) {
          table.AddRow({"-", e.org_unit_id(), "hidden", "", "", absl::StrCat(e.people())});
          continue;
        }
        table.AddRow({absl::StrCat(e.rank()), e.org_unit_id(), absl::StrCat(e.value_milli()),
                      absl::StrCat(e.count()), absl::StrCat(e.weight()),
                      absl::StrCat(e.people())});
      }
      table.Print(std::cout);
      std::cout << "rolled up as " << response.rollup() << ", "
                << (response.direction() == v1::DIRECTION_LOWER_IS_BETTER ? "lower" : "higher")
                << " is better";
      if (response.policy_version() > 0) {
        std::cout << " (policy version " << response.policy_version() << ")";
      }
      std::cout << '\n';
      return absl::OkStatus();
    });
  });
}

// ---------------------------------------------------------------- timeline

struct TimelineFlags {
  std::string employee_id;
  uint32_t limit = 100;
  ConsistencyFlags consistency;
};

// A few words on what an event says, for the timeline's last column.
std::string Summary(const v1::Event& event) {
  switch (event.body_case()) {
    case v1::Event::kMetricObserved:
      return absl::StrCat(event.metric_observed().metric(), " = ",
                          event.metric_observed().value_milli(), " milli",
                          event.metric_observed().unit());
    case v1::Event::kGradeFinalized:
      return absl::StrCat(event.grade_finalized().cycle_id(), " grade ",
                          event.grade_finalized().grade(), " (score ",
                          event.grade_finalized().score_milli(), ", policy v",
                          event.grade_finalized().policy_version(), ")");
    case v1::Event::kActionTriggered: {
      const v1::ActionTriggered& a = event.action_triggered();
      std::string text = absl::StrCat(v1::ActionKind_Name(a.kind()), " ", a.rule_id());
      if (a.has_amount() && a.amount().amount_minor() != 0) {
        absl::StrAppend(&text, " ", a.amount().amount_minor(), " ", a.amount().currency());
      }
      if (!a.course_id().empty()) absl::StrAppend(&text, " ", a.course_id());
      return text;
    }
    case v1::Event::kThresholdBreached:
      return absl::StrCat(event.threshold_breached().metric(), " ",
                          event.threshold_breached().value_milli(), " past ",
                          event.threshold_breached().threshold_milli(), ", notify ",
                          event.threshold_breached().notify_employee_id());
    case v1::Event::kCheckInRecorded:
      return absl::StrCat("with ", event.check_in_recorded().manager_id());
    case v1::Event::kPipOpened:
      return absl::StrCat("deadline ", FormatTimestamp(event.pip_opened().deadline_at()));
    case v1::Event::kDeadlineReached:
      return event.deadline_reached().subject();
    default:
      return "";
  }
}

void AddTimeline(CLI::App& app, Session& session) {
  auto flags = std::make_shared<TimelineFlags>();
  CLI::App* sub = app.add_subcommand("timeline", "An employee's events in order (the timeline view)");
  sub->add_option("EMPLOYEE", flags->employee_id, "Employee id")->required();
  sub->add_option("--limit", flags->limit, "At most N events (0 = all)")->capture_default_str();
  AddConsistencyFlag(sub, &flags->consistency);
  sub->footer(Examples({"perfctl timeline W13", "perfctl timeline W13 --limit 0 -o json"}));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("timeline of ", flags->employee_id), [&session, flags]() -> absl::Status {
      PERFCTL_RETURN_IF_ERROR(ValidateId("EMPLOYEE", flags->employee_id));
      v1::TimelineRequest request;
      PERFCTL_ASSIGN_OR_RETURN(*request.mutable_consistency(), BuildConsistency(flags->consistency));
      request.set_employee_id(flags->employee_id);
      v1::TimelineResponse merged;
      while (true) {
        uint32_t size = kPageSizeMax;
        if (flags->limit > 0) size = std::min<uint32_t>(flags->limit - merged.events_size(), size);
        request.set_page_size(size);
        PERFCTL_ASSIGN_OR_RETURN(
            v1::TimelineResponse page,
            (CallUnary<v1::Views>(session, &v1::Views::Stub::GetTimeline, request)));
        for (v1::RecordedEvent& e : *page.mutable_events()) {
          EnsureDecoded(&e);
          *merged.add_events() = std::move(e);
        }
        merged.set_next_page_token(page.next_page_token());
        if (page.next_page_token().empty()) break;
        if (flags->limit > 0 && static_cast<uint32_t>(merged.events_size()) >= flags->limit) break;
        request.set_page_token(page.next_page_token());
      }
      if (session.format() == OutputFormat::kJson) {
        nlohmann::json events = nlohmann::json::array();
        for (const v1::RecordedEvent& e : merged.events()) events.push_back(RecordedEventJson(e));
        nlohmann::json json = {{"employee_id", flags->employee_id},
                               {"events", std::move(events)},
                               {"next_page_token", merged.next_page_token()}};
        std::cout << json.dump(2) << '\n';
        return absl::OkStatus();
      }
      Table table({"OCCURRED_AT", "TYPE", "STREAM@VERSION", "POSITION", "SUMMARY"});
      for (const v1::RecordedEvent& e : merged.events()) {
        table.AddRow({FormatTimestamp(e.envelope().occurred_at()), EventTypeOf(e),
                      absl::StrCat(e.envelope().stream(), "@", e.envelope().stream_version()),
                      FormatPosition(e.envelope().position()), Summary(e.event())});
      }
      if (!table.empty()) table.Print(std::cout);
      std::cout << merged.events_size() << " events";
      if (!merged.next_page_token().empty()) std::cout << " (more: --limit 0 for all)";
      std::cout << '\n';
      return absl::OkStatus();
    });
  });
}

// ---------------------------------------------------------------- checkins

struct CheckInsFlags {
  std::string employee_id;
  std::string manager_id;
  ConsistencyFlags consistency;
};

void AddCheckIns(CLI::App& app, Session& session) {
  auto flags = std::make_shared<CheckInsFlags>();
  CLI::App* sub = app.add_subcommand(
      "checkins", "An employee's check-ins and the days since the last one (the check-ins view)");
  sub->add_option("EMPLOYEE", flags->employee_id, "Employee id")->required();
  sub->add_option("--manager", flags->manager_id, "Only check-ins with this manager");
  AddConsistencyFlag(sub, &flags->consistency);
  sub->footer(Examples({"perfctl checkins W13", "perfctl checkins W13 --manager E3 -o json"}));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("check-ins of ", flags->employee_id), [&session, flags]() -> absl::Status {
      PERFCTL_RETURN_IF_ERROR(ValidateId("EMPLOYEE", flags->employee_id));
      if (!flags->manager_id.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--manager", flags->manager_id));
      v1::CheckInsRequest request;
      PERFCTL_ASSIGN_OR_RETURN(*request.mutable_consistency(), BuildConsistency(flags->consistency));
      request.set_employee_id(flags->employee_id);
      request.set_manager_id(flags->manager_id);
      request.set_page_size(kPageSizeMax);
      v1::CheckInsResponse merged;
      while (true) {
        PERFCTL_ASSIGN_OR_RETURN(
            v1::CheckInsResponse page,
            (CallUnary<v1::Views>(session, &v1::Views::Stub::GetCheckIns, request)));
        for (v1::CheckInEntry& e : *page.mutable_entries()) *merged.add_entries() = std::move(e);
        // The summary fields describe the whole history; take the latest page's.
        *merged.mutable_last_check_in_at() = page.last_check_in_at();
        merged.set_days_since_last(page.days_since_last());
        if (page.next_page_token().empty()) break;
        request.set_page_token(page.next_page_token());
      }
      if (session.format() == OutputFormat::kJson) {
        PrintJson(merged);
        return absl::OkStatus();
      }
      Table table({"OCCURRED_AT", "CHECK_IN_ID", "MANAGER", "PROGRESS", "BLOCKERS"});
      for (const v1::CheckInEntry& e : merged.entries()) {
        std::vector<std::string> progress;
        for (const v1::GoalProgress& p : e.check_in().progress()) {
          progress.push_back(absl::StrCat(p.goal_id(), " ", Percent(p.progress_bp())));
        }
        table.AddRow({FormatTimestamp(e.occurred_at()), e.check_in_id(), e.manager_id(),
                      absl::StrJoin(progress, ", "), absl::StrJoin(e.check_in().blockers(), "; ")});
      }
      if (!table.empty()) table.Print(std::cout);
      if (merged.days_since_last() < 0) {
        std::cout << "no check-ins"
                  << (flags->manager_id.empty() ? "" : absl::StrCat(" with ", flags->manager_id))
                  << '\n';
      } else {
        std::cout << merged.entries_size() << " check-ins; the last "
                  << FormatTimestamp(merged.last_check_in_at()) << ", "
                  << merged.days_since_last() << " days ago\n";
      }
      return absl::OkStatus();
    });
  });
}

// ---------------------------------------------------------------- goals tree

struct GoalTreeFlags {
  std::string cycle_id;
  std::string goal_id;
  uint32_t max_depth = 0;
  bool key_results = false;
  ConsistencyFlags consistency;
};

void AddTreeRows(const v1::GoalNode& node, int depth, bool key_results, Table* table) {
  const std::string indent(static_cast<size_t>(depth) * 2, ' ');
  table->AddRow({indent + node.goal_id(), OwnerOf(node.owner_kind(), node.owner_id()),
                 node.weight_bp() == 0 ? "-" : Percent(node.weight_bp()),
                 node.key_results_size() == 0 ? "-" : Percent(node.own_progress_bp()),
                 Percent(node.rolled_up_progress_bp()), OkrGrade(node.okr_grade_milli()),
                 node.closed() ? "closed" : "open", node.title()});
  if (key_results) {
    for (const v1::KeyResultStatus& kr : node.key_results()) {
      table->AddRow({absl::StrCat(indent, "  kr ", kr.key_result_id()), "",
                     kr.weight_bp() == 0 ? "-" : Percent(kr.weight_bp()), Percent(kr.progress_bp()),
                     "", "", "",
                     absl::StrCat(kr.description(), " (", kr.current_milli(), " of ",
                                  kr.target_milli(), ")")});
    }
  }
  for (const v1::GoalNode& child : node.children()) {
    AddTreeRows(child, depth + 1, key_results, table);
  }
}

void AddGoalsTree(CLI::App& app, Session& session) {
  CLI::App* goals = app.add_subcommand("goals", "Query goals (the goal-tree view)");
  goals->require_subcommand(1);
  auto flags = std::make_shared<GoalTreeFlags>();
  CLI::App* sub = goals->add_subcommand(
      "tree", "Goals with their aligned children: own and rolled-up progress, OKR grade");
  auto* cycle = sub->add_option("--cycle", flags->cycle_id, "Every top-level goal of this cycle");
  auto* goal = sub->add_option("--goal", flags->goal_id, "The tree under this goal");
  cycle->excludes(goal);
  goal->excludes(cycle);
  sub->add_option("--max-depth", flags->max_depth, "Depth limit (default and max 16)");
  sub->add_flag("--key-results", flags->key_results, "Show each goal's key results too");
  AddConsistencyFlag(sub, &flags->consistency);
  sub->footer(absl::StrCat(
      "\nOWN: progress from the goal's key results; ROLLED-UP: with the aligned children weighted"
      "\nby their weight; OKR: the closing grade, else progress / 100.",
      Examples({"perfctl goals tree --cycle 2026H1", "perfctl goals tree --goal G-PROD --key-results"})));
  sub->callback([&session, flags] {
    session.Select(
        !flags->goal_id.empty()    ? absl::StrCat("goal tree of ", flags->goal_id)
        : !flags->cycle_id.empty() ? absl::StrCat("goal tree of cycle ", flags->cycle_id)
                                   : std::string("goal tree"),
        [&session, flags]() -> absl::Status {
          if (flags->cycle_id.empty() == flags->goal_id.empty()) {
            return UsageError("give --cycle or --goal");
          }
          v1::GoalTreeRequest request;
          PERFCTL_ASSIGN_OR_RETURN(*request.mutable_consistency(),
                                   BuildConsistency(flags->consistency));
          if (!flags->cycle_id.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", flags->cycle_id));
          if (!flags->goal_id.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--goal", flags->goal_id));
          request.set_cycle_id(flags->cycle_id);
          request.set_goal_id(flags->goal_id);
          request.set_max_depth(flags->max_depth);
          PERFCTL_ASSIGN_OR_RETURN(
              v1::GoalTreeResponse response,
              (CallUnary<v1::Views>(session, &v1::Views::Stub::GetGoalTree, request)));
          if (session.format() == OutputFormat::kJson) {
            PrintJson(response);
            return absl::OkStatus();
          }
          if (response.roots_size() == 0) {
            std::cout << "no goals\n";
            return absl::OkStatus();
          }
          Table table({"GOAL", "OWNER", "WEIGHT", "OWN", "ROLLED-UP", "OKR", "STATE", "TITLE"});
          for (size_t column : {2, 3, 4, 5}) table.AlignRight(column);
          for (const v1::GoalNode& root : response.roots()) {
            AddTreeRows(root, 0, flags->key_results, &table);
          }
          table.Print(std::cout);
          return absl::OkStatus();
        });
  });
}

// ---------------------------------------------------------------- projections

void PrintViews(const google::protobuf::RepeatedPtrField<v1::ViewStatus>& views) {
  Table table({"VIEW", "ROWS", "DIGEST"});
  table.AlignRight(1);
  for (const v1::ViewStatus& v : views) {
    table.AddRow({v.view(), WithThousands(v.rows()), v.digest()});
  }
  table.Print(std::cout);
}

std::string Positions(const google::protobuf::RepeatedPtrField<v1::Position>& positions) {
  std::vector<std::string> parts;
  for (const v1::Position& p : positions) parts.push_back(FormatPosition(p));
  return parts.empty() ? "-" : absl::StrJoin(parts, " ");
}

void AddProjections(CLI::App& app, Session& session) {
  CLI::App* projections = app.add_subcommand("projections", "The projector behind the views");
  projections->require_subcommand(1);

  auto digests = std::make_shared<bool>(false);
  CLI::App* status = projections->add_subcommand(
      "status", "Applied positions, lag, and (with --digests) each view's rows and content digest");
  status->add_flag("--digests", *digests, "Compute each view's digest and rows (reads every view)");
  status->footer(absl::StrCat(
      "\nTwo servers (or a server before and after `projections rebuild`) with the same log must"
      "\nshow the same digests.",
      Examples({"perfctl projections status", "perfctl projections status --digests -o json"})));
  status->callback([&session, digests] {
    session.Select("projection status", [&session, digests]() -> absl::Status {
      v1::ProjectionStatusRequest request;
      request.set_digests(*digests);
      PERFCTL_ASSIGN_OR_RETURN(
          v1::ProjectionStatusResponse response,
          (CallUnary<v1::Views>(session, &v1::Views::Stub::GetProjectionStatus, request)));
      if (session.format() == OutputFormat::kJson) {
        PrintJson(response);
        return absl::OkStatus();
      }
      PrintFields(std::cout, {{"applied", Positions(response.applied())},
                              {"lag", absl::StrCat(WithThousands(response.lag_events()), " events")},
                              {"events applied", WithThousands(response.events_applied())}});
      if (response.views_size() > 0) {
        std::cout << '\n';
        PrintViews(response.views());
      }
      return absl::OkStatus();
    });
  });

  auto wait = std::make_shared<std::string>("1h");
  CLI::App* rebuild = projections->add_subcommand(
      "rebuild", "Drop every view and replay the log from offset 0 (admin; queries wait meanwhile)");
  rebuild->add_option("--wait", *wait, "How long the rebuild may take (replaces --timeout)")
      ->capture_default_str();
  rebuild->footer(Examples({"perfctl projections rebuild", "perfctl projections rebuild --wait 3h"}));
  rebuild->callback([&session, wait] {
    session.Select("rebuild projections", [&session, wait]() -> absl::Status {
      PERFCTL_ASSIGN_OR_RETURN(absl::Duration budget, ParseDuration("--wait", *wait));
      PERFCTL_ASSIGN_OR_RETURN(Connection * connection, session.connection());
      auto stub = v1::Views::NewStub(connection->channel());
      auto context = connection->NewContext(budget);
      v1::RebuildResponse response;
      PERFCTL_RETURN_IF_ERROR(FromGrpc(stub->Rebuild(context.get(), v1::RebuildRequest(), &response)));
      if (session.format() == OutputFormat::kJson) {
        PrintJson(response);
        return absl::OkStatus();
      }
      const double seconds = std::max(response.seconds(), 1e-6);
      const uint64_t rate = static_cast<uint64_t>(static_cast<double>(response.events_applied()) / seconds);
      std::cout << "rebuilt: " << WithThousands(response.events_applied()) << " events applied in "
                << absl::StrFormat("%.2f", response.seconds()) << " s (" << WithThousands(rate)
                << " events/s)\n\n";
      PrintViews(response.views());
      return absl::OkStatus();
    });
  });
}

// ---------------------------------------------------------------- payroll, training, pips

// Follows the page tokens of a list query until the end or `limit` items (0 = all).
template <typename Request, typename Response, typename Item>
absl::Status ListAll(Session& session,
                     grpc::Status (v1::Views::Stub::*method)(grpc::ClientContext*, const Request&,
                                                             Response*),
                     Request request, uint32_t limit,
                     google::protobuf::RepeatedPtrField<Item>* (Response::*items)(),
                     Response* merged) {
  while (true) {
    uint32_t size = kPageSizeMax;
    if (limit > 0) size = std::min<uint32_t>(limit - (merged->*items)()->size(), size);
    request.set_page_size(size);
    PERFCTL_ASSIGN_OR_RETURN(Response page, (CallUnary<v1::Views>(session, method, request)));
    for (Item& item : *(page.*items)()) *(merged->*items)()->Add() = std::move(item);
    merged->set_next_page_token(page.next_page_token());
    if (page.next_page_token().empty()) break;
    if (limit > 0 && static_cast<uint32_t>((merged->*items)()->size()) >= limit) break;
    request.set_page_token(page.next_page_token());
  }
  return absl::OkStatus();
}

std::string MoreNote(const std::string& next_page_token) {
  return next_page_token.empty() ? "" : " (more: --limit 0 for all)";
}

struct PayrollFlags {
  std::string cycle_id;
  std::string employee_id;
  std::string state;
  uint32_t limit = 0;
  ConsistencyFlags consistency;
};

void AddPayroll(CLI::App& app, Session& session) {
  CLI::App* payroll = app.add_subcommand("payroll", "Salary adjustments and bonuses (payroll hooks)");
  payroll->require_subcommand(1);
  auto flags = std::make_shared<PayrollFlags>();
  CLI::App* sub = payroll->add_subcommand(
      "list", "Salary adjustments and bonuses with their delivery state (Views.ListPayrollItems)");
  sub->add_option("--cycle", flags->cycle_id, "Only this cycle");
  sub->add_option("--employee", flags->employee_id, "Only this employee");
  sub->add_option("--state", flags->state, "Only this delivery state")
      ->check(CLI::IsMember({"pending", "delivered", "applied", "rejected", "cancelled"}));
  sub->add_option("--limit", flags->limit, "At most N items (default: all)");
  AddConsistencyFlag(sub, &flags->consistency);
  sub->footer(Examples({"perfctl payroll list --cycle 2026H1",
                        "perfctl payroll list --state pending -o json"}));
  sub->callback([&session, flags] {
    session.Select("list payroll items", [&session, flags]() -> absl::Status {
      v1::ListPayrollItemsRequest request;
      PERFCTL_ASSIGN_OR_RETURN(*request.mutable_consistency(), BuildConsistency(flags->consistency));
      if (!flags->cycle_id.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", flags->cycle_id));
      if (!flags->employee_id.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--employee", flags->employee_id));
      request.set_cycle_id(flags->cycle_id);
      request.set_employee_id(flags->employee_id);
      if (!flags->state.empty()) {
        v1::PayrollState state = v1::PAYROLL_STATE_UNSPECIFIED;
        v1::PayrollState_Parse(absl::StrCat("PAYROLL_STATE_", absl::AsciiStrToUpper(flags->state)),
                               &state);
        request.set_state(state);
      }
      v1::ListPayrollItemsResponse merged;
      PERFCTL_RETURN_IF_ERROR(ListAll(session, &v1::Views::Stub::ListPayrollItems, request,
                                      flags->limit, &v1::ListPayrollItemsResponse::mutable_items,
                                      &merged));
      if (session.format() == OutputFormat::kJson) {
        PrintJson(merged);
        return absl::OkStatus();
      }
      Table table({"ACTION_ID", "KIND", "EMPLOYEE", "CYCLE", "AMOUNT", "PERCENT", "STATE",
                   "POLICY", "RULE"});
      for (size_t column : {4, 5, 7}) table.AlignRight(column);
      for (const v1::PayrollItem& item : merged.items()) {
        table.AddRow({item.action_id(), EnumWord(v1::ActionKind_Name(item.kind()), "ACTION_KIND_"),
                      item.employee_id(), item.cycle_id(),
                      Marked("amount", FormatMoney(item.amount()), item.erased(), item.withheld()),
                      Marked("percent_bp", item.percent_bp() == 0 ? "-" : Percent(item.percent_bp()),
                             item.erased(), item.withheld()),
                      EnumWord(v1::PayrollState_Name(item.state()), "PAYROLL_STATE_"),
                      absl::StrCat("v", item.policy_version()), item.rule_id()});
      }
      if (!table.empty()) table.Print(std::cout);
      std::cout << merged.items_size() << " payroll items" << MoreNote(merged.next_page_token())
                << '\n';
      return absl::OkStatus();
    });
  });
}

struct TrainingFlags {
  std::string employee_id;
  std::string course_id;
  uint32_t limit = 0;
  ConsistencyFlags consistency;
};

void AddTraining(CLI::App& app, Session& session) {
  CLI::App* training = app.add_subcommand("training", "Training recommendations and LMS reports");
  training->require_subcommand(1);
  auto flags = std::make_shared<TrainingFlags>();
  CLI::App* list = training->add_subcommand(
      "list", "Training records: recommended, enrolled, completed (Views.ListTraining)");
  list->add_option("--employee", flags->employee_id, "Only this employee");
  list->add_option("--course", flags->course_id, "Only this course");
  list->add_option("--limit", flags->limit, "At most N records (default: all)");
  AddConsistencyFlag(list, &flags->consistency);
  list->footer(Examples({"perfctl training list --employee W11",
                         "perfctl training list --course quality-control -o json"}));
  list->callback([&session, flags] {
    session.Select("list training", [&session, flags]() -> absl::Status {
      v1::ListTrainingRequest request;
      PERFCTL_ASSIGN_OR_RETURN(*request.mutable_consistency(), BuildConsistency(flags->consistency));
      if (!flags->employee_id.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--employee", flags->employee_id));
      if (!flags->course_id.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--course", flags->course_id));
      request.set_employee_id(flags->employee_id);
      request.set_course_id(flags->course_id);
      v1::ListTrainingResponse merged;
      PERFCTL_RETURN_IF_ERROR(ListAll(session, &v1::Views::Stub::ListTraining, request, flags->limit,
                                      &v1::ListTrainingResponse::mutable_records, &merged));
      if (session.format() == OutputFormat::kJson) {
        PrintJson(merged);
        return absl::OkStatus();
      }
      Table table({"EMPLOYEE", "COURSE", "STATE", "RECOMMENDED_AT", "COMPLETED_AT", "RESULT",
                   "RECORD_ID"});
      for (const v1::TrainingRecord& r : merged.records()) {
        std::string result = "-";
        if (r.state() == v1::TRAINING_STATE_COMPLETED) {
          result = absl::StrCat(r.passed() ? "passed" : "failed", " (", r.score_milli(), ")");
        }
        std::string state = EnumWord(v1::TrainingState_Name(r.state()), "TRAINING_STATE_");
        if (r.cancelled()) absl::StrAppend(&state, ", withdrawn");
        table.AddRow({r.employee_id(), r.course_id(), state, FormatTimestamp(r.recommended_at()),
                      FormatTimestamp(r.completed_at()), result, r.record_id()});
      }
      if (!table.empty()) table.Print(std::cout);
      std::cout << merged.records_size() << " training records" << MoreNote(merged.next_page_token())
                << '\n';
      return absl::OkStatus();
    });
  });

  auto course = std::make_shared<std::string>();
  auto consistency = std::make_shared<ConsistencyFlags>();
  CLI::App* summary = training->add_subcommand(
      "summary", "One course's effectiveness: recommended, enrolled, completed, passed");
  summary->add_option("COURSE", *course, "Course id")->required();
  AddConsistencyFlag(summary, consistency.get());
  summary->footer(Examples({"perfctl training summary quality-control"}));
  summary->callback([&session, course, consistency] {
    session.Select(absl::StrCat("training summary of ", *course),
                   [&session, course, consistency]() -> absl::Status {
      PERFCTL_RETURN_IF_ERROR(ValidateId("COURSE", *course));
      v1::TrainingSummaryRequest request;
      PERFCTL_ASSIGN_OR_RETURN(*request.mutable_consistency(), BuildConsistency(*consistency));
      request.set_course_id(*course);
      PERFCTL_ASSIGN_OR_RETURN(
          v1::TrainingSummaryResponse response,
          (CallUnary<v1::Views>(session, &v1::Views::Stub::GetTrainingSummary, request)));
      if (session.format() == OutputFormat::kJson) {
        PrintJson(response);
        return absl::OkStatus();
      }
      PrintFields(std::cout,
                  {{"course", response.course_id()},
                   {"recommended", WithThousands(response.recommended())},
                   {"enrolled", WithThousands(response.enrolled())},
                   {"completed", WithThousands(response.completed())},
                   {"passed", WithThousands(response.passed())},
                   {"withdrawn", WithThousands(response.cancelled())},
                   {"mean score", response.completed() == 0
                                      ? std::string("-")
                                      : absl::StrCat(response.mean_score_milli(), " milli")}});
      return absl::OkStatus();
    });
  });
}

struct PipsFlags {
  std::string employee_id;
  bool open_only = false;
  uint32_t limit = 0;
  ConsistencyFlags consistency;
};

void AddPips(CLI::App& app, Session& session) {
  CLI::App* pips = app.add_subcommand("pips", "Performance improvement plans");
  pips->require_subcommand(1);
  auto flags = std::make_shared<PipsFlags>();
  CLI::App* sub = pips->add_subcommand(
      "list", "PIPs: triggered, open, past their deadline, closed (Views.ListPips)");
  sub->add_option("--employee", flags->employee_id, "Only this employee");
  sub->add_flag("--open-only", flags->open_only,
                "Only plans needing attention (triggered, open, deadline reached)");
  sub->add_option("--limit", flags->limit, "At most N plans (default: all)");
  AddConsistencyFlag(sub, &flags->consistency);
  sub->footer(Examples({"perfctl pips list --open-only", "perfctl pips list --employee W13 -o json"}));
  sub->callback([&session, flags] {
    session.Select("list PIPs", [&session, flags]() -> absl::Status {
      v1::ListPipsRequest request;
      PERFCTL_ASSIGN_OR_RETURN(*request.mutable_consistency(), BuildConsistency(flags->consistency));
      if (!flags->employee_id.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--employee", flags->employee_id));
      request.set_employee_id(flags->employee_id);
      request.set_open_only(flags->open_only);
      v1::ListPipsResponse merged;
      PERFCTL_RETURN_IF_ERROR(ListAll(session, &v1::Views::Stub::ListPips, request, flags->limit,
                                      &v1::ListPipsResponse::mutable_plans, &merged));
      if (session.format() == OutputFormat::kJson) {
        PrintJson(merged);
        return absl::OkStatus();
      }
      Table table({"EMPLOYEE", "CYCLE", "STATUS", "DEADLINE", "CHECKPOINTS", "PROGRESS",
                   "EXTENSIONS", "OUTCOME", "PIP_ID"});
      for (size_t column : {4, 5, 6}) table.AlignRight(column);
      for (const v1::PipPlan& p : merged.plans()) {
        table.AddRow({p.employee_id(), p.cycle_id(),
                      EnumWord(v1::PipStatus_Name(p.status()), "PIP_STATUS_"),
                      FormatTimestamp(p.deadline_at()),
                      absl::StrCat(p.checkpoints(), " (every ", p.checkpoint_every_days(), " d)"),
                      Percent(p.last_progress_bp()), absl::StrCat(p.extensions()),
                      p.outcome() == v1::PIP_OUTCOME_UNSPECIFIED
                          ? "-"
                          : EnumWord(v1::PipOutcome_Name(p.outcome()), "PIP_OUTCOME_"),
                      p.pip_id().empty() ? "-" : p.pip_id()});
      }
      if (!table.empty()) table.Print(std::cout);
      std::cout << merged.plans_size() << " plans" << MoreNote(merged.next_page_token()) << '\n';
      return absl::OkStatus();
    });
  });
}

}  // namespace

void AddViewCommands(CLI::App& app, Session& session) {
  AddRanking(app, session);
  AddDistribution(app, session);
  AddUnitRanking(app, session);
  AddTimeline(app, session);
  AddCheckIns(app, session);
  AddGoalsTree(app, session);
  AddProjections(app, session);
  AddPayroll(app, session);
  AddTraining(app, session);
  AddPips(app, session);
}

}  // namespace perfctl
