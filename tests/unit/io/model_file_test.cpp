// ModelFile getters, require(), MetaValue printing and open_model's sniffing.
#include <gtest/gtest.h>

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
