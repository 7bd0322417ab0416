// ModelFile getters, require(), MetaValue printing and open_model's sniffing.
#include <gtest/gtest.h>

#include "formats/format.h"
#include "io/gguf_writer.h"
#include "io_test_util.h"
#include "support/test_support.h"

namespace nb::io {
namespace {

using testing::FailsWith;

ModelFile sample() {
  ModelFile m;
  m.path = "model-dir";
  m.meta_file = "model-dir/config.json";
  m.meta["n"] = MetaValue::Int(8);
  m.meta["s"] = MetaValue::Str("llama");
  m.meta["f"] = MetaValue::Float(1e-5, MetaType::F64);
  m.meta["b"] = MetaValue::Bool(true);
  m.meta["a"] = MetaValue::StrArray({"x", "y"});
  static float data[6];
  TensorInfo t;
  t.name = "w";
  t.file = "model-dir/model.safetensors";
  t.view.format = FormatId::F32;
  t.view.ndim = 2;
  t.view.shape[0] = 2;
  t.view.shape[1] = 3;
  t.view.data = data;
  m.tensors.push_back(t);
  EXPECT_TRUE(m.build_index().ok());
  return m;
}

TEST(IoModelFile, TypedGetters) {
  ModelFile m = sample();
  EXPECT_EQ(m.get_int("n").value(), 8);
  EXPECT_EQ(m.get_float("n").value(), 8.0);
  EXPECT_EQ(m.get_float("f").value(), 1e-5);
  EXPECT_EQ(m.get_string("s").value(), "llama");
  EXPECT_TRUE(m.get_bool_or("b", false));
  EXPECT_EQ(m.get_int_or("missing", 3), 3);
  EXPECT_EQ(m.get_int_or("s", 3), 3);
  EXPECT_EQ(m.get_string_or("n", "d"), "d");
  EXPECT_EQ(m.get_float_or("missing", 0.5), 0.5);
  EXPECT_TRUE(FailsWith(m.get_int("s"), "model-dir/config.json: s: expected an integer, found string \"llama\""));
  EXPECT_TRUE(FailsWith(m.get_string("n"), "model-dir/config.json: n: expected a string, found i64 8"));
  EXPECT_TRUE(FailsWith(m.get_float("a"), "model-dir/config.json: a: expected a number, found array of string"));
  EXPECT_TRUE(FailsWith(m.get_int("nope"), "model-dir/config.json", "missing metadata key 'nope'"));
}

TEST(IoModelFile, Require) {
  ModelFile m = sample();
  EXPECT_TRUE(m.require("w", {2, 3}).ok());
  EXPECT_TRUE(m.require("w", {-1, 3}).ok());
  EXPECT_TRUE(m.require("w", {2, 3}, {FormatId::F16, FormatId::F32}).ok());
  EXPECT_TRUE(FailsWith(m.require("w", {3, 2}), "model-dir/model.safetensors",
                        "tensor 'w': expected shape [3, 2], found [2, 3] (f32)"));
  EXPECT_TRUE(FailsWith(m.require("w", {2, 3, 1}), "model-dir/model.safetensors", "expected shape [2, 3, 1]"));
  EXPECT_TRUE(FailsWith(m.require("w", {2, 3}, {FormatId::BF16}), "model-dir/model.safetensors",
                        "expected format bf16, found f32"));
  EXPECT_TRUE(FailsWith(m.require("v", {2, 3}), "model-dir", "missing tensor 'v'"));
  // find() still works after tensors change without build_index().
  m.tensors.push_back(m.tensors[0]);
  m.tensors.back().name = "late";
  EXPECT_NE(m.find("late"), nullptr);
  EXPECT_TRUE(m.build_index().ok());
  EXPECT_NE(m.find("late"), nullptr);
}

// A quantized tensor whose block scale is NaN or infinite (no encoder writes
// one) is corrupt: require() names the file, the tensor, the block and row.
TEST(IoModelFile, RequireRejectsCorruptBlockScales) {
  std::vector<float> x(3 * 64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 7) - 3);
  for (FormatId f : {FormatId::Q4_0, FormatId::MXFP4, FormatId::Q4_K}) {
    const auto& tr = formats::traits(f);
    const int64_t cols = f == FormatId::Q4_K ? 256 : 64, rows = 3;
    std::vector<float> xs(size_t(rows * cols));
    for (size_t i = 0; i < xs.size(); ++i) xs[i] = x[i % x.size()];
    std::vector<uint8_t> data(formats::row_bytes(f, cols) * size_t(rows));
    tr.from_float(xs.data(), data.data(), rows * cols);
    ModelFile m;
    m.path = "m.gguf";
    TensorInfo t;
    t.name = "blk.0.attn_q.weight";
    t.file = "m.gguf";
    t.view.format = f;
    t.view.ndim = 2;
    t.view.shape[0] = rows;
    t.view.shape[1] = cols;
    t.view.data = data.data();
    t.bytes = data.size();
    m.tensors.push_back(t);
    ASSERT_TRUE(m.build_index().ok());
    EXPECT_TRUE(m.require(t.name, {rows, cols}).ok()) << tr.name;
    const int64_t per_row = cols / tr.block_size, bad = per_row * 2 + per_row - 1;  // the last block of row 2
    uint8_t* s = data.data() + size_t(bad) * tr.block_bytes + tr.scales[0].offset;
    if (f == FormatId::MXFP4) s[0] = 0xFF;
    else s[0] = 0x00, s[1] = 0x7C;  // +inf
    EXPECT_TRUE(FailsWith(m.require(t.name, {rows, cols}), "m.gguf: tensor 'blk.0.attn_q.weight' (" +
                                                               std::string(tr.name) + "): block " + std::to_string(bad) +
                                                               " (row 2) has a NaN or infinite scale"))
        << tr.name;
  }
}

TEST(IoModelFile, BuildIndexNamesDuplicates) {
  ModelFile m = sample();
  m.tensors.push_back(m.tensors[0]);
  auto st = m.build_index();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("tensor 'w' appears twice"), std::string::npos) << st.message();
}

TEST(IoModelFile, MetaToString) {
  EXPECT_EQ(MetaValue::Int(int64_t(~0ull), MetaType::U64).to_string(), "18446744073709551615");
  EXPECT_EQ(MetaValue::Bool(false).to_string(), "false");
  EXPECT_EQ(MetaValue::Str("a\"b\n").to_string(), "\"a\\\"b\\n\"");
  EXPECT_EQ(MetaValue::IntArray({1, 2, 3}, MetaType::I32).to_string(2), "array of 3 i32: [1, 2, ...]");
  EXPECT_EQ(MetaValue::StrArray({"x"}).to_string(), "array of 1 string: [\"x\"]");
  EXPECT_EQ(MetaValue::FloatArray({0.5}).to_string(), "array of 1 f32: [0.5]");
  EXPECT_STREQ(meta_type_name(MetaType::F64), "f64");
}

TEST(IoModelFile, OpenModelSniffs) {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  // A GGUF under a misleading name is still GGUF: the magic decides.
  const std::string gguf = nb::test::temp_path("looks-like.safetensors");
  ASSERT_TRUE(w.write(gguf).ok());
  auto r = open_model(gguf);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->container, "gguf");
  EXPECT_EQ(r->maps.size(), 1u);

  if (nb::test::data_available("models/stories260K/stories260K.bin")) {
    auto l = open_model(nb::test::data_path("models/stories260K/stories260K.bin"));
    ASSERT_TRUE(l.ok()) << l.status().message();
    EXPECT_EQ(l->container, "llama2c");
  }
  if (nb::test::data_available("models/mmfree-tiny-random")) {
    auto h = open_model(nb::test::data_path("models/mmfree-tiny-random"));
    ASSERT_TRUE(h.ok()) << h.status().message();
    EXPECT_EQ(h->container, "hf");
    auto s = open_model(nb::test::data_path("models/mmfree-tiny-random/model.safetensors"));
    ASSERT_TRUE(s.ok()) << s.status().message();
    EXPECT_EQ(s->container, "safetensors");
  }
  EXPECT_TRUE(FailsWith(open_model("/nonexistent/x.gguf"), "/nonexistent/x.gguf", "cannot open"));
  const std::string junk = nb::test::temp_path("junk.bin");
  testing::write_file(junk, std::string("hello"));
  EXPECT_TRUE(FailsWith(open_model(junk), junk, "llama2.c"));
}

}  // namespace
}  // namespace nb::io
