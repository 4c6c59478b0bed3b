// Small-group suppression for aggregates shown outside HR (ARCHITECTURE §9): a count of fewer than k
// people is hidden, and so is enough of the rest that no hidden count can be recovered by
// subtracting the shown ones from the total.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace perfledger::projections {

struct Suppression {
  // Per cell: hidden from the caller.
  std::vector<bool> cells;
  // The whole group is smaller than k: the total (and so every cell) is hidden.
  bool total = false;
};

// Primary suppression: every cell with 0 < count < k. Complementary: while exactly one cell is
// hidden (the total minus the shown cells would give it away), the smallest shown non-zero
// cell is hidden too; hiding zeros protects nothing, since a zero is no group. Empty cells
// (count 0) stay shown.
Suppression SuppressSmallCells(const std::vector<uint64_t>& counts, uint32_t k);

}  // namespace perfledger::projections
