#include "io/npy_read.h"

#include <bit>
#include <cstring>

#include "core/mapped_file.h"
#include "io/checked.h"

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

Result<NpyArray> parse_npy(const uint8_t* data, size_t size, const std::string& name) {
  auto err = [&](const std::string& why) { return Status::Error(name + ": " + why); };
  if (size < 10 || std::memcmp(data, "\x93NUMPY", 6) != 0) return err("not a .npy file");
  const int major = data[6];
  size_t hlen = 0, pos = 10;
  if (major == 1) {
    hlen = size_t(data[8]) | size_t(data[9]) << 8;
  } else if (major == 2 || major == 3) {
    if (size < 12) return err("truncated header");
    hlen = size_t(data[8]) | size_t(data[9]) << 8 | size_t(data[10]) << 16 | size_t(data[11]) << 24;
    pos = 12;
  } else {
    return err(strfmt("unsupported .npy version %d", major));
  }
  if (hlen > (1u << 20)) return err("header too large");
  if (hlen > size - pos) return err("truncated header");
  const std::string h(reinterpret_cast<const char*>(data + pos), hlen);
  pos += hlen;

  std::string descr, fortran, shape;
  if (!dict_value(h, "descr", &descr) || !dict_value(h, "fortran_order", &fortran) || !dict_value(h, "shape", &shape))
    return err("header lacks descr/fortran_order/shape");
  if (fortran != "False") return err("Fortran-order arrays are not supported");

  NpyArray a;
  if (descr == "'<f4'") a.dtype = NpyDType::F32;
  else if (descr == "'<f8'") a.dtype = NpyDType::F64;
  else if (descr == "'<i8'") a.dtype = NpyDType::I64;
  else if (descr == "'<i4'") a.dtype = NpyDType::I32;
  else if (descr == "'|u1'" || descr == "'<u1'") a.dtype = NpyDType::U8;
  else if (descr == "'|i1'" || descr == "'<i1'") a.dtype = NpyDType::I8;
  else return err("unsupported dtype " + descr);

  // shape: "(256, 256)", "(256,)" or "()"; every dimension a plain decimal,
  // their product (in bytes) no larger than what follows the header.
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')') return err("malformed shape " + shape);
  uint64_t bytes = elem_size(a.dtype);
  for (size_t i = 1; i + 1 < shape.size();) {
    if (shape[i] == ' ' || shape[i] == ',') {
      ++i;
      continue;
    }
    uint64_t d = 0;
    size_t j = i;
    for (; j + 1 < shape.size() && shape[j] >= '0' && shape[j] <= '9'; ++j)
      if (!checked_mul(d, 10, &d) || !checked_add(d, uint64_t(shape[j] - '0'), &d) || d > (uint64_t(1) << 40))
        return err("dimension too large in shape " + shape);
    if (j == i) return err("malformed shape " + shape);
    if (!checked_mul(bytes, d, &bytes) || bytes > (uint64_t(1) << 40)) return err("array too large: shape " + shape);
    a.shape.push_back(int64_t(d));
    i = j;
  }
  if (a.shape.size() > 32) return err("too many dimensions in shape " + shape);
  if (bytes != size - pos)
    return err(strfmt("the shape %s needs %llu data bytes, the file has %zu", shape.c_str(),
                      (unsigned long long)bytes, size - pos));
  a.bytes.assign(data + pos, data + size);
  return a;
}

Result<NpyArray> read_npy(const std::string& path) {
  auto map = MappedFile::open(path);
  if (!map.ok()) return map.status();
  const MappedFile& m = *map.value();
  return parse_npy(m.data(), m.size(), path);
}

Result<std::vector<float>> npy_as_f32(const NpyArray& a) { return typed<float>(a, NpyDType::F32); }
Result<std::vector<double>> npy_as_f64(const NpyArray& a) { return typed<double>(a, NpyDType::F64); }
Result<std::vector<int64_t>> npy_as_i64(const NpyArray& a) { return typed<int64_t>(a, NpyDType::I64); }
Result<std::vector<int32_t>> npy_as_i32(const NpyArray& a) { return typed<int32_t>(a, NpyDType::I32); }
Result<std::vector<uint8_t>> npy_as_u8(const NpyArray& a) { return typed<uint8_t>(a, NpyDType::U8); }
Result<std::vector<int8_t>> npy_as_i8(const NpyArray& a) { return typed<int8_t>(a, NpyDType::I8); }

}  // namespace nb::io
