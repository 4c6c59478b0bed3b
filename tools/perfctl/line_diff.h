// A line diff for small documents (policy JSON): longest common subsequence of lines, printed
// as unified-diff hunks. No dependency beyond the standard library.
#ifndef PERFLEDGER_TOOLS_PERFCTL_LINE_DIFF_H_
#define PERFLEDGER_TOOLS_PERFCTL_LINE_DIFF_H_

#include <cstddef>
#include <string>
#include <vector>

namespace perfctl {

struct DiffLine {
  char op;  // ' ' kept, '-' only in the old text, '+' only in the new text
  std::string text;
};

// The lines of `text` split at '\n' (a trailing newline adds no empty last line).
std::vector<std::string> SplitLines(const std::string& text);

// An edit script turning `before` into `after` with the fewest changed lines (LCS). Common
// leading and trailing lines are matched first, so the quadratic table only covers the middle;
// the caller bounds the input (policy documents are at most 48 KiB).
std::vector<DiffLine> DiffLines(const std::vector<std::string>& before,
                                const std::vector<std::string>& after);

// Unified-diff text: "--- from_label", "+++ to_label", then "@@ -a,b +c,d @@" hunks with
// `context` unchanged lines around each change. Empty when the texts are equal.
std::string UnifiedDiff(const std::vector<DiffLine>& diff, const std::string& from_label,
                        const std::string& to_label, size_t context = 3);

}  // namespace perfctl

#endif  // PERFLEDGER_TOOLS_PERFCTL_LINE_DIFF_H_
