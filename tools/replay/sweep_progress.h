#pragma once
// A sweep's progress on stderr: a bar redrawn in place on a terminal (seeds done, failures,
// seeds/s, ETA), a plain line per tenth of the sweep otherwise; a failing seed's line in between.

#include <cstdint>
#include <string>

#include "tools/replay/cli_common.h"

namespace cfsim::cli {

class Progress {
 public:
  explicit Progress(uint64_t total);
  void failure_line(const std::string& text);  // one line above the bar
  void update(uint64_t done, uint64_t failed);
  void finish() { clear(); }

 private:
  void clear();
  void draw(bool force);

  uint64_t total_, done_ = 0, failed_ = 0;
  bool tty_, drawn_ = false;
  uint64_t last_tenth_ = 0;
  double last_draw_ = -1;
  Stopwatch clock_;
};

}  // namespace cfsim::cli
