// nibble quantize on llama-gutenberg: the online Hadamard rotation is an exact
// identity in real arithmetic, RTN equals the format's own encoder, GPTQ /
// MR-GPTQ output does not depend on the thread count, and bad requests fail
// with clear messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "io/model_file.h"
#include "models/model.h"
#include "quant/llama_quantizer.h"
#include "support/test_support.h"

namespace nb::test {
namespace {

const std::string kHf = "models/llama-gutenberg";
const std::string kCalib = "text/tinyshakespeare.txt";

std::string quantize(const std::string& tag, std::vector<std::string> extra) {
  std::string out = temp_path("quantize-" + tag + ".gguf");
  std::vector<std::string> args = {"quantize", "-m", data_path(kHf), "-o", out};
  args.insert(args.end(), extra.begin(), extra.end());
  RunResult r = run_nibble(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return out;
}

std::vector<float> logits_of(const std::string& path, const std::vector<int32_t>& ids) {
  auto m = load_model_at(path);
  if (!m) return {};
  ThreadPool pool(2);
  std::vector<float> out(ids.size() * size_t(m->info().n_vocab));
  auto st = m->new_state(int64_t(ids.size()));
  EXPECT_TRUE(m->forward(ids, *st, out.data(), true, pool).ok());
  return out;
}

std::vector<int32_t> first_sequence() {
  std::vector<int32_t> ids = read_ids(data_path(kHf + "/ids.txt"));
  ids.resize(64);
  return ids;
}

// Every tensor's bytes of two GGUF files, by name.
void expect_same_tensors(const std::string& a, const std::string& b) {
  auto fa = io::open_model(a), fb = io::open_model(b);
  ASSERT_TRUE(fa.ok() && fb.ok());
  ASSERT_EQ(fa->tensors.size(), fb->tensors.size());
  for (const auto& t : fa->tensors) {
    const io::TensorInfo* u = fb->find(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    ASSERT_EQ(t.view.format, u->view.format) << t.name;
    ASSERT_EQ(t.bytes, u->bytes) << t.name;
    EXPECT_EQ(std::memcmp(t.view.data, u->view.data, t.bytes), 0) << t.name;
  }
}

// Rotating every linear's weights offline (W·H_k) and its input online (x·H_k)
// changes nothing but rounding: an f32 "quantization" with --hadamard must
// reproduce the original logits. The bound: the FWHT adds log2(k) = 5 roundings
// per input element and the rotated dot sums differ in order; measured worst
// 1e-6 of the largest logit, so 1e-5 leaves room while a wrong block size,
// order or scale (errors of order 1) cannot pass.
TEST(Quantize, HadamardRotationIsAnIdentity) {
  NB_REQUIRE_DATA(kHf);
  const auto ids = first_sequence();
  const auto ref = logits_of(data_path(kHf), ids);
  const auto rot = logits_of(quantize("f32-had32", {"--type", "f32", "--method", "rtn", "--hadamard", "32"}), ids);
  ASSERT_EQ(ref.size(), rot.size());
  float max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(ref[i]));
    max_diff = std::max(max_diff, std::fabs(ref[i] - rot[i]));
  }
  EXPECT_LE(max_diff / max_ref, 1e-5f);
}

// RTN is the format table's encoder: the same bytes `nibble convert` writes.
TEST(Quantize, RtnEqualsConvert) {
  NB_REQUIRE_DATA(kHf);
  for (const std::string type : {"int4_g128", "nvfp4", "mxfp4_fpq"}) {
    const std::string q = quantize("rtn-" + type, {"--type", type, "--method", "rtn"});
    const std::string c = temp_path("convert-" + type + ".gguf");
    RunResult r = run_nibble({"convert", "-m", data_path(kHf), "-o", c, "--type", type});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    SCOPED_TRACE(type);
    expect_same_tensors(q, c);
  }
}

// GPTQ and MR-GPTQ give the same file for 1 and 2 threads.
TEST(Quantize, GptqIsDeterministicAcrossThreadCounts) {
  NB_REQUIRE_DATA(kHf);
  NB_REQUIRE_DATA(kCalib);
  // bf16 calibration (the default; AMX where the CPU has it) and the fp32 one
  for (const auto& [method, dtype] : {std::pair{"gptq", "bf16"}, {"mr-gptq", "bf16"}, {"gptq", "f32"}}) {
    std::vector<std::string> a = {"--type", "nvfp4", "--method", method, "--calib", data_path(kCalib),
                                  "--calib-tokens", "2048", "--calib-ctx", "256", "--calib-dtype", dtype};
    std::vector<std::string> b = a;
    a.insert(a.end(), {"-t", "1"});
    b.insert(b.end(), {"-t", "2"});
    const std::string tag = std::string(method) + "-" + dtype;
    SCOPED_TRACE(tag);
    expect_same_tensors(quantize(tag + "-t1", a), quantize(tag + "-t2", b));
  }
}

// The quantized model is a usable model: perplexity close to the original's.
TEST(Quantize, MrGptqModelStaysClose) {
  NB_REQUIRE_DATA(kHf);
  NB_REQUIRE_DATA(kCalib);
  const std::string q = quantize("mr-nvfp4", {"--type", "nvfp4", "--method", "mr-gptq", "--calib", data_path(kCalib),
                                              "--calib-tokens", "4096", "--calib-ctx", "256"});
  auto ppl = [](const std::string& m) {
    RunResult r = run_nibble({"perplexity", "-m", m, "-f", data_path("text/gutenberg-valid.txt"), "-c", "256",
                              "--chunks", "20", "-t", "2"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const size_t p = r.out.find("PPL = ");
    return p == std::string::npos ? 0.0 : std::strtod(r.out.c_str() + p + 6, nullptr);
  };
  const double base = ppl(data_path(kHf)), quant = ppl(q);
  ASSERT_GT(base, 0);
  // 4-bit weights cost a few percent of perplexity on this model (RTN NVFP4: +2.7%
  // over 100 chunks); 10% would mean the quantizer is broken, not just lossy.
  EXPECT_LT(quant, base * 1.10);
  EXPECT_GT(quant, base * 0.98);
}

TEST(Quantize, BadRequestsFailClearly) {
  NB_REQUIRE_DATA(kHf);
  const std::string out = temp_path("quantize-bad.gguf");
  auto expect_error = [&](std::vector<std::string> extra, const std::string& needle) {
    std::vector<std::string> args = {"quantize", "-m", data_path(kHf), "-o", out};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = run_nibble(args);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(out)) << "a failed quantize left " << out;
  };
  expect_error({"--type", "q9_9"}, "q9_9");
  expect_error({"--type", "nvfp4", "--method", "gptq"}, "--calib");
  expect_error({"--type", "nvfp4", "--method", "rtn", "--hadamard", "24"}, "power of two");
  expect_error({"--type", "nvfp4", "--method", "rtn", "--hadamard", "512"}, "does not divide");
  expect_error({"--type", "nvfp4", "--method", "gptq", "--calib", "/nonexistent"}, "/nonexistent");
  {
    const std::string empty = temp_path("empty-calib.txt");
    std::FILE* f = std::fopen(empty.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(" \n", f);
    std::fclose(f);
    expect_error({"--type", "nvfp4", "--method", "gptq", "--calib", empty}, "empty");
  }
  expect_error({"--type", "nvfp4", "--method", "gptq", "--calib", data_path(kCalib), "--calib-dtype", "f16"},
               "--calib-dtype");
  expect_error({"--type", "nvfp4", "--method", "gptq", "--calib", data_path(kCalib), "--calib-tokens", "100",
                "--calib-ctx", "256"},
               "less than one window");
  RunResult r = run_nibble({"quantize", "-m", data_path("models/mmfree-tiny-random"), "-o", out, "--type", "nvfp4",
                            "--method", "rtn"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("Llama"), std::string::npos) << r.err;
}

TEST(Quantize, CalibrationWindows) {
  std::vector<int32_t> tokens(1000);
  for (int i = 0; i < 1000; ++i) tokens[size_t(i)] = i;
  auto a = quant::calibration_windows(tokens, 4, 100, 7), b = quant::calibration_windows(tokens, 4, 100, 7);
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a, b);  // same seed, same windows
  for (const auto& w : a) {
    ASSERT_EQ(w.size(), 100u);
    for (size_t i = 1; i < w.size(); ++i) EXPECT_EQ(w[i], w[i - 1] + 1);  // contiguous
  }
  EXPECT_NE(a, quant::calibration_windows(tokens, 4, 100, 8));
  auto all = quant::calibration_windows(tokens, 50, 100, 7);  // more than fit: every disjoint window
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all[3][0], 300);
  EXPECT_TRUE(quant::calibration_windows(tokens, 4, 2000, 7).empty());
}

}  // namespace
}  // namespace nb::test
