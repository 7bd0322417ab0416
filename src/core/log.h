// Minimal logging to stderr. Verbosity is set once by the CLI (-v / --quiet).
#pragma once
#include <cstdarg>

namespace nb {

enum class LogLevel { Error = 0, Warn = 1, Info = 2, Debug = 3 };
void set_log_level(LogLevel level);
LogLevel log_level();
void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace nb

#define NB_LOG_INFO(...) ::nb::log(::nb::LogLevel::Info, __VA_ARGS__)
#define NB_LOG_WARN(...) ::nb::log(::nb::LogLevel::Warn, __VA_ARGS__)
#define NB_LOG_DEBUG(...) ::nb::log(::nb::LogLevel::Debug, __VA_ARGS__)
