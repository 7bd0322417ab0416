// The command line: help everywhere, unknown flags and bad input are clear
// errors with a non-zero exit, never a crash.
#include <gtest/gtest.h>

#include <fstream>

#include "support/test_support.h"

namespace nb::test {
namespace {

const char* kSubcommands[] = {"run", "perplexity", "bench", "tokenize", "inspect", "convert"};

TEST(Cli, HelpOnEverySubcommand) {
  for (const char* sub : kSubcommands) {
    RunResult r = run_nibble({sub, "--help"});
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub << ": " << r.out;
  }
  EXPECT_EQ(run_nibble({"--help"}).exit_code, 0);
}

TEST(Cli, UnknownFlagsAndSubcommandsAreErrors) {
  for (const char* sub : kSubcommands) {
    RunResult r = run_nibble({sub, "--no-such-flag"});
    EXPECT_NE(r.exit_code, 0) << sub;
    EXPECT_NE(r.err.find("no-such-flag"), std::string::npos) << sub << ": " << r.err;
  }
  EXPECT_NE(run_nibble({"frobnicate"}).exit_code, 0);
  EXPECT_NE(run_nibble({}).exit_code, 0);
}

TEST(Cli, MissingModelFileIsNamed) {
  RunResult r = run_nibble({"run", "-m", "/nonexistent/model.gguf", "-p", "hi"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent/model.gguf"), std::string::npos) << r.err;
}

TEST(Cli, KernelBenchMeasuresEachFormatAndRejectsBadInput) {
  RunResult r = run_nibble({"bench", "--kernels", "--type", "q4_0,t1_6", "-r", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* row : {"| q4_0 | ", "| t1_6 | "}) {
    const size_t at = r.out.find(row);
    ASSERT_NE(at, std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("skipped", at), std::string::npos) << r.out;
  }
  r = run_nibble({"bench", "--kernels", "--type", "q4_0,nope"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("'nope'"), std::string::npos) << r.err;
  for (const char* other : {"--random", "--json", "-t"}) {
    std::vector<std::string> args = {"bench", "--kernels", other};
    if (std::string(other) != "--json") args.push_back(other[1] == 't' ? "2" : "tinyllama-1.1b");
    r = run_nibble(args);
    EXPECT_EQ(r.exit_code, 1) << other;
    EXPECT_NE(r.err.find("takes only --type"), std::string::npos) << r.err;
  }
}

// A whole-model bench: every test reported, and generation's bandwidth
// fraction computed from the probes taken just before and after its runs.
TEST(Cli, ModelBenchReportsGenerationAgainstItsOwnProbes) {
  RunResult r = run_nibble({"bench", "--random", "stories260k", "--type", "f32", "-p", "8", "-n", "8", "-r", "2",
                            "-t", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto number = [&](const std::string& key, size_t from) {
    const size_t at = r.out.find("\"" + key + "\": ", from);
    EXPECT_NE(at, std::string::npos) << key << " in " << r.out;
    return at == std::string::npos ? -1.0 : std::stod(r.out.substr(at + key.size() + 4));
  };
  const size_t gen = r.out.find("\"n_gen\": 8");
  ASSERT_NE(gen, std::string::npos) << r.out;
  const double before = number("read_bw_before_bytes_per_s", gen), after = number("read_bw_after_bytes_per_s", gen);
  const double bw = number("read_bw_bytes_per_s", gen), wbps = number("weights_bytes_per_s", gen);
  EXPECT_GT(before, 0);
  EXPECT_GT(after, 0);
  EXPECT_NEAR(bw, (before + after) / 2, 1.0);
  EXPECT_NEAR(number("bw_fraction", gen), wbps / bw, 1e-4);
}

TEST(Cli, BadPromptInputIsRejected) {
  NB_REQUIRE_DATA("models/stories260K/stories260K.bin");
  const std::string m = data_path("models/stories260K/stories260K.bin"), tok = data_path("models/stories260K/tok512.bin");
  // invalid UTF-8 in the prompt
  RunResult r = run_nibble({"run", "-m", m, "--tokenizer", tok, "-p", "abc\xff\xfe", "-n", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("UTF-8"), std::string::npos) << r.err;
  // token ids: not a number, and out of the vocabulary
  std::string ids = temp_path("bad.ids");
  std::ofstream(ids) << "1 2 banana 4\n";
  r = run_nibble({"run", "-m", m, "--prompt-ids", ids, "-n", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("banana"), std::string::npos) << r.err;
  std::ofstream(ids) << "1 99999\n";
  r = run_nibble({"run", "-m", m, "--prompt-ids", ids, "-n", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("99999"), std::string::npos) << r.err;
  // a model without a tokenizer still runs from ids
  std::ofstream(ids) << "1 403 407\n";
  r = run_nibble({"run", "-m", m, "--prompt-ids", ids, "-n", "3", "--temp", "0", "--ids-out", temp_path("o.ids")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_ids(temp_path("o.ids")).size(), 6u);
}

TEST(Cli, LogitsOutIsANpyOfEveryEvaluatedPosition) {
  NB_REQUIRE_DATA("models/stories260K/stories260K.bin");
  std::string ids = temp_path("p.ids"), npy = temp_path("l.npy");
  std::ofstream(ids) << "1 403 407 261\n";
  RunResult r = run_nibble({"run", "-m", data_path("models/stories260K/stories260K.bin"), "--prompt-ids", ids, "-n", "0",
                            "--logits-out", npy});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string data = read_file(npy);
  ASSERT_GT(data.size(), 128u);
  EXPECT_EQ(data.substr(1, 5), "NUMPY");
  EXPECT_NE(data.find("'shape': (4, 512)"), std::string::npos);
  uint16_t hlen = uint16_t(uint8_t(data[8]) | (uint8_t(data[9]) << 8));
  EXPECT_EQ(data.size(), 10u + hlen + 4u * 512u * 4u);
}

}  // namespace
}  // namespace nb::test
