// .npy reader: files nibble's writer made, numpy's header variants, and
// hostile headers (each must fail with a message naming the file).
#include <gtest/gtest.h>

#include <cstdio>

#include "io/npy.h"
#include "io/npy_read.h"
#include "io_test_util.h"
#include "support/test_support.h"

namespace nb::io {
namespace {

using testing::FailsWith;

// A version-1 file: magic, header length, the dict (padded to 64 as numpy
// does), then `data` bytes.
std::vector<uint8_t> npy_file(const std::string& dict, size_t data, uint8_t version = 1) {
  std::string h = dict;
  const size_t pre = version == 1 ? 10 : 12;
  h.append((64 - (pre + h.size() + 1) % 64) % 64, ' ');
  h += '\n';
  testing::Bytes b;
  b.raw("\x93NUMPY").put<uint8_t>(version).put<uint8_t>(0);
  if (version == 1) b.put<uint16_t>(uint16_t(h.size()));
  else b.put<uint32_t>(uint32_t(h.size()));
  b.raw(h);
  for (size_t k = 0; k < data; ++k) b.put<uint8_t>(uint8_t(k));
  return b.b;
}

// Parses an exact-size heap copy, so ASan catches any read past the end.
Result<NpyArray> parse(const std::vector<uint8_t>& b) {
  const std::vector<uint8_t> copy(b.begin(), b.end());
  return parse_npy(copy.data(), copy.size(), "hostile.npy");
}

TEST(IoNpy, ReadsWhatTheWriterWrote) {
  const std::string path = ::testing::TempDir() + "/npy_roundtrip.npy";
  NpyWriter w;
  ASSERT_TRUE(w.open(path, 2, 3).ok());
  const float v[6] = {1.5f, -2.0f, 0.0f, 3.25f, 1e-30f, -7.0f};
  ASSERT_TRUE(w.append(v, 2).ok());
  ASSERT_TRUE(w.finish().ok());
  auto r = read_npy(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value().shape, (std::vector<int64_t>{2, 3}));
  auto f = npy_as_f32(r.value());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f.value(), std::vector<float>(v, v + 6));
  EXPECT_FALSE(npy_as_i32(r.value()).ok());  // no silent conversion
  std::remove(path.c_str());
}

TEST(IoNpy, HeaderVariants) {
  auto r = parse(npy_file("{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }", 16));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value().shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(npy_as_i32(r.value()).value()[1], 0x07060504);
  r = parse(npy_file("{'descr': '|u1', 'fortran_order': False, 'shape': (), }", 1, 2));  // scalar, version 2
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r.value().shape.empty());
  EXPECT_EQ(r.value().numel(), 1);
  r = parse(npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 5), }", 0));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value().numel(), 0);
}

TEST(IoNpy, HostileFilesFailNamingTheFile) {
  const std::string ok_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  EXPECT_TRUE(FailsWith(parse(npy_file(ok_dict, 15)), "hostile.npy", "needs 16 data bytes"));
  EXPECT_TRUE(FailsWith(parse(npy_file(ok_dict, 17)), "hostile.npy", "needs 16 data bytes"));
  std::vector<uint8_t> b = npy_file(ok_dict, 16);
  EXPECT_TRUE(FailsWith(parse({b.begin(), b.begin() + 30}), "hostile.npy", "truncated header"));
  EXPECT_TRUE(FailsWith(parse({b.begin(), b.begin() + 7}), "hostile.npy", "not a .npy"));
  b[6] = 9;
  EXPECT_TRUE(FailsWith(parse(b), "hostile.npy", "version 9"));
  // Dimensions whose product overflows 64 bits, or asks for more than any file holds.
  EXPECT_TRUE(FailsWith(parse(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 0)),
                        "hostile.npy", "too large"));
  EXPECT_TRUE(FailsWith(parse(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", 0)),
                        "hostile.npy", "too large"));
  EXPECT_TRUE(FailsWith(parse(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 0)), "hostile.npy",
                        "malformed shape"));
  EXPECT_TRUE(FailsWith(parse(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': 7, }", 0)), "hostile.npy",
                        "malformed shape"));
  EXPECT_TRUE(FailsWith(parse(npy_file("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", 4)), "hostile.npy",
                        "Fortran"));
  EXPECT_TRUE(FailsWith(parse(npy_file("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", 4)), "hostile.npy",
                        "unsupported dtype"));
  EXPECT_TRUE(FailsWith(parse(npy_file("{'descr': '<f4', 'shape': (1,), }", 4)), "hostile.npy", "lacks"));
  EXPECT_TRUE(FailsWith(read_npy(::testing::TempDir() + "/no-such.npy"), "no-such.npy", "cannot open"));
}

}  // namespace
}  // namespace nb::io
