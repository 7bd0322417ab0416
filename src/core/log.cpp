#include "core/log.h"

#include <atomic>
#include <cstdio>

namespace nb {

static std::atomic<int> g_level{int(LogLevel::Warn)};

void set_log_level(LogLevel level) { g_level.store(int(level)); }
LogLevel log_level() { return LogLevel(g_level.load()); }

void log(LogLevel level, const char* fmt, ...) {
  if (int(level) > g_level.load()) return;
  static const char* kTag[] = {"error", "warning", "info", "debug"};
  std::fprintf(stderr, "nibble %s: ", kTag[int(level)]);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

}  // namespace nb
