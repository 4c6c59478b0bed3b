#include "tools/perfctl/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "tools/perfctl/output.h"

namespace perfctl {

namespace {
constexpr int kBarWidth = 30;
constexpr absl::Duration kRedrawEvery = absl::Milliseconds(100);
}  // namespace

ProgressBar::ProgressBar(std::string label, uint64_t total_bytes, std::string verb)
    : label_(std::move(label)),
      total_bytes_(total_bytes),
      verb_(std::move(verb)),
      enabled_(isatty(STDERR_FILENO) == 1),
      started_(absl::Now()),
      last_draw_(absl::InfinitePast()) {}

void ProgressBar::Update(uint64_t bytes_done, uint64_t events_done) {
  if (!enabled_) return;
  const absl::Time now = absl::Now();
  if (now - last_draw_ < kRedrawEvery) return;
  last_draw_ = now;
  const double fraction =
      total_bytes_ == 0 ? 1.0 : std::min(1.0, static_cast<double>(bytes_done) / total_bytes_);
  const int filled = static_cast<int>(fraction * kBarWidth);
  const double seconds = std::max(absl::ToDoubleSeconds(now - started_), 1e-3);
  const auto rate = static_cast<uint64_t>(static_cast<double>(events_done) / seconds);
  std::string line = absl::StrFormat(
      "\r%s [%s%s] %3d%%  %s events %s  %s/s", label_, std::string(filled, '#'),
      std::string(kBarWidth - filled, '.'), static_cast<int>(fraction * 100),
      WithThousands(events_done), verb_, WithThousands(rate));
  std::fputs(line.c_str(), stderr);
  std::fputs("\033[K", stderr);  // erase leftovers of a longer previous line
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::Clear() {
  if (!drawn_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace perfctl
