// A one-line progress bar on stderr for long imports: percent of the file, events sent, rate.
// Silent unless stderr is a terminal, so logs and pipes never see carriage returns.
//
// Thread safety: none; update from the thread that does the work.
#ifndef PERFLEDGER_TOOLS_PERFCTL_PROGRESS_H_
#define PERFLEDGER_TOOLS_PERFCTL_PROGRESS_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace perfctl {

class ProgressBar {
 public:
  // `verb` completes "N events <verb>" ("sent" for imports, "checked" for a verification).
  ProgressBar(std::string label, uint64_t total_bytes, std::string verb = "sent");
  ~ProgressBar() { Clear(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Redraws at most every 100 ms.
  void Update(uint64_t bytes_done, uint64_t events_done);
  // Erases the bar; the caller prints its own summary afterwards.
  void Clear();

 private:
  std::string label_;
  uint64_t total_bytes_;
  std::string verb_;
  bool enabled_;
  bool drawn_ = false;
  absl::Time started_;
  absl::Time last_draw_;
};

}  // namespace perfctl

#endif  // PERFLEDGER_TOOLS_PERFCTL_PROGRESS_H_
