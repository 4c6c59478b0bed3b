#include "tools/perfctl/line_diff.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace perfctl {
namespace {

// Above this many table cells the middle is shown as replaced wholesale rather than aligned
// (about 100 MB of table; a 48 KiB document never gets near it).
constexpr size_t kTableCellsMax = 25'000'000;

// "a,b" of a hunk header: the first line (1-based; the line before an empty range) and count.
std::string Range(size_t first, size_t count) {
  if (count == 1) return absl::StrCat(first);
  return absl::StrCat(count == 0 ? first - 1 : first, ",", count);
}

}  // namespace

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::vector<DiffLine> DiffLines(const std::vector<std::string>& before,
                                const std::vector<std::string>& after) {
  size_t prefix = 0;
  while (prefix < before.size() && prefix < after.size() && before[prefix] == after[prefix]) {
    ++prefix;
  }
  size_t suffix = 0;
  while (suffix < before.size() - prefix && suffix < after.size() - prefix &&
         before[before.size() - 1 - suffix] == after[after.size() - 1 - suffix]) {
    ++suffix;
  }
  const size_t n = before.size() - prefix - suffix;
  const size_t m = after.size() - prefix - suffix;

  std::vector<DiffLine> out;
  out.reserve(before.size() + after.size());
  for (size_t i = 0; i < prefix; ++i) out.push_back({' ', before[i]});
  auto old_line = [&](size_t i) -> const std::string& { return before[prefix + i]; };
  auto new_line = [&](size_t j) -> const std::string& { return after[prefix + j]; };

  if (n == 0 || m == 0 || (n + 1) * (m + 1) > kTableCellsMax) {
    for (size_t i = 0; i < n; ++i) out.push_back({'-', old_line(i)});
    for (size_t j = 0; j < m; ++j) out.push_back({'+', new_line(j)});
  } else {
    // lcs[i][j]: length of the LCS of old[i..] and new[j..].
    const size_t width = m + 1;
    std::vector<uint32_t> lcs((n + 1) * width, 0);
    for (size_t i = n; i-- > 0;) {
      for (size_t j = m; j-- > 0;) {
        lcs[i * width + j] = old_line(i) == new_line(j)
                                 ? lcs[(i + 1) * width + j + 1] + 1
                                 : std::max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
      }
    }
    size_t i = 0;
    size_t j = 0;
    while (i < n && j < m) {
      if (old_line(i) == new_line(j)) {
        out.push_back({' ', old_line(i)});
        ++i;
        ++j;
      } else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
        out.push_back({'-', old_line(i++)});  // removals first, then additions
      } else {
        out.push_back({'+', new_line(j++)});
      }
    }
    while (i < n) out.push_back({'-', old_line(i++)});
    while (j < m) out.push_back({'+', new_line(j++)});
  }
  for (size_t i = before.size() - suffix; i < before.size(); ++i) out.push_back({' ', before[i]});
  return out;
}

std::string UnifiedDiff(const std::vector<DiffLine>& diff, const std::string& from_label,
                        const std::string& to_label, size_t context) {
  std::vector<size_t> changes;
  for (size_t k = 0; k < diff.size(); ++k) {
    if (diff[k].op != ' ') changes.push_back(k);
  }
  if (changes.empty()) return "";
  // Old and new line numbers (1-based) at each position of the script.
  std::vector<size_t> old_at(diff.size() + 1);
  std::vector<size_t> new_at(diff.size() + 1);
  size_t old_no = 1;
  size_t new_no = 1;
  for (size_t k = 0; k < diff.size(); ++k) {
    old_at[k] = old_no;
    new_at[k] = new_no;
    if (diff[k].op != '+') ++old_no;
    if (diff[k].op != '-') ++new_no;
  }
  old_at[diff.size()] = old_no;
  new_at[diff.size()] = new_no;

  std::string out = absl::StrCat("--- ", from_label, "\n+++ ", to_label, "\n");
  size_t c = 0;
  while (c < changes.size()) {
    // A hunk spans changes whose unchanged gap is at most 2 * context lines.
    size_t last = c;
    while (last + 1 < changes.size() && changes[last + 1] - changes[last] - 1 <= 2 * context) {
      ++last;
    }
    const size_t begin = changes[c] > context ? changes[c] - context : 0;
    const size_t end = std::min(diff.size(), changes[last] + context + 1);
    size_t old_count = 0;
    size_t new_count = 0;
    for (size_t k = begin; k < end; ++k) {
      if (diff[k].op != '+') ++old_count;
      if (diff[k].op != '-') ++new_count;
    }
    absl::StrAppend(&out, "@@ -", Range(old_at[begin], old_count), " +",
                    Range(new_at[begin], new_count), " @@\n");
    for (size_t k = begin; k < end; ++k) {
      out.push_back(diff[k].op);
      absl::StrAppend(&out, diff[k].text, "\n");
    }
    c = last + 1;
  }
  return out;
}

}  // namespace perfctl
