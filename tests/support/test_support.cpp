#include "support/test_support.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

namespace nb::test {

std::string data_path(const std::string& rel) {
  const char* env = std::getenv("NIBBLE_DATA");
  return std::string(env ? env : NIBBLE_DATA_DIR) + "/" + rel;
}

bool data_available(const std::string& rel) {
  struct stat st {};
  return stat(data_path(rel).c_str(), &st) == 0;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<int32_t> read_ids(const std::string& path) {
  std::ifstream f(path);
  std::vector<int32_t> ids;
  long long v;
  while (f >> v) ids.push_back(int32_t(v));
  return ids;
}

std::vector<std::vector<int32_t>> read_lines_of_ids(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<int32_t>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::vector<int32_t> ids;
    long long v;
    while (ss >> v) ids.push_back(int32_t(v));
    if (!ids.empty()) out.push_back(ids);
  }
  return out;
}

std::unique_ptr<Model> load_model_at(const std::string& path, const LoadOptions& opts) {
  auto mf = io::open_model(path);
  EXPECT_TRUE(mf.ok()) << mf.status().message();
  if (!mf.ok()) return nullptr;
  auto m = load_model(std::make_shared<const io::ModelFile>(std::move(mf).value()), opts);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(m).value() : nullptr;
}

std::string temp_path(const std::string& name) {
  std::string dir = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/nibble-test-" +
                    std::to_string(getpid());
  mkdir(dir.c_str(), 0700);
  return dir + "/" + name;
}

static std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

RunResult run_nibble(const std::vector<std::string>& args) {
  std::string out = temp_path("stdout.txt"), err = temp_path("stderr.txt");
  std::string cmd = quote(NIBBLE_BINARY);
  for (auto& a : args) cmd += " " + quote(a);
  cmd += " >" + quote(out) + " 2>" + quote(err) + " </dev/null";
  int rc = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

std::vector<float> normal_values(size_t n, uint32_t seed, float sigma) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

}  // namespace nb::test
