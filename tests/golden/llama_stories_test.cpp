// stories260K through the nibble binary: greedy and sampled runs must print
// exactly what llama2.c's run.c printed, with the same token ids, from both
// the llama2.c checkpoint and llama.cpp's GGUF conversion of it.
#include <gtest/gtest.h>

#include "support/test_support.h"

namespace nb::test {
namespace {

const std::string kBin = "models/stories260K/stories260K.bin";
const std::string kTok = "models/stories260K/tok512.bin";
const std::string kGguf = "models/gguf-small/stories260K.gguf";

struct Case {
  const char* prompt;
  const char* n;     // llama.cpp semantics: tokens to generate (run.c's -n 200 counts prompt steps too)
  const char* ref;   // file stem under reference/
};
const Case kCases[] = {
    {"", "200", "stories260K-greedy"},
    {"Once upon a time", "196", "stories260K-greedy-once-upon-a-time"},
    {"Lily and Ben", "196", "stories260K-greedy-lily-and-ben"},
};

void expect_run(std::vector<std::string> args, const std::string& ref_stem) {
  std::string ids_out = temp_path(ref_stem + ".ids");
  args.insert(args.end(), {"--ids-out", ids_out, "-t", "2"});
  RunResult r = run_nibble(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, read_file(data_path("reference/" + ref_stem + ".txt")));
  EXPECT_EQ(read_ids(ids_out), read_ids(data_path("reference/" + ref_stem + ".ids.txt")));
}

TEST(Stories260K, GreedyMatchesLlama2c) {
  NB_REQUIRE_DATA(kBin);
  for (const Case& c : kCases)
    expect_run({"run", "-m", data_path(kBin), "--tokenizer", data_path(kTok), "-p", c.prompt, "--temp", "0", "-n", c.n},
               c.ref);
}

TEST(Stories260K, GgufGreedyMatchesLlama2c) {
  NB_REQUIRE_DATA(kGguf);
  for (const Case& c : kCases)
    expect_run({"run", "-m", data_path(kGguf), "-p", c.prompt, "--temp", "0", "-n", c.n}, c.ref);
}

TEST(Stories260K, SampledTopPMatchesLlama2c) {
  NB_REQUIRE_DATA(kBin);
  // run.c's sampler: temperature 1, top-p 0.9, seed 133742; top-k and min-p off.
  expect_run({"run", "-m", data_path(kBin), "--tokenizer", data_path(kTok), "--temp", "1.0", "--top-p", "0.9",
              "--top-k", "0", "--min-p", "0", "-s", "133742", "-n", "256"},
             "stories260K-t1.0-p0.9-s133742");
}

TEST(Stories260K, SameOutputForAnyThreadCount) {
  NB_REQUIRE_DATA(kBin);
  std::string out1;
  for (const char* t : {"1", "2", "3"}) {
    RunResult r = run_nibble({"run", "-m", data_path(kBin), "--tokenizer", data_path(kTok), "--temp", "0.8", "-s", "7",
                              "-n", "64", "-t", t});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    if (out1.empty()) out1 = r.out;
    EXPECT_EQ(r.out, out1) << "threads " << t;
  }
}

}  // namespace
}  // namespace nb::test
