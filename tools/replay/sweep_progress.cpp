#include "tools/replay/sweep_progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace cfsim::cli {

Progress::Progress(uint64_t total) : total_(total), tty_(isatty(STDERR_FILENO)) {}

void Progress::failure_line(const std::string& text) {
  clear();
  std::fprintf(stderr, "%s\n", text.c_str());
  draw(true);
}

void Progress::update(uint64_t done, uint64_t failed) {
  done_ = done;
  failed_ = failed;
  draw(false);
}

void Progress::clear() {
  if (tty_ && drawn_) std::fprintf(stderr, "\r\033[K");
  drawn_ = false;
}

void Progress::draw(bool force) {
  double t = clock_.seconds();
  double rate = t > 0 ? static_cast<double>(done_) / t : 0;
  double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0;
  std::string stats = fmt::format("{}/{} seeds, {} failed, {:.1f} seeds/s, ETA {}", done_, total_, failed_, rate,
                                  done_ == total_ ? "0s" : human_seconds(eta));
  if (tty_) {
    if (!force && t - last_draw_ < 0.1 && done_ != total_) return;
    last_draw_ = t;
    constexpr int kBar = 30;
    int filled = total_ ? static_cast<int>(kBar * done_ / total_) : kBar;
    std::fprintf(stderr, "\r\033[K[%s%s] %s", std::string(filled, '#').c_str(), std::string(kBar - filled, '.').c_str(),
                 stats.c_str());
    std::fflush(stderr);
    drawn_ = true;
  } else {
    uint64_t tenth = total_ ? done_ * 10 / total_ : 10;
    if (done_ == 0 || tenth == last_tenth_) return;
    last_tenth_ = tenth;
    std::fprintf(stderr, "sweep: %s\n", stats.c_str());
  }
}

}  // namespace cfsim::cli
