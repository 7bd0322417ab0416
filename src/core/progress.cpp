#include "core/progress.h"

#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace nb {

Progress::Progress(std::string label, int64_t total)
    : label_(std::move(label)), total_(total > 0 ? total : 1) {
  const char* env = std::getenv("NIBBLE_PROGRESS");
  enabled_ = env ? std::atoi(env) != 0 : isatty(STDERR_FILENO) != 0;
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { finish(); }

void Progress::update(int64_t done) {
  done_ = done > total_ ? total_ : done;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ > std::chrono::milliseconds(100)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void Progress::draw(bool final) {
  if (!enabled_) return;
  double frac = double(done_) / double(total_);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double eta = frac > 0 ? secs * (1 - frac) / frac : 0;
  const int width = 30;
  int fill = int(frac * width);
  std::string bar(size_t(fill), '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r%s [%s] %3d%% %lld/%lld  %.1fs elapsed, ETA %.1fs ", label_.c_str(), bar.c_str(),
               int(frac * 100), (long long)done_, (long long)total_, secs, eta);
  if (final) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace nb
