// projections/backlog: admission control holds commands back while a projector is too far
// behind the log, lets them go once it catches up, refuses them when the wait runs out, and
// costs nothing while the projectors keep up.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "projections/backlog.h"
#include "projections/projector.h"
#include "tests/views/history.h"

namespace perfledger::views_test {
namespace {

using projections::BacklogGate;
using projections::Projector;

// A view that folds nothing until it is opened: the projector stalls on its first event.
class HeldView : public projections::View {
 public:
  explicit HeldView(std::atomic<bool>* open) : open_(open) {}
  std::string_view name() const override { return "held"; }
  absl::Status Apply(const v1::Envelope&, const v1::Event&, projections::ViewTxn& txn) override {
    while (!open_->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    txn.Put("n", "1");
    return absl::OkStatus();
  }

 private:
  std::atomic<bool>* open_;
};

struct Fixture {
  ScratchDir dir{"backlog"};
  std::unique_ptr<EmbeddedLog> log = OpenLog(dir.Sub("log"), 2);
  std::atomic<bool> open{false};
  std::unique_ptr<StateStore> store;
  std::unique_ptr<Projector> projector;

  Fixture() {
    std::vector<std::unique_ptr<projections::View>> views;
    views.push_back(std::make_unique<HeldView>(&open));
    StateStoreOptions options;
    options.dir = dir.Sub("state");
    Projector::AddFamilies(views, options);
    auto s = StateStore::Open(options);
    REQUIRE(s.ok());
    store = std::move(*s);
    auto p = Projector::Start(log.get(), store.get(), std::move(views));
    REQUIRE(p.ok());
    projector = std::move(*p);
  }
  ~Fixture() {
    open = true;  // let the projector thread finish before it is stopped
  }

  void Append(int events) {
    LogWriter writer(log.get(), /*keep_history=*/false);
    for (int i = 0; i < events; i++) {
      v1::Event e;
      e.mutable_metric_observed()->set_subject_id("E1");
      e.mutable_metric_observed()->set_metric("m");
      writer.Data("E1", "metrics/E1", e, Ts(1'767'225'600 + i));
    }
    REQUIRE(writer.Flush().ok());
  }
};

TEST_CASE("backlog: a projector within the bound admits at once", "[unit][backlog]") {
  Fixture f;
  f.open = true;
  f.Append(20);
  BacklogGate gate({{"views", f.projector.get()}}, /*max_events=*/5, absl::Seconds(5));
  REQUIRE(f.projector->WaitCaughtUp(absl::Now() + absl::Seconds(30)).ok());
  CHECK(gate.Admit(absl::InfiniteFuture()).ok());
  CHECK(gate.waited() == 0);
  CHECK(gate.refused() == 0);
}

TEST_CASE("backlog: behind the bound, a command waits for the projector, then goes",
          "[unit][backlog]") {
  Fixture f;
  f.Append(20);
  BacklogGate gate({{"views", f.projector.get()}}, /*max_events=*/5, absl::Seconds(30));
  std::thread opener([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    f.open = true;
  });
  const absl::Time start = absl::Now();
  const absl::Status s = gate.Admit(absl::InfiniteFuture());
  opener.join();
  INFO(s.ToString());
  CHECK(s.ok());
  CHECK(absl::Now() - start >= absl::Milliseconds(150));
  CHECK(gate.waited() == 1);
  CHECK(gate.refused() == 0);
  CHECK(f.projector->Lag() <= 5);
}

TEST_CASE("backlog: a wait that runs out is UNAVAILABLE naming the projector and its lag",
          "[unit][backlog]") {
  Fixture f;
  f.Append(20);
  SECTION("at the gate's bound on waiting") {
    BacklogGate gate({{"policy reactor", f.projector.get()}}, 5, absl::Milliseconds(100));
    const absl::Status s = gate.Admit(absl::InfiniteFuture());
    INFO(s.ToString());
    CHECK(absl::IsUnavailable(s));
    CHECK(absl::StrContains(s.message(), "policy reactor are 20 events behind"));
    CHECK(absl::StrContains(s.message(), "retry"));
    CHECK(gate.refused() == 1);
  }
  SECTION("at the caller's deadline, when that comes first") {
    BacklogGate gate({{"views", f.projector.get()}}, 5, absl::Seconds(60));
    const absl::Time start = absl::Now();
    const absl::Status s = gate.Admit(absl::Now() + absl::Milliseconds(100));
    CHECK(absl::IsUnavailable(s));
    CHECK(absl::Now() - start < absl::Seconds(10));
  }
}

TEST_CASE("backlog: closing the gate (server shutting down) refuses a waiting command at once",
          "[unit][backlog]") {
  Fixture f;
  f.Append(20);
  BacklogGate gate({{"views", f.projector.get()}}, 5, absl::Seconds(60));
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    gate.Close();
  });
  const absl::Time start = absl::Now();
  const absl::Status s = gate.Admit(absl::InfiniteFuture());
  closer.join();
  INFO(s.ToString());
  CHECK(absl::IsUnavailable(s));
  CHECK(absl::StrContains(s.message(), "shutting down"));
  CHECK(absl::Now() - start < absl::Seconds(5));  // not the gate's 60 s
  CHECK(gate.refused() == 1);
  // And a later one, without waiting for the 60 s either.
  CHECK(absl::IsUnavailable(gate.Admit(absl::InfiniteFuture())));
}

}  // namespace
}  // namespace perfledger::views_test
