// goals: the alignment tree from strategy to person with each key result's latest value.
//   "g/<goal>"            → GoalNode (children empty; the query assembles the tree)
//   "k/<parent>/<child>"  → "" (alignment index)
//   "t/<cycle>/<goal>"    → "" (top-level goals of a cycle)
//   "p/<goal>"            → parent goal id (empty for top level)
#include "ledger/status_macros.h"
#include "perfledger/v1/views.pb.h"
#include "projections/keys.h"
#include "projections/views/views.h"

namespace perfledger::projections {
namespace {

void SetKeyResults(v1::GoalNode& node,
                   const google::protobuf::RepeatedPtrField<v1::KeyResult>& krs) {
  // Keep the latest value of key results that survive a revision.
  std::vector<v1::KeyResultStatus> old(node.key_results().begin(), node.key_results().end());
  node.clear_key_results();
  for (const auto& kr : krs) {
    auto* s = node.add_key_results();
    s->set_key_result_id(kr.key_result_id());
    s->set_description(kr.description());
    s->set_target_milli(kr.target_milli());
    s->set_weight_bp(kr.weight_bp());
    s->set_current_milli(kr.start_milli());
    for (const auto& o : old) {
      if (o.key_result_id() == kr.key_result_id()) {
        s->set_current_milli(o.current_milli());
        s->set_progress_bp(o.progress_bp());
      }
    }
  }
}

class GoalsView final : public View {
 public:
  std::string_view name() const override { return "goals"; }
  absl::Status Apply(const v1::Envelope&, const v1::Event& event, ViewTxn& txn) override {
    switch (event.body_case()) {
      case v1::Event::kGoalSet: {
        const auto& g = event.goal_set();
        v1::GoalNode node;
        node.set_goal_id(g.goal_id());
        node.set_title(g.title());
        node.set_owner_kind(g.owner_kind());
        node.set_owner_id(g.owner_id());
        node.set_cycle_id(g.cycle_id());
        node.set_weight_bp(g.weight_bp());
        SetKeyResults(node, g.key_results());
        txn.PutOwned(Key({"g", g.goal_id()}), node.SerializeAsString());
        Link(txn, g.cycle_id(), "", g.parent_goal_id(), g.goal_id());
        return absl::OkStatus();
      }
      case v1::Event::kGoalRevised: {
        const auto& g = event.goal_revised();
        ASSIGN_OR_RETURN(auto node, Load(txn, g.goal_id()));
        if (!node) return absl::OkStatus();
        // The parent is not in GoalNode; find it through the old index entries.
        ASSIGN_OR_RETURN(std::string old_parent, ParentOf(txn, *node));
        node->set_title(g.title());
        node->set_weight_bp(g.weight_bp());
        SetKeyResults(*node, g.key_results());
        txn.PutOwned(Key({"g", g.goal_id()}), node->SerializeAsString());
        if (old_parent != g.parent_goal_id()) {
          Unlink(txn, node->cycle_id(), old_parent, g.goal_id());
          Link(txn, node->cycle_id(), old_parent, g.parent_goal_id(), g.goal_id());
        }
        return absl::OkStatus();
      }
      case v1::Event::kKeyResultProgressRecorded: {
        const auto& p = event.key_result_progress_recorded();
        ASSIGN_OR_RETURN(auto node, Load(txn, p.goal_id()));
        if (!node) return absl::OkStatus();
        for (auto& kr : *node->mutable_key_results()) {
          if (kr.key_result_id() == p.key_result_id()) {
            kr.set_current_milli(p.value_milli());
            kr.set_progress_bp(p.progress_bp());
          }
        }
        txn.PutOwned(Key({"g", p.goal_id()}), node->SerializeAsString());
        return absl::OkStatus();
      }
      case v1::Event::kGoalClosed: {
        const auto& c = event.goal_closed();
        ASSIGN_OR_RETURN(auto node, Load(txn, c.goal_id()));
        if (!node) return absl::OkStatus();
        node->set_closed(true);
        node->set_okr_grade_milli(c.okr_grade_milli());
        txn.PutOwned(Key({"g", c.goal_id()}), node->SerializeAsString());
        return absl::OkStatus();
      }
      default:
        return absl::OkStatus();
    }
  }

 private:
  static absl::StatusOr<std::optional<v1::GoalNode>> Load(ViewTxn& txn, const std::string& id) {
    ASSIGN_OR_RETURN(auto value, txn.Get(Key({"g", id})));
    if (!value) return std::optional<v1::GoalNode>();
    v1::GoalNode node;
    node.ParseFromString(*value);
    return std::optional<v1::GoalNode>(std::move(node));
  }

  // The parent is stored in a "p/<goal>" row.
  static absl::StatusOr<std::string> ParentOf(ViewTxn& txn, const v1::GoalNode& node) {
    ASSIGN_OR_RETURN(auto value, txn.Get(Key({"p", node.goal_id()})));
    return value ? *value : std::string();
  }

  static void Link(ViewTxn& txn, const std::string& cycle, const std::string&,
                   const std::string& parent, const std::string& goal) {
    txn.Put(Key({"p", goal}), parent);
    if (parent.empty()) {
      txn.Put(Key({"t", cycle, goal}), "");
    } else {
      txn.Put(Key({"k", parent, goal}), "");
    }
  }

  static void Unlink(ViewTxn& txn, const std::string& cycle, const std::string& parent,
                     const std::string& goal) {
    if (parent.empty()) {
      txn.Delete(Key({"t", cycle, goal}));
    } else {
      txn.Delete(Key({"k", parent, goal}));
    }
  }
};

}  // namespace

std::unique_ptr<View> MakeGoalsView() { return std::make_unique<GoalsView>(); }

}  // namespace perfledger::projections
