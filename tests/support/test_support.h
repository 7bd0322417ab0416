// Helpers shared by the tests: where the shared data lives, reading small
// files, running the nibble binary.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/model.h"

namespace nb::test {

// Absolute path of a file under ../shared/data (or $NIBBLE_DATA).
std::string data_path(const std::string& rel);
bool data_available(const std::string& rel);
std::string read_file(const std::string& path);
std::vector<int32_t> read_ids(const std::string& path);  // whitespace-separated ints
// One id sequence per non-empty line (the models' ids.txt files).
std::vector<std::vector<int32_t>> read_lines_of_ids(const std::string& path);
// Opens and loads a model; on error records a test failure and returns nullptr.
std::unique_ptr<Model> load_model_at(const std::string& path, const LoadOptions& opts = {});
std::string temp_path(const std::string& name);          // unique per test process
// n draws of N(0, sigma²) from mt19937(seed): the same values on every platform's libstdc++.
std::vector<float> normal_values(size_t n, uint32_t seed, float sigma = 1.0f);

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
