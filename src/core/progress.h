// A progress bar on stderr for long work (loading, perplexity, convert).
// Drawn only when stderr is a terminal or NIBBLE_PROGRESS=1; otherwise silent,
// so logs and tests stay clean.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace nb {

class Progress {
 public:
  Progress(std::string label, int64_t total);
  ~Progress();
  void update(int64_t done);  // absolute count
  void add(int64_t n = 1) { update(done_ + n); }
  void finish();

 private:
  void draw(bool final);
  std::string label_;
  int64_t total_, done_ = 0;
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace nb
