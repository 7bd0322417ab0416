// GgufWriter: round trip through the reader, and no partial files on failure.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <random>

#include "formats/format.h"
#include "io/gguf_writer.h"
#include "io_test_util.h"
#include "support/test_support.h"

namespace nb::io {
namespace {

using testing::FailsWith;

bool exists(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0;
}

bool same_meta(const MetaValue& a, const MetaValue& b) {
  return a.type == b.type && (a.type != MetaType::Array || a.elem_type == b.elem_type) && a.i == b.i && a.f == b.f &&
         a.s == b.s && a.ints == b.ints && a.floats == b.floats && a.strings == b.strings;
}

TEST(IoGgufWriter, RoundTripsMetadataAndBytes) {
  std::map<std::string, MetaValue> meta = {
      {"a.u8", MetaValue::Int(255, MetaType::U8)},
      {"a.i8", MetaValue::Int(-128, MetaType::I8)},
      {"a.u16", MetaValue::Int(65535, MetaType::U16)},
      {"a.i16", MetaValue::Int(-32768, MetaType::I16)},
      {"a.u32", MetaValue::Int(4294967295ll, MetaType::U32)},
      {"a.i32", MetaValue::Int(INT32_MIN, MetaType::I32)},
      {"a.u64", MetaValue::Int(int64_t(~0ull), MetaType::U64)},
      {"a.i64", MetaValue::Int(INT64_MIN, MetaType::I64)},
      {"a.f32", MetaValue::Float(0.1f, MetaType::F32)},
      {"a.f64", MetaValue::Float(0.1, MetaType::F64)},
      {"a.bool", MetaValue::Bool(true)},
      {"a.str", MetaValue::Str(std::string("with\0nul and ✓", 17))},
      {"a.empty", MetaValue::Str("")},
      {"arr.i32", MetaValue::IntArray({1, -2, 3}, MetaType::I32)},
      {"arr.u8", MetaValue::IntArray({0, 255}, MetaType::U8)},
      {"arr.u64", MetaValue::IntArray({int64_t(~0ull), 5}, MetaType::U64)},
      {"arr.bool", MetaValue::IntArray({1, 0, 1}, MetaType::Bool)},
      {"arr.f32", MetaValue::FloatArray({0.5, -0.25, double(1e-5f)}, MetaType::F32)},
      {"arr.f64", MetaValue::FloatArray({0.1, 1e300}, MetaType::F64)},
      {"arr.str", MetaValue::StrArray({"a", "", "ccc"})},
      {"arr.empty", MetaValue::IntArray({}, MetaType::I32)},
      {"general.architecture", MetaValue::Str("llama")},
  };
  GgufWriter w;
  for (auto& [k, v] : meta) w.add(k, v);

  std::mt19937 rng(7);
  auto random_bytes = [&](size_t n) {
    std::vector<uint8_t> v(n);
    for (auto& b : v) b = uint8_t(rng());
    return v;
  };
  struct T {
    std::string name;
    FormatId f;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;
  };
  std::vector<T> ts = {
      {"f32.2d", FormatId::F32, {3, 5}, random_bytes(3 * 5 * 4)},
      {"f16.1d", FormatId::F16, {7}, random_bytes(14)},
      {"bf16.3d", FormatId::BF16, {2, 3, 4}, random_bytes(48)},
      {"q8_0", FormatId::Q8_0, {3, 64}, random_bytes(3 * 2 * 34)},
      {"q4_0.4d", FormatId::Q4_0, {1, 2, 2, 32}, random_bytes(4 * 18)},
  };
  for (auto& t : ts) ASSERT_TRUE(w.add_tensor(t.name, t.f, t.shape, t.data.data(), t.data.size()).ok()) << t.name;

  const std::string path = nb::test::temp_path("roundtrip.gguf");
  ASSERT_TRUE(w.write(path).ok());
  EXPECT_FALSE(exists(path + ".tmp"));
  auto r = open_gguf(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ModelFile& m = r.value();
  ASSERT_EQ(m.meta.size(), meta.size());
  for (auto& [k, v] : meta) {
    const MetaValue* got = m.get(k);
    ASSERT_NE(got, nullptr) << k;
    EXPECT_TRUE(same_meta(*got, v)) << k << ": " << got->to_string() << " vs " << v.to_string();
  }
  ASSERT_EQ(m.tensors.size(), ts.size());
  for (size_t k = 0; k < ts.size(); ++k) {
    const TensorInfo& t = m.tensors[k];
    EXPECT_EQ(t.name, ts[k].name);
    EXPECT_EQ(t.view.format, ts[k].f);
    ASSERT_EQ(t.view.ndim, int(ts[k].shape.size()));
    for (int d = 0; d < t.view.ndim; ++d) EXPECT_EQ(t.view.shape[d], ts[k].shape[size_t(d)]);
    ASSERT_EQ(t.bytes, ts[k].data.size());
    EXPECT_EQ(std::memcmp(t.view.data, ts[k].data.data(), t.bytes), 0) << t.name;
    EXPECT_EQ((static_cast<const uint8_t*>(t.view.data) - m.maps[0]->data()) % 32, 0);
  }
  // general.architecture is the first key, right after the 24-byte header.
  auto raw = testing::read_bytes(path);
  ASSERT_GT(raw.size(), 52u);
  EXPECT_EQ(std::string(raw.begin() + 32, raw.begin() + 52), "general.architecture");
  uint32_t version;
  std::memcpy(&version, raw.data() + 4, 4);
  EXPECT_EQ(version, 3u);
}

TEST(IoGgufWriter, RejectsBadTensors) {
  GgufWriter w;
  float f[8] = {};
  EXPECT_FALSE(w.add_tensor("x", FormatId::F32, {2, 4}, f, 16).ok());        // wrong byte count
  EXPECT_FALSE(w.add_tensor("x", FormatId::F32, {}, f, 4).ok());             // no dims
  EXPECT_FALSE(w.add_tensor("x", FormatId::F32, {1, 1, 1, 1, 1}, f, 4).ok()); // too many
  EXPECT_FALSE(w.add_tensor("x", FormatId::Q8_0, {1, 8}, f, 32).ok());       // not whole blocks
  EXPECT_FALSE(w.add_tensor("", FormatId::F32, {8}, f, 32).ok());
  EXPECT_FALSE(w.add_tensor("x", FormatId::I8_ROW, {1, 8}, f, 12).ok());     // no GGUF type id
  ASSERT_TRUE(w.add_tensor("x", FormatId::F32, {2, 4}, f, 32).ok());
  EXPECT_FALSE(w.add_tensor("x", FormatId::F32, {2, 4}, f, 32).ok());        // duplicate
}

TEST(IoGgufWriter, RejectsOutOfRangeMetadata) {
  GgufWriter w;
  w.add("k", MetaValue::Int(256, MetaType::U8));
  const std::string path = nb::test::temp_path("range.gguf");
  auto st = w.write(path);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'k'"), std::string::npos) << st.message();
  EXPECT_FALSE(exists(path));
  EXPECT_FALSE(exists(path + ".tmp"));
}

TEST(IoGgufWriter, NoPartialFileOnFailure) {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  float f[4] = {};
  ASSERT_TRUE(w.add_tensor("x", FormatId::F32, {4}, f, sizeof f).ok());
  // Renaming onto a directory fails after the data is written; the tmp must go.
  const std::string dir = nb::test::temp_path("a-dir");
  mkdir(dir.c_str(), 0700);
  EXPECT_FALSE(w.write(dir).ok());
  EXPECT_FALSE(exists(dir + ".tmp"));
  auto st = w.write(nb::test::temp_path("no/such/dir/x.gguf"));
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no/such/dir/x.gguf"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace nb::io
