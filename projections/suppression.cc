#include "projections/suppression.h"

namespace perfledger::projections {

Suppression SuppressSmallCells(const std::vector<uint64_t>& counts, uint32_t k) {
  Suppression out;
  out.cells.assign(counts.size(), false);
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  if (total < k) {
    out.total = true;
    out.cells.assign(counts.size(), true);
    return out;
  }
  size_t hidden = 0;
  for (size_t i = 0; i < counts.size(); i++) {
    if (counts[i] > 0 && counts[i] < k) {
      out.cells[i] = true;
      hidden++;
    }
  }
  if (hidden == 1) {
    // One hidden cell equals total minus the rest: hide the smallest other non-zero cell.
    size_t pick = counts.size();
    for (size_t i = 0; i < counts.size(); i++) {
      if (out.cells[i] || counts[i] == 0) continue;
      if (pick == counts.size() || counts[i] < counts[pick]) pick = i;
    }
    if (pick < counts.size()) {
      out.cells[pick] = true;
    } else {
      // No other non-zero cell: the hidden one is the whole group, known from the total.
      out.total = true;
      out.cells.assign(counts.size(), true);
    }
  }
  return out;
}

}  // namespace perfledger::projections
