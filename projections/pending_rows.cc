#include "projections/pending_rows.h"

#include <algorithm>
#include <utility>

namespace perfledger::projections {

const std::optional<std::string>* FindNewest(const PendingRows& batches, std::string_view key) {
  for (auto r = batches.rbegin(); r != batches.rend(); ++r) {
    if (auto it = r->find(key); it != r->end()) return &it->second;
  }
  return nullptr;
}

void MergePending(PendingRows& pending) {
  while (pending.size() >= 2 && pending.back().size() * 2 >= pending[pending.size() - 2].size()) {
    ViewRows merged;
    const std::vector<const ViewRows*> sets = {&pending[pending.size() - 2], &pending.back()};
    for (MergedRows m(sets, ""); !m.done(); m.Next()) {
      merged.emplace_hint(merged.end(), m.top());
    }
    pending.pop_back();
    pending.back().swap(merged);
  }
}

void AddSets(const PendingRows& pending, std::vector<const ViewRows*>& sets) {
  for (const ViewRows& r : pending) sets.push_back(&r);
}

MergedRows::MergedRows(const std::vector<const ViewRows*>& sets, std::string_view from) {
  for (size_t i = 0; i < sets.size(); i++) {
    auto it = sets[i]->lower_bound(from);
    if (it != sets[i]->end()) heap_.push_back({it, sets[i]->end(), i});
  }
  std::make_heap(heap_.begin(), heap_.end(), After);
}

}  // namespace perfledger::projections
