#include "tools/perfbench/fixture.h"

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tools/perfbench/workload.h"

namespace perfbench {
namespace {

using Clock = std::chrono::steady_clock;

// Counts outcomes and remembers the first failure; shared by the setup threads.
class Outcomes {
 public:
  // Records the answer to the command named `what`.
  void Add(const std::string& what, const grpc::Status& status, const v1::CommandResult& result) {
    if (status.ok()) {
      (result.deduplicated() ? deduplicated_ : created_).fetch_add(1);
    } else if (status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
      existed_.fetch_add(1);
    } else {
      std::lock_guard lock(mu_);
      if (first_error_.ok()) {
        first_error_ = FromGrpc("fixture: " + what, status);
      }
    }
  }
  bool failed() {
    std::lock_guard lock(mu_);
    return !first_error_.ok();
  }
  absl::Status first_error() {
    std::lock_guard lock(mu_);
    return first_error_;
  }
  FixtureSummary summary() const {
    FixtureSummary s;
    s.created = created_.load();
    s.deduplicated = deduplicated_.load();
    s.existed = existed_.load();
    return s;
  }

 private:
  std::atomic<uint64_t> created_{0}, deduplicated_{0}, existed_{0};
  std::mutex mu_;
  absl::Status first_error_;
};

v1::Money Eur(int64_t minor) {
  v1::Money m;
  m.set_amount_minor(minor);
  m.set_currency("EUR");
  return m;
}

// Runs `call(i)` for i in [0, n) on `threads` threads; stops early after a failure.
void ParallelFor(uint32_t n, uint32_t threads, Outcomes& outcomes,
                 const std::function<void(uint32_t)>& call) {
  std::atomic<uint32_t> next{0};
  std::vector<std::thread> pool;
  for (uint32_t t = 0; t < std::max<uint32_t>(1, threads); ++t) {
    pool.emplace_back([&] {
      for (uint32_t i = next++; i < n && !outcomes.failed(); i = next++) call(i);
    });
  }
  for (std::thread& th : pool) th.join();
}

}  // namespace

absl::StatusOr<FixtureSummary> CreateFixture(const Clients& clients,
                                             const FixtureOptions& options) {
  const auto started = Clock::now();
  Outcomes outcomes;
  auto context = [&](grpc::ClientContext* ctx) {
    clients.Prepare(ctx, std::chrono::system_clock::now() + options.call_timeout);
  };

  // The control facts first, in order: employees name the org unit and the manager.
  {
    v1::DefineOrgUnitRequest req;
    req.mutable_meta()->set_idempotency_key("bench:ou");
    req.set_org_unit_id(std::string(kOrgUnitId));
    req.set_name("perfbench load-test unit");
    grpc::ClientContext ctx;
    context(&ctx);
    v1::CommandResult res;
    outcomes.Add("DefineOrgUnit " + req.org_unit_id(),
                 clients.at(0).people->DefineOrgUnit(&ctx, req, &res), res);
  }
  for (uint32_t k = 0; k < options.lines && !outcomes.failed(); k++) {
    v1::DefineOrgUnitRequest req;
    req.mutable_meta()->set_idempotency_key("bench:line:" + std::to_string(k));
    req.set_org_unit_id(LineId(k));
    req.set_parent_id(std::string(kOrgUnitId));
    req.set_name("perfbench line");
    grpc::ClientContext ctx;
    context(&ctx);
    v1::CommandResult res;
    outcomes.Add("DefineOrgUnit " + req.org_unit_id(),
                 clients.at(0).people->DefineOrgUnit(&ctx, req, &res), res);
  }
  auto register_employee = [&](const std::string& id, const std::string& manager,
                               const std::string& key, size_t channel,
                               const std::string& org_unit) {
    v1::RegisterEmployeeRequest req;
    req.mutable_meta()->set_idempotency_key(key);
    req.set_employee_id(id);
    req.set_name("Bench " + id);
    req.set_org_unit_id(org_unit);
    req.set_manager_id(manager);
    req.set_job_level("L3");
    *req.mutable_base_salary() = Eur(500000);
    *req.mutable_band_midpoint() = Eur(520000);
    req.mutable_hired_at()->set_seconds(1704067200);  // 2024-01-01
    req.set_email(id + "@example.invalid");
    grpc::ClientContext ctx;
    context(&ctx);
    v1::CommandResult res;
    outcomes.Add("RegisterEmployee " + id,
                 clients.at(channel).people->RegisterEmployee(&ctx, req, &res), res);
  };
  if (!outcomes.failed()) {
    register_employee(std::string(kManagerId), "", "bench:mgr", 0, std::string(kOrgUnitId));
  }
  if (!outcomes.failed()) {
    v1::OpenCycleRequest req;
    req.mutable_meta()->set_idempotency_key("bench:cycle");
    req.set_cycle_id(std::string(kCycleId));
    req.set_name("perfbench cycle");
    // Wide on purpose: every load event's receive time falls inside it for years of reruns.
    req.mutable_period_start()->set_seconds(1767225600);  // 2026-01-01
    req.mutable_period_end()->set_seconds(1924991999);    // 2030-12-31
    grpc::ClientContext ctx;
    context(&ctx);
    v1::CommandResult res;
    outcomes.Add("OpenCycle " + req.cycle_id(), clients.at(0).cycles->OpenCycle(&ctx, req, &res),
                 res);
  }
  if (!outcomes.failed()) {
    ParallelFor(options.subjects, options.threads, outcomes, [&](uint32_t i) {
      // On lines, a key of its own: the same employee in another unit is another command.
      const std::string key = options.lines == 0
                                  ? "bench:emp:" + std::to_string(i)
                                  : absl::StrCat("bench:emp:", i, ":lines:", options.lines);
      register_employee(EmployeeId(i), std::string(kManagerId), key, i,
                        options.lines == 0 ? std::string(kOrgUnitId)
                                           : LineId(i % options.lines));
    });
  }
  if (options.goals && !outcomes.failed()) {
    ParallelFor(options.subjects, options.threads, outcomes, [&](uint32_t i) {
      v1::SetGoalRequest req;
      req.mutable_meta()->set_idempotency_key("bench:goal:" + std::to_string(i));
      req.set_goal_id(GoalId(i));
      req.set_cycle_id(std::string(kCycleId));
      req.set_owner_kind(v1::OWNER_KIND_EMPLOYEE);
      req.set_owner_id(EmployeeId(i));
      req.set_title("Keep my defect rate under 3%");
      req.set_weight_bp(10000);
      v1::KeyResult* kr = req.add_key_results();
      kr->set_key_result_id(std::string(kKeyResultId));
      kr->set_description("personal defect rate");
      kr->set_start_milli(5000);
      kr->set_target_milli(3000);
      kr->set_unit("%");
      kr->set_direction(v1::DIRECTION_LOWER_IS_BETTER);
      kr->set_weight_bp(10000);
      grpc::ClientContext ctx;
      context(&ctx);
      v1::CommandResult res;
      outcomes.Add("SetGoal " + req.goal_id(), clients.at(i).goals->SetGoal(&ctx, req, &res), res);
    });
  }
  if (absl::Status error = outcomes.first_error(); !error.ok()) return error;
  FixtureSummary summary = outcomes.summary();
  summary.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return summary;
}

absl::StatusOr<std::string> PublishPolicy(const Clients& clients, const std::string& document,
                                       std::chrono::milliseconds timeout) {
  // FNV-1a: a stable fingerprint of the document for its idempotency key.
  uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : document) hash = (hash ^ c) * 1099511628211ULL;
  v1::PublishPolicyRequest req;
  char key[40];
  std::snprintf(key, sizeof key, "bench:policy:%016llx", static_cast<unsigned long long>(hash));
  req.mutable_meta()->set_idempotency_key(key);
  req.set_document(document);
  req.set_comment("perfbench --policy");
  v1::CommandResult res;
  grpc::ClientContext ctx;
  clients.Prepare(&ctx, std::chrono::system_clock::now() + timeout);
  const grpc::Status status = clients.at(0).policies->PublishPolicy(&ctx, req, &res);
  if (!status.ok()) return FromGrpc("PublishPolicy", status);
  if (res.events_size() == 0) return absl::InternalError("PublishPolicy: no event in the answer");
  return res.events(0).stream() + "@" + std::to_string(res.events(0).stream_version());
}

absl::StatusOr<uint64_t> RankingRows(const Clients& clients, uint32_t subjects,
                                     std::chrono::milliseconds timeout) {
  v1::RankingRequest req;
  req.set_cycle_id(std::string(kCycleId));
  req.set_org_unit_id(RankOrgUnitId(subjects));
  req.set_page_size(1);  // only `total` is wanted
  v1::RankingResponse res;
  grpc::ClientContext ctx;
  clients.Prepare(&ctx, std::chrono::system_clock::now() + timeout);
  const grpc::Status status = clients.at(0).views->GetRanking(&ctx, req, &res);
  if (!status.ok()) return FromGrpc("GetRanking " + req.org_unit_id(), status);
  return res.total();
}

absl::StatusOr<FixtureSummary> CreateRankingFixture(const Clients& clients,
                                                    const FixtureOptions& options, bool progress) {
  const auto started = Clock::now();
  const uint32_t n = options.subjects;
  const std::string org = RankOrgUnitId(n);
  absl::StatusOr<uint64_t> rows = RankingRows(clients, n, options.call_timeout);
  if (!rows.ok()) {
    return absl::Status(rows.status().code(), "fixture: " + std::string(rows.status().message()));
  }
  FixtureSummary summary;
  summary.rows_before = *rows;
  if (*rows >= n) {
    summary.skipped = true;
    summary.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return summary;
  }

  Outcomes outcomes;
  auto context = [&](grpc::ClientContext* ctx) {
    clients.Prepare(ctx, std::chrono::system_clock::now() + options.call_timeout);
  };
  const std::string key_prefix = "bench:rank" + std::to_string(n) + ":";
  {
    v1::DefineOrgUnitRequest req;
    req.mutable_meta()->set_idempotency_key(key_prefix + "ou");
    req.set_org_unit_id(org);
    req.set_name("perfbench ranking unit of " + std::to_string(n));
    req.set_parent_id(std::string(kOrgUnitId));
    grpc::ClientContext ctx;
    context(&ctx);
    v1::CommandResult res;
    outcomes.Add("DefineOrgUnit " + org, clients.at(0).people->DefineOrgUnit(&ctx, req, &res), res);
  }

  // Progress: people done (registered and graded) so far, printed by a side thread.
  std::atomic<uint32_t> done{0};
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::thread reporter;
  if (progress) {
    reporter = std::thread([&] {
      uint32_t last = 0;
      auto last_time = Clock::now();
      std::unique_lock lock(mu);
      while (!cv.wait_for(lock, std::chrono::seconds(1), [&] { return finished; })) {
        const uint32_t now_done = done.load();
        const auto now = Clock::now();
        std::fprintf(stderr, "[perfbench] ranking fixture: %u/%u people registered and graded "
                     "(%.0f/s, %.0f s)\n", now_done, n,
                     (now_done - last) / std::chrono::duration<double>(now - last_time).count(),
                     std::chrono::duration<double>(now - started).count());
        last = now_done;
        last_time = now;
      }
    });
  }
  if (!outcomes.failed()) {
    ParallelFor(n, options.threads, outcomes, [&](uint32_t i) {
      const std::string id = RankEmployeeId(n, i);
      {
        v1::RegisterEmployeeRequest req;
        req.mutable_meta()->set_idempotency_key(key_prefix + "emp:" + std::to_string(i));
        req.set_employee_id(id);
        req.set_name("Bench " + id);
        req.set_org_unit_id(org);
        req.set_manager_id(std::string(kManagerId));
        req.set_job_level("L3");
        *req.mutable_base_salary() = Eur(500000);
        *req.mutable_band_midpoint() = Eur(520000);
        req.mutable_hired_at()->set_seconds(1704067200);  // 2024-01-01
        grpc::ClientContext ctx;
        context(&ctx);
        v1::CommandResult res;
        const grpc::Status status = clients.at(i).people->RegisterEmployee(&ctx, req, &res);
        outcomes.Add("RegisterEmployee " + id, status, res);
        if (!status.ok() && status.error_code() != grpc::StatusCode::ALREADY_EXISTS) return;
      }
      v1::FinalizeGradeRequest req;
      req.mutable_meta()->set_idempotency_key(key_prefix + "grade:" + std::to_string(i));
      req.set_employee_id(id);
      req.set_cycle_id(std::string(kCycleId));
      const int64_t score = RankScoreMilli(i);
      req.set_score_milli(score);
      req.set_grade(std::string(RankGrade(score)));
      grpc::ClientContext ctx;
      context(&ctx);
      v1::CommandResult res;
      outcomes.Add("FinalizeGrade " + id, clients.at(i).reviews->FinalizeGrade(&ctx, req, &res),
                   res);
      done.fetch_add(1, std::memory_order_relaxed);
    });
  }
  if (reporter.joinable()) {
    {
      std::lock_guard lock(mu);
      finished = true;
    }
    cv.notify_all();
    reporter.join();
  }
  if (absl::Status error = outcomes.first_error(); !error.ok()) return error;
  const uint64_t rows_before = summary.rows_before;
  summary = outcomes.summary();
  summary.rows_before = rows_before;
  summary.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return summary;
}

}  // namespace perfbench
