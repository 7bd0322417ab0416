// llama.cpp's KL-divergence mode of `nibble perplexity` on real models:
// --kl-divergence-base writes the base run's compressed log-probs, and
// --kl-divergence compares a model with them.
//
// How "KLD ≈ 0 against itself" is bounded: nibble's logits do not depend on
// anything but the input, so a model compared with its own base file differs
// only by the file's compression. Each stored log p_base,i is the exact one
// plus an error |e_i| <= scale/2 (the code's rounding), so per token
//   |KLD_t| = |sum_i p_base,i · e_i| <= scale/2 · e^(scale/2)   (p_base sums to <= e^(scale/2))
// with scale <= 16/65535, i.e. |KLD_t| <= 1.2209e-4 nats, and
// |NLL_Q,t - NLL_base,t| <= scale/2 unless the target lies below the 16-nat
// floor (its stored log p is then min_log_prob, a cap). The top choice can
// differ only where the top two codes tie (two logits within scale/2).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "eval/kld_codec.h"
#include "eval/kld_file.h"
#include "support/test_support.h"

namespace nb::test {
namespace {

using Json = nlohmann::json;

const char* kStories = "models/stories260K/stories260K.bin";
const char* kTok512 = "models/stories260K/tok512.bin";

// Float arithmetic of the per-token sums (terms of magnitude up to ~16 nats,
// float ulp 1.9e-6, weighted by probabilities summing to 1): 1e-5 covers it.
constexpr double kFloatSlack = 1e-5;

double final_ppl(const RunResult& r) {
  std::smatch m;
  static const std::regex re("Final estimate: PPL = ([0-9.]+)");
  return std::regex_search(r.out, m, re) ? std::stod(m[1]) : NAN;
}

// A text file of the first `bytes` bytes of a shared text.
std::string head_of(const std::string& rel, size_t bytes, const std::string& name) {
  std::string path = temp_path(name);
  std::ofstream(path, std::ios::binary) << read_file(data_path(rel)).substr(0, bytes);
  return path;
}

// The four stories260K texts of reference/ (the model's own greedy and
// sampled output): in-domain text, no target below the 16-nat floor.
std::string stories_text() {
  std::string path = temp_path("stories.txt"), all;
  for (const char* f : {"reference/stories260K-greedy.txt", "reference/stories260K-greedy-lily-and-ben.txt",
                        "reference/stories260K-greedy-once-upon-a-time.txt",
                        "reference/stories260K-t1.0-p0.9-s133742.txt"})
    all += read_file(data_path(f));
  std::ofstream(path, std::ios::binary) << all;
  return path;
}

// What the test reads back from a base file with the library.
struct FileFacts {
  int64_t scored = 0, floored_targets = 0, tied_tops = 0;
  double max_half_scale = 0;
  double mean_nll_base = 0;  // of the stored (decoded) target log-probs
};

FileFacts facts_of(const std::string& path) {
  FileFacts f;
  auto file = kld::BaseFile::open(path);
  EXPECT_TRUE(file.ok()) << file.status().message();
  if (!file.ok()) return f;
  const kld::BaseView& v = file->view();
  const std::vector<int32_t> tokens = v.tokens();
  const int64_t W = kld::record_words(v.n_vocab);
  std::vector<uint16_t> recs;
  double nll = 0;
  for (int64_t c = 0; c < v.n_chunk; ++c) {
    EXPECT_TRUE(v.chunk_records(c, recs).ok());
    for (int64_t j = 0; j < v.per_chunk(); ++j) {
      const uint16_t* rec = &recs[size_t(j * W)];
      const kld::RecordHeader h = kld::record_header(rec);
      const uint16_t* codes = kld::record_codes(rec);
      const int32_t target = tokens[size_t(c * v.n_ctx + v.first() + j + 1)];
      f.max_half_scale = std::max(f.max_half_scale, double(h.scale) / 2);
      f.floored_targets += codes[target] == 0 && h.min_log_prob <= -kld::kLogProbRange;
      nll -= kld::decode_log_prob(h, codes[target]);
      uint16_t top = 0, second = 0;
      for (int64_t i = 0; i < v.n_vocab; ++i) {
        if (codes[i] > top) second = top, top = codes[i];
        else if (codes[i] > second) second = codes[i];
      }
      f.tied_tops += v.n_vocab > 1 && top == second;
      ++f.scored;
    }
  }
  f.mean_nll_base = nll / double(f.scored);
  return f;
}

Json read_json(const std::string& path) {
  std::ifstream in(path);
  Json j = Json::parse(in, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << path;
  return j;
}

struct KldRun {
  RunResult r;
  Json j;
};

KldRun kld_run(const std::vector<std::string>& model_args, const std::string& base, const std::string& threads = "2") {
  std::string js = temp_path("kld.json");
  std::remove(js.c_str());
  std::vector<std::string> args = {"perplexity"};
  args.insert(args.end(), model_args.begin(), model_args.end());
  for (const char* a : {"--kl-divergence", "--kl-divergence-base"}) args.push_back(a);
  args.push_back(base);
  args.insert(args.end(), {"--kl-json", js, "-t", threads});
  KldRun k{run_nibble(args), {}};
  EXPECT_EQ(k.r.exit_code, 0) << k.r.err;
  if (k.r.exit_code == 0) k.j = read_json(js);
  return k;
}

// Per-token KLD of a model against its own base file, from the bound above.
void expect_at_compression_floor(const Json& j, const FileFacts& f) {
  const double bound = f.max_half_scale * std::exp(f.max_half_scale) + kFloatSlack;
  EXPECT_LE(f.max_half_scale, kld::kLogProbRange / 65535 / 2 * (1 + 1e-6));
  EXPECT_LE(j["kld"]["max"].get<double>(), bound);
  EXPECT_GE(j["kld"]["min"].get<double>(), -bound);
  EXPECT_LE(std::fabs(j["kld"]["mean"].get<double>()), bound);
  const int64_t n = j["tokens_scored"];
  EXPECT_EQ(n, f.scored);
  const double same = j["same_top"]["value"].get<double>() * double(n);
  EXPECT_GE(same + 0.5, double(n - f.tied_tops)) << "top choices may differ only where the top codes tie";
}

TEST(KldGolden, Stories260KAgainstItselfIsAtTheCompressionFloor) {
  NB_REQUIRE_DATA(kStories);
  const std::string m = data_path(kStories), tok = data_path(kTok512), text = stories_text();
  const std::string base = temp_path("self.kld");
  RunResult b = run_nibble({"perplexity", "-m", m, "--tokenizer", tok, "-f", text, "-c", "64", "-t", "2",
                            "--kl-divergence-base", base});
  ASSERT_EQ(b.exit_code, 0) << b.err;

  // llama.cpp's layout: 20-byte header, the tokens, n_chunk × 31 records of (512 + 4) uint16.
  const std::string bytes = read_file(base);
  ASSERT_GE(bytes.size(), 20u);
  EXPECT_EQ(bytes.substr(0, 8), "_logits_");
  int32_t hdr[3];
  std::memcpy(hdr, bytes.data() + 8, 12);
  EXPECT_EQ(hdr[0], 64);
  EXPECT_EQ(hdr[1], 512);
  EXPECT_EQ(bytes.size(), 20 + size_t(hdr[2]) * 64 * 4 + size_t(hdr[2]) * 31 * 516 * 2);

  const FileFacts f = facts_of(base);
  ASSERT_EQ(f.floored_targets, 0) << "the in-domain text should keep every target above the floor";
  KldRun k = kld_run({"-m", m, "--tokenizer", tok, "-f", text}, base);  // -f: checked against the file's tokens
  ASSERT_EQ(k.r.exit_code, 0);
  std::printf("stories260K vs itself: %lld tokens, KLD mean %.3g [%.3g, %.3g], same top %.4f%% (%lld tied top codes), "
              "ln ratio %.3g, dPPL %.3g\n",
              (long long)f.scored, k.j["kld"]["mean"].get<double>(), k.j["kld"]["min"].get<double>(),
              k.j["kld"]["max"].get<double>(), 100 * k.j["same_top"]["value"].get<double>(), (long long)f.tied_tops,
              k.j["ln_ppl_ratio"]["value"].get<double>(), k.j["ppl_diff"]["value"].get<double>());
  expect_at_compression_floor(k.j, f);
  // No target is floored, so each token's NLL differs by <= scale/2.
  const double ppl_base = k.j["ppl_base"]["value"], ppl_q = k.j["ppl_q"]["value"];
  EXPECT_LE(std::fabs(k.j["ln_ppl_ratio"]["value"].get<double>()), f.max_half_scale + kFloatSlack);
  EXPECT_LE(std::fabs(k.j["ppl_diff"]["value"].get<double>()), ppl_base * std::expm1(f.max_half_scale + kFloatSlack));
  // PPL(Q) is the base run's own perplexity (printed to 4 decimals), and
  // PPL(base) what the file stores.
  EXPECT_NEAR(ppl_q, final_ppl(b), 1e-4 + 1e-5 * ppl_q);
  EXPECT_NEAR(std::log(ppl_base), f.mean_nll_base, 1e-6);
  EXPECT_NE(k.r.out.find("====== KL divergence statistics ======"), std::string::npos);
  EXPECT_NE(k.r.out.find("Same top p: "), std::string::npos);
}

// llama.cpp's own GGUF of stories260K (gguf-small, its converter) against a
// base file from the llama2.c checkpoint, on Shakespeare: the same weights,
// so the same floor. Out-of-domain text puts some targets below the 16-nat
// floor; their stored NLL is capped, which makes PPL(base) smaller: llama.cpp
// reports the same bias, so only ln ratio >= -scale/2 holds there.
TEST(KldGolden, Stories260KLlamaCppGgufMatchesTheCheckpoint) {
  NB_REQUIRE_DATA(kStories);
  NB_REQUIRE_DATA("models/gguf-small/stories260K.gguf");
  const std::string text = head_of("text/tinyshakespeare.txt", 40000, "shakespeare.txt");
  const std::string base = temp_path("shakespeare.kld");
  RunResult b = run_nibble({"perplexity", "-m", data_path(kStories), "--tokenizer", data_path(kTok512), "-f", text,
                            "-c", "128", "-t", "2", "--kl-divergence-base", base});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const FileFacts f = facts_of(base);
  KldRun k = kld_run({"-m", data_path("models/gguf-small/stories260K.gguf")}, base);
  ASSERT_EQ(k.r.exit_code, 0);
  std::printf("stories260K.gguf vs .bin on Shakespeare: %lld tokens (%lld floored targets), KLD mean %.3g max %.3g, "
              "same top %.4f%%, ln ratio %.5f\n",
              (long long)f.scored, (long long)f.floored_targets, k.j["kld"]["mean"].get<double>(),
              k.j["kld"]["max"].get<double>(), 100 * k.j["same_top"]["value"].get<double>(),
              k.j["ln_ppl_ratio"]["value"].get<double>());
  expect_at_compression_floor(k.j, f);
  EXPECT_GE(k.j["ln_ppl_ratio"]["value"].get<double>(), -f.max_half_scale - kFloatSlack);
  if (f.floored_targets == 0)
    EXPECT_LE(k.j["ln_ppl_ratio"]["value"].get<double>(), f.max_half_scale + kFloatSlack);
  EXPECT_NEAR(k.j["ppl_q"]["value"].get<double>(), final_ppl(b), 1e-4 + 1e-5 * final_ppl(b));
  EXPECT_NEAR(std::log(k.j["ppl_base"]["value"].get<double>()), f.mean_nll_base, 1e-6);
}

// llama-gutenberg (bf16 weights, fp32 compute) as base, llama.cpp's own
// quantized GGUFs of it as Q: every KLD is above anything the compression
// can produce (1.2209e-4), and ordered Q8_0 < Q4_K_M < Q4_0.
TEST(KldGolden, GutenbergQuantizedGgufsHavePositiveOrderedKld) {
  NB_REQUIRE_DATA("models/llama-gutenberg/config.json");
  NB_REQUIRE_DATA("models/llama-gutenberg-gguf/llama-gutenberg-Q4_0.gguf");
  const std::string text = head_of("text/gutenberg-valid.txt", 30000, "gutenberg.txt");
  const std::string base = temp_path("gutenberg.kld");
  RunResult b = run_nibble({"perplexity", "-m", data_path("models/llama-gutenberg"), "-f", text, "-c", "128", "-t",
                            "2", "--kl-divergence-base", base});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const FileFacts f = facts_of(base);
  double prev = 0;
  for (const char* q : {"Q8_0", "Q4_K_M", "Q4_0"}) {
    KldRun k = kld_run({"-m", data_path(std::string("models/llama-gutenberg-gguf/llama-gutenberg-") + q + ".gguf")},
                       base);
    ASSERT_EQ(k.r.exit_code, 0);
    const double kld = k.j["kld"]["mean"], unc = k.j["kld"]["unc"];
    std::printf("llama-gutenberg %s: KLD %.6f ± %.6f, same top %.3f%%, dPPL %.4f ± %.4f (base PPL %.4f)\n", q, kld,
                unc, 100 * k.j["same_top"]["value"].get<double>(), k.j["ppl_diff"]["value"].get<double>(),
                k.j["ppl_diff"]["unc"].get<double>(), k.j["ppl_base"]["value"].get<double>());
    EXPECT_GT(kld, f.max_half_scale * std::exp(f.max_half_scale) + kFloatSlack) << q;
    EXPECT_GT(kld, prev) << q;
    EXPECT_LT(k.j["same_top"]["value"].get<double>(), 1.0) << q;
    EXPECT_EQ(k.j["tokens_scored"].get<int64_t>(), f.scored);
    prev = kld;
    if (std::string(q) == "Q4_0") EXPECT_GT(k.j["ppl_diff"]["value"].get<double>(), 0);
  }
}

// --score all: every predicted token of each chunk is saved and compared; the
// file is told apart by its size. Same numbers for any thread count.
TEST(KldCli, ScoreAllRoundTrip) {
  NB_REQUIRE_DATA(kStories);
  const std::string m = data_path(kStories), tok = data_path(kTok512), text = stories_text();
  const std::string base = temp_path("all.kld");
  RunResult b = run_nibble({"perplexity", "-m", m, "--tokenizer", tok, "-f", text, "-c", "64", "--score", "all",
                            "--save-all-logits", base, "-t", "2"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const FileFacts f = facts_of(base);
  KldRun k = kld_run({"-m", m, "--tokenizer", tok}, base);
  ASSERT_EQ(k.r.exit_code, 0);
  EXPECT_EQ(k.j["scoring"], "all");
  EXPECT_EQ(k.j["tokens_scored"].get<int64_t>(), k.j["n_chunks"].get<int64_t>() * 63);
  expect_at_compression_floor(k.j, f);
  KldRun one = kld_run({"-m", m, "--tokenizer", tok, "--score", "all"}, base, "1");
  EXPECT_EQ(one.j["kld"], k.j["kld"]);
  EXPECT_EQ(one.j["ppl_q"], k.j["ppl_q"]);
  RunResult half = run_nibble({"perplexity", "-m", m, "--tokenizer", tok, "--kl-divergence", "--kl-divergence-base",
                               base, "--score", "half"});
  EXPECT_EQ(half.exit_code, 1);
  EXPECT_NE(half.err.find("--score"), std::string::npos) << half.err;
}

void expect_failure(const std::vector<std::string>& args, const std::string& needle) {
  RunResult r = run_nibble(args);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "expected \"" << needle << "\" in: " << r.err;
}

TEST(KldCli, MismatchesAndCorruptFilesAreClearErrors) {
  NB_REQUIRE_DATA(kStories);
  const std::string m = data_path(kStories), tok = data_path(kTok512), text = stories_text();
  const std::string base = temp_path("b.kld");
  ASSERT_EQ(run_nibble({"perplexity", "-m", m, "--tokenizer", tok, "-f", text, "-c", "64", "--kl-divergence-base",
                        base, "-t", "2"})
                .exit_code,
            0);
  const std::vector<std::string> kl = {"perplexity", "--kl-divergence", "--kl-divergence-base", base};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> a = kl;
    a.insert(a.end(), more.begin(), more.end());
    return a;
  };
  expect_failure(with({"-m", m, "-c", "128"}), "use -c 64");
  expect_failure(with({"-m", m, "--tokenizer", tok, "-f", head_of("text/tinyshakespeare.txt", 4000, "s.txt")}),
                 "another text or tokenizer");
  if (data_available("models/gguf-small/llama-2-tiny-random.gguf"))
    expect_failure(with({"-m", data_path("models/gguf-small/llama-2-tiny-random.gguf")}),
                   "n_vocab is 512 but the model's vocabulary has 32000");
  expect_failure({"perplexity", "-m", m, "--kl-divergence"}, "--kl-divergence-base");
  expect_failure({"perplexity", "-m", m, "-f", text, "--kl-json", temp_path("x.json")}, "--kl-json");

  const std::string bytes = read_file(base);
  const std::string cut = temp_path("cut.kld");
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() - 7);
  expect_failure({"perplexity", "-m", m, "--kl-divergence", "--kl-divergence-base", cut}, cut + ": ");
  std::ofstream(cut, std::ios::binary) << "GGUF" << bytes.substr(4);
  expect_failure({"perplexity", "-m", m, "--kl-divergence", "--kl-divergence-base", cut}, "magic");
  expect_failure({"perplexity", "-m", m, "--kl-divergence", "--kl-divergence-base", temp_path("none.kld")},
                 "none.kld");
}

}  // namespace
}  // namespace nb::test
