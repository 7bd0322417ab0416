#include "io/npy_read.h"

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace nb::io {
namespace {

static_assert(std::endian::native == std::endian::little, "npy reader assumes a little-endian host");

size_t elem_size(NpyDType t) {
  switch (t) {
    case NpyDType::F32: case NpyDType::I32: return 4;
    case NpyDType::F64: case NpyDType::I64: return 8;
    case NpyDType::U8: case NpyDType::I8: return 1;
  }
  return 1;
}

// Value of 'key' in the header dict, as raw text up to the next top-level ',' or '}'.
bool dict_value(const std::string& h, const std::string& key, std::string* out) {
  size_t k = h.find("'" + key + "'");
  if (k == std::string::npos) return false;
  size_t c = h.find(':', k);
  if (c == std::string::npos) return false;
  size_t p = c + 1;
  while (p < h.size() && h[p] == ' ') ++p;
  size_t e = p;
  if (p < h.size() && h[p] == '(') {
    e = h.find(')', p);
    if (e == std::string::npos) return false;
    ++e;
  } else {
    while (e < h.size() && h[e] != ',' && h[e] != '}') ++e;
  }
  *out = h.substr(p, e - p);
  while (!out->empty() && out->back() == ' ') out->pop_back();
  return true;
}

template <class T>
Result<std::vector<T>> typed(const NpyArray& a, NpyDType want) {
  if (a.dtype != want)
    return Status::Error(strfmt("npy: dtype is %s, expected %s", npy_dtype_name(a.dtype), npy_dtype_name(want)));
  std::vector<T> v(size_t(a.numel()));
  if (!v.empty()) std::memcpy(v.data(), a.bytes.data(), v.size() * sizeof(T));
  return v;
}

}  // namespace

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const char* npy_dtype_name(NpyDType t) {
  switch (t) {
    case NpyDType::F32: return "float32";
    case NpyDType::F64: return "float64";
    case NpyDType::I64: return "int64";
    case NpyDType::I32: return "int32";
    case NpyDType::U8: return "uint8";
    case NpyDType::I8: return "int8";
  }
  return "?";
}

Result<NpyArray> read_npy(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return Status::Error(strfmt("%s: cannot open: %s", path.c_str(), std::strerror(errno)));
  unsigned char pre[10];
  if (std::fread(pre, 1, 10, f.get()) != 10 || std::memcmp(pre, "\x93NUMPY", 6) != 0)
    return Status::Error(path + ": not a .npy file");
  const int major = pre[6];
  size_t hlen = 0;
  if (major == 1) {
    hlen = size_t(pre[8]) | size_t(pre[9]) << 8;
  } else if (major == 2 || major == 3) {
    unsigned char more[2];
    if (std::fread(more, 1, 2, f.get()) != 2) return Status::Error(path + ": truncated header");
    hlen = size_t(pre[8]) | size_t(pre[9]) << 8 | size_t(more[0]) << 16 | size_t(more[1]) << 24;
  } else {
    return Status::Error(strfmt("%s: unsupported .npy version %d", path.c_str(), major));
  }
  if (hlen > (1u << 20)) return Status::Error(path + ": header too large");
  std::string h(hlen, '\0');
  if (std::fread(h.data(), 1, hlen, f.get()) != hlen) return Status::Error(path + ": truncated header");

  std::string descr, fortran, shape;
  if (!dict_value(h, "descr", &descr) || !dict_value(h, "fortran_order", &fortran) || !dict_value(h, "shape", &shape))
    return Status::Error(path + ": header lacks descr/fortran_order/shape");
  if (fortran != "False") return Status::Error(path + ": Fortran-order arrays are not supported");

  NpyArray a;
  if (descr == "'<f4'") a.dtype = NpyDType::F32;
  else if (descr == "'<f8'") a.dtype = NpyDType::F64;
  else if (descr == "'<i8'") a.dtype = NpyDType::I64;
  else if (descr == "'<i4'") a.dtype = NpyDType::I32;
  else if (descr == "'|u1'" || descr == "'<u1'") a.dtype = NpyDType::U8;
  else if (descr == "'|i1'" || descr == "'<i1'") a.dtype = NpyDType::I8;
  else return Status::Error(strfmt("%s: unsupported dtype %s", path.c_str(), descr.c_str()));

  // shape: "(256, 256)", "(256,)" or "()"
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')')
    return Status::Error(path + ": malformed shape " + shape);
  const char* p = shape.c_str() + 1;
  while (*p && *p != ')') {
    while (*p == ' ' || *p == ',') ++p;
    if (*p == ')') break;
    char* end = nullptr;
    long long d = std::strtoll(p, &end, 10);
    if (end == p || d < 0) return Status::Error(path + ": malformed shape " + shape);
    a.shape.push_back(d);
    p = end;
  }
  const int64_t n = a.numel();
  if (n < 0 || n > (int64_t(1) << 34)) return Status::Error(path + ": array too large");
  a.bytes.resize(size_t(n) * elem_size(a.dtype));
  if (std::fread(a.bytes.data(), 1, a.bytes.size(), f.get()) != a.bytes.size())
    return Status::Error(strfmt("%s: truncated data (expected %zu bytes)", path.c_str(), a.bytes.size()));
  return a;
}

Result<std::vector<float>> npy_as_f32(const NpyArray& a) { return typed<float>(a, NpyDType::F32); }
Result<std::vector<double>> npy_as_f64(const NpyArray& a) { return typed<double>(a, NpyDType::F64); }
Result<std::vector<int64_t>> npy_as_i64(const NpyArray& a) { return typed<int64_t>(a, NpyDType::I64); }
Result<std::vector<int32_t>> npy_as_i32(const NpyArray& a) { return typed<int32_t>(a, NpyDType::I32); }
Result<std::vector<uint8_t>> npy_as_u8(const NpyArray& a) { return typed<uint8_t>(a, NpyDType::U8); }
Result<std::vector<int8_t>> npy_as_i8(const NpyArray& a) { return typed<int8_t>(a, NpyDType::I8); }

}  // namespace nb::io
