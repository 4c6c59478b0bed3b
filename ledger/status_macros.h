// Small helpers around absl::Status. Debian's Abseil (20220623) has no status_macros.h.
#pragma once

#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PL_CONCAT_INNER_(a, b) a##b
#define PL_CONCAT_(a, b) PL_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                         \
  do {                                                \
    ::absl::Status pl_status_ = (expr);               \
    if (!pl_status_.ok()) return pl_status_;          \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates a StatusOr; returns its status on error, otherwise
// moves the value into `lhs` (which may be a declaration, e.g. `auto x`).
#define ASSIGN_OR_RETURN(lhs, expr) \
  PL_ASSIGN_OR_RETURN_IMPL_(PL_CONCAT_(pl_statusor_, __LINE__), lhs, expr)
#define PL_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return std::move(tmp).status();  \
  lhs = std::move(tmp).value()

// An invariant that must hold in release builds too ("cannot happen": hash chain continuity,
// offsets strictly increasing). Operating errors are returned as Status, never CHECKed.
#define PL_CHECK(cond)                                                                     \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)
