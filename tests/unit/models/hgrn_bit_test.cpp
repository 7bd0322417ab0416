// hgrn_bit (MatMul-free LM) pieces that need no data files: the BitLinear
// activation quantizer (ties away from zero), ternarization (ties to even,
// per-tensor mean, never re-ternarizing ternary values), lower bounds, the
// config rules, and bad input, on small Hugging Face folders built here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "core/half.h"
#include "formats/format.h"
#include "io/gguf_writer.h"
#include "io/model_file.h"
#include "kernels/ops.h"
#include "models/hgrn_bit.h"
#include "support/test_support.h"

namespace nb {
namespace {

using test::temp_path;

// ---------------------------------------------------------------- BitLinear activation quantizer

struct I8Row {
  float scale;
  std::vector<int8_t> q;
};

I8Row quantize(const std::vector<float>& v, const std::vector<float>& w, float eps, int64_t n_codes) {
  std::vector<uint8_t> buf(sizeof(float) + size_t(n_codes), 0xAB);
  kernels::bitlinear_quantize(v.data(), w.data(), int64_t(v.size()), eps, n_codes, buf.data());
  I8Row r;
  std::memcpy(&r.scale, buf.data(), sizeof(float));
  r.q.assign(reinterpret_cast<int8_t*>(buf.data() + sizeof(float)), reinterpret_cast<int8_t*>(buf.data() + buf.size()));
  return r;
}

// With mean(v^2) = 1 exactly and eps 0, r = 1 and max|u| = 127 give s_a = 1:
// u * s_a is v itself, so .5 values are exact ties. Upstream's Triton round is
// half AWAY from zero (spec §5.1 step 4, N1): 2.5 -> 3, not 2.
TEST(BitLinearQuantize, RoundsTiesAwayFromZero) {
  const int64_t n = 32768;
  std::vector<float> v(static_cast<size_t>(n), 0.0f), w(static_cast<size_t>(n), 1.0f);
  const float head[] = {127, 2.5f, -2.5f, 0.5f, -0.5f, 1.5f, -1.5f, 3.5f, -3.5f, 126.5f, 0.5f, 0.5f, 0.5f};
  double ss = 0;
  size_t k = 0;
  for (float x : head) ss += double(x) * x, v[k++] = x;
  ASSERT_EQ(ss, 32174.0);
  while (ss < double(n)) v[k++] = 1.0f, ss += 1;  // sum of squares = n: r = 1 exactly
  ASSERT_EQ(ss, double(n));
  I8Row r = quantize(v, w, 0.0f, n + 100);
  EXPECT_EQ(r.scale, 1.0f);
  const int expect[] = {127, 3, -3, 1, -1, 2, -2, 4, -4, 127, 1, 1, 1, 1};  // to even would give 2, 0, 2, 4, 126
  for (size_t i = 0; i < std::size(expect); ++i) EXPECT_EQ(r.q[i], expect[i]) << "element " << i;
  for (int64_t i = n; i < n + 100; ++i) ASSERT_EQ(r.q[size_t(i)], 0) << "padding code " << i;
}

// The norm weight is applied before the absmax (N3), and an all-zero input
// hits the 1e-5 floor (N4): zero codes, scale 1e-5 / 127.
TEST(BitLinearQuantize, NormWeightBeforeAbsmaxAndFloor) {
  std::vector<float> v = {1, 1, 1, 1}, w = {1, 2, 0.5f, -4};
  // r = 1 (eps 0); u = w; s_a = 127 / 4
  I8Row r = quantize(v, w, 0.0f, 4);
  EXPECT_EQ(r.scale, 1.0f / (127.0f / 4.0f));
  EXPECT_EQ(r.q, (std::vector<int8_t>{32, 64, 16, -127}));  // 31.75 -> 32, 63.5 -> 64 (away), 15.875 -> 16
  std::vector<float> z(5, 0.0f), ones(5, 1.0f);
  I8Row rz = quantize(z, ones, 1e-6f, 8);
  EXPECT_EQ(rz.scale, 1.0f / (127.0f / 1e-5f));
  for (int8_t q : rz.q) EXPECT_EQ(q, 0);
}

// Against a direct transcription of spec §5.1 on random rows (odd length).
TEST(BitLinearQuantize, MatchesSpecOnRandomRows) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t n = 1 + int64_t(rng() % 300);
    std::vector<float> v(static_cast<size_t>(n)), w(static_cast<size_t>(n));
    for (auto& x : v) x = nd(rng) * 3;
    for (auto& x : w) x = 1 + 0.1f * nd(rng);
    I8Row r = quantize(v, w, 1e-6f, n + 7);
    float ss = 0;
    for (float x : v) ss += x * x;
    const float rr = 1.0f / std::sqrt(ss / float(n) + 1e-6f);
    float a = 0;
    for (int64_t k = 0; k < n; ++k) a = std::max(a, std::fabs(v[size_t(k)] * rr * w[size_t(k)]));
    const float s = 127.0f / std::max(a, 1e-5f);
    EXPECT_EQ(r.scale, 1.0f / s);
    for (int64_t k = 0; k < n; ++k) {
      float x = std::round(v[size_t(k)] * rr * w[size_t(k)] * s);
      ASSERT_EQ(r.q[size_t(k)], int8_t(std::clamp(x, -128.0f, 127.0f))) << k;
    }
  }
}

// ---------------------------------------------------------------- ternarization

TensorView f32_view(std::vector<float>& data, int64_t rows, int64_t cols) {
  return formats::matrix_view(FormatId::F32, rows, cols, data.data());
}

std::vector<float> trits_of(const std::vector<uint8_t>& packed, FormatId f, int64_t rows, int64_t cols) {
  const size_t rb = formats::row_bytes(f, cols);
  const int64_t pc = formats::padded_cols(f, cols);
  std::vector<float> out;
  std::vector<float> row(static_cast<size_t>(pc));
  for (int64_t r = 0; r < rows; ++r) {
    formats::traits(f).to_float(packed.data() + size_t(r) * rb, row.data(), pc);
    for (int64_t k = cols; k < pc; ++k) EXPECT_EQ(row[size_t(k)], 0.0f) << "padding";
    out.insert(out.end(), row.begin(), row.begin() + cols);
  }
  return out;
}

// mean|W| = 1 exactly: W * s_w = W, and +-0.5 are ties that round to EVEN
// (0), +-1.5 / 2.5 round to 2 and clamp to +-1 (spec §5.5, N1).
TEST(Ternarize, PerTensorMeanTiesToEven) {
  for (FormatId f : {FormatId::T2, FormatId::T1_6}) {
    std::vector<float> w = {0.5f, -0.5f, 1.5f, 1.5f, 2.5f, -1.0f, 0.0f, 0.5f};  // sum |w| = 8
    std::vector<uint8_t> out(formats::row_bytes(f, 4) * 2);
    auto r = ternarize(f32_view(w, 2, 4), f, out.data());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->scale, 1.0f);
    EXPECT_FALSE(r->was_ternary);
    EXPECT_EQ(trits_of(out, f, 2, 4), (std::vector<float>{0, 0, 1, 1, 1, -1, 0, 0}));
    EXPECT_DOUBLE_EQ(r->density, 4.0 / 8.0);
  }
}

// scale = fp32(1 / fp32(1 / m)) with m the fp32-rounded mean (not per row);
// an odd column count pads rows with zero weights.
TEST(Ternarize, ScaleIsReciprocalOfReciprocalMean) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  const int64_t rows = 7, cols = 201;
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (auto& x : w) x = nd(rng);
  double sum = 0;
  for (float x : w) sum += std::fabs(double(x));
  const float m = float(sum / double(w.size()));
  const float s = 1.0f / m;
  std::vector<uint8_t> out(formats::row_bytes(FormatId::T2, cols) * rows);
  auto r = ternarize(f32_view(w, rows, cols), FormatId::T2, out.data());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->scale, 1.0f / s);
  auto t = trits_of(out, FormatId::T2, rows, cols);
  for (size_t k = 0; k < w.size(); ++k) ASSERT_EQ(t[k], std::clamp(std::nearbyint(w[k] * s), -1.0f, 1.0f)) << k;
}

// Already-ternary values {-c, 0, +c} are taken as they are: scale c, not
// density * c (the re-ternarization trap, spec §5.5 / matmulfreellm#18).
TEST(Ternarize, AlreadyTernaryKeepsItsScale) {
  const float c = 0.0371f;
  std::vector<float> w = {c, 0, -c, c, 0, 0, -c, 0, 0};
  std::vector<uint8_t> out(formats::row_bytes(FormatId::T2, 3) * 3);
  auto r = ternarize(f32_view(w, 3, 3), FormatId::T2, out.data());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->was_ternary);
  EXPECT_EQ(r->scale, c);
  EXPECT_EQ(trits_of(out, FormatId::T2, 3, 3), (std::vector<float>{1, 0, -1, 1, 0, 0, -1, 0, 0}));
}

TEST(Ternarize, AllZeroHitsTheFloorAndNonFiniteFails) {
  std::vector<float> w(6, 0.0f);
  std::vector<uint8_t> out(formats::row_bytes(FormatId::T1_6, 3) * 2);
  auto r = ternarize(f32_view(w, 2, 3), FormatId::T1_6, out.data());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->scale, 1.0f / (1.0f / 1e-5f));
  EXPECT_EQ(r->density, 0.0);
  w[4] = NAN;
  EXPECT_FALSE(ternarize(f32_view(w, 2, 3), FormatId::T1_6, out.data()).ok());
}

// ---------------------------------------------------------------- lower bounds

TEST(HgrnBitLowerBounds, SoftmaxOverLayersCumsumMinusFirst) {
  const int64_t L = 4, H = 3;
  std::vector<float> raw = {0.1f, -2, 3, 0.5f, 0, 1, -1, 2, 0, 0.3f, 0.3f, -5};
  auto lb = hgrn_bit_lower_bounds(raw.data(), L, H);
  for (int64_t k = 0; k < H; ++k) {
    double z = 0;
    for (int64_t l = 0; l < L; ++l) z += std::exp(double(raw[size_t(l * H + k)]));
    EXPECT_EQ(lb[size_t(k)], 0.0f);  // layer 0: exactly no bound
    double cum = 0;
    for (int64_t l = 0; l < L; ++l) {
      cum += std::exp(double(raw[size_t(l * H + k)])) / z;
      if (l > 0) {
        EXPECT_GE(lb[size_t(l * H + k)], lb[size_t((l - 1) * H + k)]);
      }
      EXPECT_NEAR(lb[size_t(l * H + k)], cum - std::exp(double(raw[size_t(k)])) / z, 1e-6);
    }
  }
}

// ---------------------------------------------------------------- Hugging Face folders built here

struct T {
  std::string dtype = "F32";
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

void write_safetensors(const std::string& path, const std::map<std::string, T>& ts, size_t truncate_by = 0) {
  std::string header = "{";
  size_t off = 0;
  for (const auto& [name, t] : ts) {
    std::string shape;
    for (int64_t d : t.shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
    if (header.size() > 1) header += ",";
    header += "\"" + name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[" + shape + "],\"data_offsets\":[" +
              std::to_string(off) + "," + std::to_string(off + t.bytes.size()) + "]}";
    off += t.bytes.size();
  }
  header += "}";
  while (header.size() % 8) header += ' ';
  std::string data;
  for (const auto& [name, t] : ts) data.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
  uint64_t n = header.size();
  std::string file(reinterpret_cast<const char*>(&n), 8);
  file += header + data;
  file.resize(file.size() - truncate_by);
  std::ofstream(path, std::ios::binary) << file;
}

struct Folder {
  int64_t H = 40, L = 2, I = 72, V = 50;
  std::map<std::string, std::string> config;  // raw JSON values
  std::map<std::string, T> tensors;
  std::mt19937 rng{11};

  T f32(std::vector<int64_t> shape, float mean, float sd) {
    T t;
    t.shape = shape;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::normal_distribution<float> nd(mean, sd);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = nd(rng);
    t.bytes.resize(v.size() * 4);
    std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
    return t;
  }
  void bitlinear(const std::string& base, int64_t out, int64_t in) {
    tensors[base + ".weight"] = f32({out, in}, 0, 0.1f);
    tensors[base + ".norm.weight"] = f32({in}, 1, 0.1f);
  }
  Folder() {
    config = {{"model_type", "\"hgrn_bit\""}, {"hidden_size", std::to_string(H)}, {"num_hidden_layers", std::to_string(L)},
              {"vocab_size", std::to_string(V)}, {"intermediate_size", std::to_string(I)},
              {"attn_mode", "\"fused_recurrent\""}, {"use_short_conv", "false"}, {"expand_ratio", "1"},
              {"num_heads", "1"}, {"rms_norm_eps", "1e-06"}, {"use_lower_bound", "true"},
              {"tie_word_embeddings", "false"}, {"hidden_act", "\"swish\""}};
    tensors["model.embeddings.weight"] = f32({V, H}, 0, 1);
    tensors["model.lower_bounds"] = f32({L, H}, 0, 0.5f);
    for (int64_t l = 0; l < L; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      tensors[p + "attn_norm.weight"] = f32({H}, 1, 0.1f);
      bitlinear(p + "attn.i_proj", H, H);
      bitlinear(p + "attn.f_proj", H, H);
      bitlinear(p + "attn.g_proj", H, H);
      tensors[p + "attn.g_norm.weight"] = f32({H}, 1, 0.1f);
      bitlinear(p + "attn.o_proj", H, H);
      tensors[p + "mlp_norm.weight"] = f32({H}, 1, 0.1f);
      bitlinear(p + "mlp.gate_proj", 2 * I, H);
      bitlinear(p + "mlp.down_proj", H, I);
    }
    tensors["model.norm.weight"] = f32({H}, 1, 0.1f);
    bitlinear("lm_head", V, H);
  }
  std::string write(const std::string& name, size_t truncate_by = 0) const {
    std::string dir = temp_path(name);
    std::filesystem::create_directories(dir);
    std::string json = "{";
    for (const auto& [k, v] : config) json += (json.size() > 1 ? "," : "") + ("\"" + k + "\":" + v);
    std::ofstream(dir + "/config.json") << json << "}";
    write_safetensors(dir + "/model.safetensors", tensors, truncate_by);
    return dir;
  }
};

Result<std::unique_ptr<Model>> try_load(const std::string& path) {
  NB_ASSIGN_OR_RETURN(io::ModelFile mf, io::open_model(path));
  return load_model(std::make_shared<const io::ModelFile>(std::move(mf)));
}

std::vector<float> logits_of(Model& m, const std::vector<int32_t>& ids) {
  ThreadPool pool(1);
  std::vector<float> out(ids.size() * size_t(m.info().n_vocab));
  auto st = m.new_state(int64_t(ids.size()));
  EXPECT_TRUE(m.forward(ids, *st, out.data(), true, pool).ok());
  return out;
}

::testing::AssertionResult FailsWith(const Result<std::unique_ptr<Model>>& r, const std::string& part1,
                                     const std::string& part2 = "") {
  if (r.ok()) return ::testing::AssertionFailure() << "loaded, expected an error with '" << part1 << "'";
  const std::string& m = r.status().message();
  for (const std::string& p : {part1, part2})
    if (!p.empty() && m.find(p) == std::string::npos)
      return ::testing::AssertionFailure() << "message lacks '" << p << "': " << m;
  return ::testing::AssertionSuccess() << m;
}

TEST(HgrnBitLoad, BuiltFolderLoadsAndRuns) {
  Folder f;
  auto m = try_load(f.write("ok"));
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ((*m)->info().arch, "hgrn_bit");
  EXPECT_EQ((*m)->info().n_vocab, 50);
  auto lg = logits_of(**m, {1, 5, 7, 9});
  for (float x : lg) ASSERT_TRUE(std::isfinite(x));
}

// intermediate_size null: int(H * hidden_ratio * 2 / 3) rounded UP to 256 (spec §2):
// H = 40 -> int(106.67) = 106 -> 256; with hidden_ratio 30 -> 800 -> 1024.
TEST(HgrnBitLoad, DerivedIntermediateSize) {
  for (auto [ratio, I] : {std::pair<int, int64_t>{4, 256}, {30, 1024}}) {
    Folder f;
    f.I = I;
    f.config.erase("intermediate_size");
    f.config["hidden_ratio"] = std::to_string(ratio);
    for (int64_t l = 0; l < f.L; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      f.bitlinear(p + "mlp.gate_proj", 2 * I, f.H);
      f.bitlinear(p + "mlp.down_proj", f.H, I);
    }
    auto m = try_load(f.write("derived" + std::to_string(ratio)));
    ASSERT_TRUE(m.ok()) << m.status().message();
    bool found = false;
    for (auto& [k, v] : (*m)->info().hparams)
      if (k == "intermediate_size") {
        found = true;
        EXPECT_EQ(v, std::to_string(I));
      }
    EXPECT_TRUE(found);
  }
}

// A checkpoint whose BitLinear weights are already T * d (exactly ternary)
// gives the same logits as the latent checkpoint it came from.
TEST(HgrnBitLoad, PreTernarizedCheckpointIsNotReTernarized) {
  Folder f;
  auto latent = try_load(f.write("latent"));
  ASSERT_TRUE(latent.ok()) << latent.status().message();
  Folder g = f;
  for (auto& [name, t] : g.tensors) {
    if (name.find("_proj.weight") == std::string::npos && name != "lm_head.weight") continue;
    const int64_t rows = t.shape[0], cols = t.shape[1];
    std::vector<float> w(static_cast<size_t>(rows * cols));
    std::memcpy(w.data(), t.bytes.data(), t.bytes.size());
    std::vector<uint8_t> packed(formats::row_bytes(FormatId::T2, cols) * size_t(rows));
    auto r = ternarize(f32_view(w, rows, cols), FormatId::T2, packed.data());
    ASSERT_TRUE(r.ok());
    auto tr = trits_of(packed, FormatId::T2, rows, cols);
    for (size_t k = 0; k < w.size(); ++k) w[k] = tr[k] * r->scale;
    std::memcpy(t.bytes.data(), w.data(), t.bytes.size());
  }
  auto pre = try_load(g.write("preternarized"));
  ASSERT_TRUE(pre.ok()) << pre.status().message();
  EXPECT_EQ(logits_of(**pre, {1, 4, 9, 16, 25}), logits_of(**latent, {1, 4, 9, 16, 25}));
}

TEST(HgrnBitLoad, BadInputFailsClearly) {
  {
    Folder f;
    f.tensors.erase("model.layers.1.attn.f_proj.weight");
    EXPECT_TRUE(FailsWith(try_load(f.write("missing")), "missing tensor", "model.layers.1.attn.f_proj.weight"));
  }
  {
    Folder f;
    f.tensors.erase("lm_head.weight");
    EXPECT_TRUE(FailsWith(try_load(f.write("nohead")), "missing tensor", "lm_head.weight"));
  }
  {
    Folder f;
    f.tensors["model.layers.0.mlp.gate_proj.weight"] = f.f32({2 * f.I - 1, f.H}, 0, 0.1f);
    EXPECT_TRUE(FailsWith(try_load(f.write("shape")), "model.layers.0.mlp.gate_proj.weight", "expected shape [144, 40]"));
  }
  {
    Folder f;
    f.tensors["model.layers.0.attn.i_proj.norm.weight"] = f.f32({f.H + 1}, 1, 0.1f);
    EXPECT_TRUE(FailsWith(try_load(f.write("normshape")), "model.layers.0.attn.i_proj.norm.weight", "expected shape [40]"));
  }
  {
    Folder f;
    f.config["use_short_conv"] = "true";
    EXPECT_TRUE(FailsWith(try_load(f.write("conv")), "use_short_conv: true is not supported", "config.json"));
  }
  {
    Folder f;
    f.config["attn_mode"] = "\"chunk\"";
    EXPECT_TRUE(FailsWith(try_load(f.write("mode")), "attn_mode 'chunk' is not supported"));
  }
  {
    Folder f;
    f.config["expand_ratio"] = "2";
    EXPECT_TRUE(FailsWith(try_load(f.write("expand")), "expand_ratio 2 is not supported"));
  }
  {
    Folder f;
    f.config["num_heads"] = "3";
    EXPECT_TRUE(FailsWith(try_load(f.write("heads")), "num_heads must divide hidden_size"));
  }
  {
    Folder f;
    f.config["use_short_conv"] = "\"yes\"";
    EXPECT_TRUE(FailsWith(try_load(f.write("convstr")), "use_short_conv", "true or false"));
  }
  {
    Folder f;  // an integer dtype cannot hold latent weights
    T& t = f.tensors["model.layers.0.attn.o_proj.weight"];
    t.dtype = "I64";
    t.bytes.resize(size_t(t.shape[0] * t.shape[1]) * 8, 0);
    EXPECT_TRUE(FailsWith(try_load(f.write("i64")), "model.layers.0.attn.o_proj.weight", "I64"));
  }
  {
    Folder f;  // fp16 latents are fine; an F16 embedding too
    T& t = f.tensors["model.layers.0.attn.o_proj.weight"];
    std::vector<float> v(static_cast<size_t>(t.shape[0] * t.shape[1]));
    std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
    t.dtype = "F16";
    t.bytes.resize(v.size() * 2);
    for (size_t k = 0; k < v.size(); ++k) {
      uint16_t h = f32_to_fp16(v[k]);
      std::memcpy(&t.bytes[2 * k], &h, 2);
    }
    auto m = try_load(f.write("f16"));
    EXPECT_TRUE(m.ok()) << m.status().message();
  }
  {
    Folder f;
    f.tensors["model.layers.1.mlp.down_proj.weight"] = f.f32({f.H, f.I}, NAN, 0);
    EXPECT_TRUE(FailsWith(try_load(f.write("nan")), "model.layers.1.mlp.down_proj.weight", "not finite"));
  }
  {
    Folder f;
    EXPECT_TRUE(FailsWith(try_load(f.write("trunc", 100)), "model.safetensors"));
  }
}

// A GGUF must hold packed trits: a float matrix where trits belong, or a T2
// byte with the unused code 3, is refused by name.
TEST(HgrnBitLoad, BadPackedGgufFailsClearly) {
  Folder f;
  auto mf = io::open_model(f.write("forgguf"));
  ASSERT_TRUE(mf.ok()) << mf.status().message();
  io::GgufWriter w;
  std::vector<std::vector<uint8_t>> keep;
  ASSERT_TRUE(export_gguf(*mf, FormatId::T2, w, keep).ok());
  std::string good = temp_path("good.gguf");
  ASSERT_TRUE(w.write(good).ok());
  EXPECT_TRUE(try_load(good).ok());
  EXPECT_FALSE(export_gguf(*mf, FormatId::F16, w, keep).ok());  // hgrn_bit is written as t2 / t1_6 only

  // code 3 in blk.0.attn_f.weight
  auto g = io::open_model(good);
  ASSERT_TRUE(g.ok());
  const io::TensorInfo* t = g->find("blk.0.attn_f.weight");
  ASSERT_TRUE(t);
  std::ifstream in(good, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const size_t off = size_t(static_cast<const char*>(t->view.data) - reinterpret_cast<const char*>(g->maps[0]->data()));
  bytes[off + 3] = char(0xFF);
  std::string bad = temp_path("code3.gguf");
  std::ofstream(bad, std::ios::binary) << bytes;
  EXPECT_TRUE(FailsWith(try_load(bad), "blk.0.attn_f.weight", "code 3"));
}

}  // namespace
}  // namespace nb
