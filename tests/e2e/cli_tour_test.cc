// cli_tour_test: the perfctl tour of tools/perfctl/README.md, through the real perfctl binary
// against a real perfledgerd: status, the example imports (with the deliberately bad row, and a
// re-run that finds everything already present), a cycle, goals with key results, progress, a
// check-in, metrics (one, and a CSV import that is harmless to repeat), a score, a grade, the
// log as JSON lines, and the error contract (one "perfctl:" line on stderr, exit 1/2/3).
//
// Facts about the example files (row counts, which row is bad, who manages whom) are read from
// the files, so the test follows edits to them.

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/e2e_listener.h"

namespace perfledger::e2e {
namespace {

using nlohmann::json;

constexpr char kCycle[] = "2026H1";

// A deliberately small CSV reader for the example files: quoted fields may hold commas.
std::vector<std::string> SplitCsvLine(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); i++) {
    const char c = line[i];
    if (c == '"') {
      if (quoted && i + 1 < line.size() && line[i + 1] == '"') {
        out.back() += '"';
        i++;
      } else {
        quoted = !quoted;
      }
    } else if (c == ',' && !quoted) {
      out.emplace_back();
    } else if (c != '\r') {
      out.back() += c;
    }
  }
  return out;
}

struct CsvRow {
  int line = 0;  // 1-based line in the file (the header is line 1)
  std::map<std::string, std::string> values;
};

std::vector<CsvRow> ReadCsv(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = SplitCsvLine(line);
  std::vector<CsvRow> rows;
  for (int number = 2; std::getline(in, line); number++) {
    if (line.empty() || line == "\r") continue;
    const std::vector<std::string> cells = SplitCsvLine(line);
    CsvRow row;
    row.line = number;
    for (size_t i = 0; i < header.size() && i < cells.size(); i++) row.values[header[i]] = cells[i];
    rows.push_back(std::move(row));
  }
  return rows;
}

bool IsDigits(const std::string& s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

// proto3 JSON prints 64-bit integers as strings.
uint64_t U64(const json& value) {
  if (value.is_string()) return std::stoull(value.get<std::string>());
  return value.get<uint64_t>();
}

json ParseJson(const std::string& text) {
  INFO("not JSON: " << text);
  json out;
  REQUIRE_NOTHROW(out = json::parse(text));
  return out;
}

// Exit 0 and nothing on stderr.
void ExpectSuccess(const CommandOutput& out) {
  INFO(out.Describe());
  REQUIRE(out.status.exited);
  REQUIRE(out.status.code == 0);
  CHECK(out.err.empty());
}

// The error contract: exactly one line on stderr, starting "perfctl:", and the given exit code.
void ExpectFailure(const CommandOutput& out, int code, const std::string& must_contain) {
  INFO(out.Describe());
  REQUIRE(out.status.exited);
  CHECK(out.status.code == code);
  const std::vector<std::string> lines = Lines(out.err);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].rfind("perfctl:", 0) == 0);
  CHECK(out.err.back() == '\n');
  CHECK(lines[0].find(must_contain) != std::string::npos);
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("cli_tour_test: the perfctl README tour against a real perfledgerd", "[e2e][cli]") {
  const std::string examples = PERFLEDGER_EXAMPLES_DIR;
  const std::string units_csv = examples + "/org_units.csv";
  const std::string staff_csv = examples + "/employees.csv";
  const std::string metrics_csv = examples + "/metrics.csv";

  const std::vector<CsvRow> units = ReadCsv(units_csv);
  const std::vector<CsvRow> staff = ReadCsv(staff_csv);
  const std::vector<CsvRow> observations = ReadCsv(metrics_csv);
  REQUIRE(!units.empty());
  REQUIRE(!observations.empty());
  // The deliberately bad row: a salary that is not an integer.
  std::vector<const CsvRow*> bad;
  for (const CsvRow& row : staff) {
    if (!IsDigits(row.values.at("base_salary_minor"))) bad.push_back(&row);
  }
  REQUIRE(bad.size() == 1);
  const CsvRow& bad_row = *bad[0];
  const std::string bad_id = bad_row.values.at("employee_id");
  const size_t good_staff = staff.size() - 1;
  // The tour's protagonist: the first valid employee with a manager.
  std::string employee, manager, employee_unit;
  for (const CsvRow& row : staff) {
    if (&row != &bad_row && !row.values.at("manager_id").empty()) {
      employee = row.values.at("employee_id");
      manager = row.values.at("manager_id");
      employee_unit = row.values.at("org_unit_id");
      break;
    }
  }
  REQUIRE(!employee.empty());

  TempDir dir("cli");
  ServerProcess server(dir.Sub("data"), dir.path(), {"--data-partitions", "4"});
  server.Start();
  auto channel = server.NewChannel();
  auto perfctl = [&](const std::vector<std::string>& args) {
    return RunPerfctl(dir.path(), server.address(), args);
  };
  auto total_events = [&] { return GetStatus(channel).total_events(); };

  // ---- status
  {
    INFO("status");
    const CommandOutput out = perfctl({"status"});
    ExpectSuccess(out);
    CHECK(Contains(out.out, "embedded"));
    CHECK(Contains(out.out, "PARTITION"));
    const CommandOutput js = perfctl({"status", "-o", "json"});
    ExpectSuccess(js);
    const json status = ParseJson(js.out);
    CHECK(status.at("log_backend") == "embedded");
    CHECK(status.at("partitions").size() == 5);
    CHECK(U64(status.at("total_events")) == 0);
  }

  // ---- imports: units without managers, employees (one bad row), units again with managers
  const std::string units_summary = std::to_string(units.size()) + " rows, " +
                                    std::to_string(units.size()) +
                                    " accepted, 0 already present, 0 rejected";
  {
    INFO("import org-units --without-managers");
    const CommandOutput out = perfctl({"import", "org-units", units_csv, "--without-managers"});
    ExpectSuccess(out);
    CHECK(Contains(out.out, units_summary));
  }
  {
    INFO("import employees (line " << bad_row.line << " is bad)");
    const CommandOutput out = perfctl({"import", "employees", staff_csv});
    ExpectFailure(out, 1, "1 of " + std::to_string(staff.size()) + " rows rejected");
    CHECK(Contains(out.out, std::to_string(staff.size()) + " rows, " + std::to_string(good_staff) +
                                " accepted, 0 already present, 1 rejected"));
    // The rejected row is listed with its line and the reason.
    bool listed = false;
    for (const std::string& line : Lines(out.out)) {
      if (Contains(line, "line " + std::to_string(bad_row.line)) && Contains(line, bad_id) &&
          Contains(line, "rejected") && Contains(line, "base_salary_minor")) {
        listed = true;
      }
    }
    CHECK(listed);
  }
  {
    INFO("import employees again, as JSON");
    const CommandOutput out = perfctl({"-o", "json", "import", "employees", staff_csv});
    INFO(out.Describe());
    CHECK(out.status.code == 1);
    const json report = ParseJson(out.out);
    CHECK(U64(report.at("rows")) == staff.size());
    CHECK(U64(report.at("accepted")) == 0);
    CHECK(U64(report.at("already_present")) == good_staff);
    CHECK(U64(report.at("rejected")) == 1);
    size_t deduplicated = 0;
    for (const json& item : report.at("results")) {
      if (item.at("id") == bad_id) {
        CHECK(item.at("outcome") == "rejected");
        CHECK(item.at("location") == "line " + std::to_string(bad_row.line));
        CHECK(Contains(item.at("reason").get<std::string>(), "base_salary_minor"));
      } else {
        CHECK(item.at("outcome") == "already present");
        if (item.contains("result") && item["result"].value("deduplicated", false)) deduplicated++;
      }
    }
    CHECK(deduplicated == good_staff);
  }
  {
    INFO("import org-units with managers (a redefinition), then again");
    const CommandOutput out = perfctl({"import", "org-units", units_csv});
    ExpectSuccess(out);
    CHECK(Contains(out.out, units_summary));
    const uint64_t before = total_events();
    const CommandOutput again = perfctl({"import", "org-units", units_csv});
    ExpectSuccess(again);
    CHECK(Contains(again.out, std::to_string(units.size()) + " rows, 0 accepted, " +
                                  std::to_string(units.size()) + " already present, 0 rejected"));
    CHECK(total_events() == before);
  }

  // ---- a cycle, goals with key results, progress, a check-in
  const std::string goal = "G-" + employee + "-DEFECTS";
  {
    INFO("cycle open");
    const CommandOutput out = perfctl({"-o", "json", "cycle", "open", kCycle, "--name",
                                       "First half 2026", "--start", "2026-01-01", "--end",
                                       "2026-07-01"});
    ExpectSuccess(out);
    const json result = ParseJson(out.out);
    REQUIRE(result.at("events").size() == 1);
    CHECK(result["events"][0].at("stream") == std::string("cycle/") + kCycle);
    CHECK(result["events"][0]["position"].value("partition", 0) == 0);  // the control stream
  }
  {
    INFO("goal set");
    ExpectSuccess(perfctl({"goal", "set", "G-QUALITY", "--cycle", kCycle, "--owner-org-unit",
                           employee_unit, "--title", "Raise quality", "--weight-bp", "10000"}));
    const CommandOutput out = perfctl(
        {"-o", "json", "goal", "set", goal, "--cycle", kCycle, "--owner-employee", employee,
         "--parent", "G-QUALITY", "--title", "Personal defect rate under 3%", "--weight-bp",
         "6000", "--kr", "kr1:Defect rate:5000:3000:%:lower", "--kr",
         "kr2:Trainings done:0:2:courses"});
    ExpectSuccess(out);
    const json result = ParseJson(out.out);
    REQUIRE(result.at("events").size() == 1);
    CHECK(result["events"][0].at("stream") == "goal/" + goal);
    CHECK(U64(result["events"][0].at("stream_version")) == 1);
  }
  {
    INFO("goal progress");
    const CommandOutput out = perfctl({"goal", "progress", goal, "kr1", "3400", "--note",
                                       "after retraining"});
    ExpectSuccess(out);
    CHECK(Contains(out.out, "goal/" + goal + "@2"));
    // A key result the goal does not have is refused by the server.
    ExpectFailure(perfctl({"goal", "progress", goal, "kr9", "1"}), 1, "perfctl:");
  }
  {
    INFO("checkin record");
    const CommandOutput out = perfctl({"-o", "json", "checkin", "record", "--employee", employee,
                                       "--cycle", kCycle, "--goal-progress",
                                       goal + ":4500:new jig helps", "--blocker",
                                       "sensor drift on line 2", "--notes", "on track"});
    ExpectSuccess(out);
    const json result = ParseJson(out.out);
    CHECK(result.contains("check_in_id"));
    REQUIRE(result.at("events").size() == 1);
    CHECK(result["events"][0].at("stream") == "employee/" + employee);
  }

  // ---- metrics: one observation, then a CSV import that is harmless to repeat
  {
    INFO("metric record");
    const CommandOutput out = perfctl({"metric", "record", employee, "defect_rate", "2500",
                                       "--unit", "%", "--source", "IoT", "--at",
                                       "2026-03-02T10:00:00Z", "--cycle", kCycle});
    ExpectSuccess(out);
    CHECK(Contains(out.out, "metrics/" + employee + "@1"));
  }
  {
    INFO("metric import");
    const uint64_t before = total_events();
    const CommandOutput out = perfctl({"metric", "import", metrics_csv});
    ExpectSuccess(out);
    CHECK(total_events() == before + observations.size());
    const CommandOutput again = perfctl({"metric", "import", metrics_csv});
    ExpectSuccess(again);
    CHECK(total_events() == before + observations.size());
  }

  // ---- a score and a grade
  {
    INFO("score submit");
    const CommandOutput out = perfctl({"-o", "json", "score", "submit", "--employee", employee,
                                       "--cycle", kCycle, "--reviewer", manager, "--source",
                                       "manager", "--dim", "quality=4200", "--dim",
                                       "teamwork=3800", "--comment", "strong half"});
    ExpectSuccess(out);
    const json result = ParseJson(out.out);
    CHECK(result.contains("score_id"));
    REQUIRE(result.at("events").size() == 1);
    CHECK(result["events"][0].at("stream") == "employee/" + employee);
  }
  {
    INFO("grade finalize");
    const CommandOutput out = perfctl({"grade", "finalize", "--employee", employee, "--cycle",
                                       kCycle, "--grade", "B", "--score-milli", "3650"});
    ExpectSuccess(out);
    CHECK(Contains(out.out, "employee/" + employee + "@"));
  }

  // ---- the log as JSON lines
  {
    INFO("events read -o json");
    const CommandOutput out = perfctl({"events", "read", "-o", "json"});
    ExpectSuccess(out);
    const std::vector<std::string> lines = Lines(out.out);
    CHECK(lines.size() == total_events());
    std::map<std::string, size_t> types;
    std::map<uint64_t, std::string> tips;  // partition → last hash seen (hex)
    std::map<uint64_t, uint64_t> next;     // partition → next offset expected
    for (const std::string& line : lines) {
      const json event = ParseJson(line);
      const json& envelope = event.at("envelope");
      types[envelope.at("type").get<std::string>()]++;
      CHECK(event.contains("event"));
      CHECK_FALSE(envelope.contains("payload"));  // perfctl prints the decoded event instead
      const uint64_t partition = envelope.at("position").value("partition", 0);
      const uint64_t offset = U64(envelope.at("position").value("offset", json("0")));
      CHECK(offset == next[partition]);
      next[partition] = offset + 1;
      const std::string prev = envelope.at("prev_hash").get<std::string>();
      CHECK(prev == (tips.count(partition) ? tips[partition] : std::string(64, '0')));
      tips[partition] = envelope.at("hash").get<std::string>();
    }
    INFO("types: " << json(types).dump());
    CHECK(types["OrgUnitDefined"] == 2 * units.size());
    CHECK(types["EmployeeRegistered"] == good_staff);
    CHECK(types["CycleOpened"] == 1);
    CHECK(types["GoalSet"] == 2);
    CHECK(types["KeyResultProgressRecorded"] == 1);
    CHECK(types["CheckInRecorded"] == 1);
    CHECK(types["MetricObserved"] == observations.size() + 1);
    CHECK(types["ScoreSubmitted"] == 1);
    CHECK(types["GradeFinalized"] == 1);

    const CommandOutput one = perfctl({"events", "read", "--stream", "employee/" + employee,
                                       "-o", "json"});
    ExpectSuccess(one);
    std::set<std::string> seen;
    for (const std::string& line : Lines(one.out)) {
      const json event = ParseJson(line);
      CHECK(event["envelope"].at("stream") == "employee/" + employee);
      seen.insert(event["envelope"].at("type").get<std::string>());
    }
    CHECK(seen == std::set<std::string>{"EmployeeRegistered", "CheckInRecorded", "ScoreSubmitted",
                                        "GradeFinalized"});
  }

  // ---- errors: one line on stderr, starting "perfctl:", and the documented exit code
  {
    INFO("errors");
    const uint64_t before = total_events();
    const CommandOutput unknown = perfctl({"grade", "finalize", "--employee", "NOBODY", "--cycle",
                                           kCycle, "--grade", "B", "--score-milli", "3000"});
    ExpectFailure(unknown, 1, "NOT_FOUND");
    CHECK(unknown.out.empty());
    const CommandOutput bad_grade = perfctl({"grade", "finalize", "--employee", employee,
                                             "--cycle", kCycle, "--grade", "Z", "--score-milli",
                                             "3000"});
    ExpectFailure(bad_grade, 1, "INVALID_ARGUMENT");
    CHECK(total_events() == before);  // refused commands append nothing

    ExpectFailure(RunPerfctl(dir.path(), "127.0.0.1:1", {"status"}), 3, "UNAVAILABLE");
    // An import resumes after UNAVAILABLE for --retry-for; 0 stops at the first.
    ExpectFailure(RunPerfctl(dir.path(), "127.0.0.1:1",
                             {"metric", "import", metrics_csv, "--retry-for", "0"}),
                  3, "batches recorded; re-run the same file to resume");
    ExpectFailure(perfctl({"metric", "import", metrics_csv, "--retry-for", "-1s"}), 2,
                  "--retry-for: must not be negative");
    ExpectFailure(perfctl({"statuz"}), 2, "statuz");
  }

  const auto stopped = server.Terminate(seconds(15));
  REQUIRE(stopped.has_value());
  INFO(stopped->Describe() << "\n" << Tail(server.stderr_path()));
  CHECK(stopped->exited);
  CHECK(stopped->code == 0);
}

}  // namespace
}  // namespace perfledger::e2e
