// Helpers shared by the tests: where the shared data lives, reading small
// files, running the nibble binary.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace nb::test {

// Absolute path of a file under ../shared/data (or $NIBBLE_DATA).
std::string data_path(const std::string& rel);
bool data_available(const std::string& rel);
std::string read_file(const std::string& path);
std::vector<int32_t> read_ids(const std::string& path);  // whitespace-separated ints
std::string temp_path(const std::string& name);          // unique per test process

struct RunResult {
  int exit_code;
  std::string out, err;
};
// Run the built `nibble` binary with arguments (shell-quoted here).
RunResult run_nibble(const std::vector<std::string>& args);

}  // namespace nb::test

#define NB_REQUIRE_DATA(rel)                                            \
  do {                                                                  \
    if (!::nb::test::data_available(rel)) GTEST_SKIP() << "no " << rel; \
  } while (0)
