#include "io/tensor_layout.h"

#include "formats/format.h"
#include "io/checked.h"

namespace nb::io {

static std::string dims_string(const int64_t* shape, int ndim) {
  std::string s = "[";
  for (int i = 0; i < ndim; ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Result<uint64_t> tensor_bytes(const std::string& file, const std::string& name, FormatId fmt, const int64_t* shape,
                              int ndim, uint64_t limit) {
  auto fail = [&](const std::string& why) {
    return Status::Error(strfmt("%s: tensor '%s': %s", file.c_str(), name.c_str(), why.c_str()));
  };
  if (ndim < 0 || ndim > kMaxDims) return fail(strfmt("%d dimensions (at most %d supported)", ndim, kMaxDims));
  uint64_t rows = 1;
  bool empty = false;
  for (int i = 0; i < ndim; ++i) {
    if (shape[i] < 0) return fail("negative dimension in shape " + dims_string(shape, ndim));
    if (shape[i] == 0) empty = true;
  }
  if (empty) return uint64_t(0);
  for (int i = 0; i + 1 < ndim; ++i)
    if (!checked_mul(rows, uint64_t(shape[i]), &rows) || rows > limit)
      return fail(strfmt("shape %s needs more bytes than the %llu available", dims_string(shape, ndim).c_str(),
                         (unsigned long long)limit));
  const int64_t cols = ndim == 0 ? 1 : shape[ndim - 1];
  const std::string what = strfmt("%s: tensor '%s'", file.c_str(), name.c_str());
  NB_TRY(formats::check_row(fmt, cols, what.c_str()));
  const auto& t = formats::traits(fmt);
  // Bound the block count first so row_bytes() cannot overflow.
  if (uint64_t(cols / t.block_size) > limit)
    return fail(strfmt("shape %s needs more bytes than the %llu available", dims_string(shape, ndim).c_str(),
                       (unsigned long long)limit));
  uint64_t total;
  if (!checked_mul(formats::row_bytes(fmt, cols), rows, &total) || total > limit)
    return fail(strfmt("shape %s needs more bytes than the %llu available", dims_string(shape, ndim).c_str(),
                       (unsigned long long)limit));
  return total;
}

Status check_in_file(const std::string& file, const std::string& name, uint64_t begin, uint64_t bytes,
                     uint64_t file_size) {
  uint64_t end;
  if (!checked_add(begin, bytes, &end) || end > file_size)
    return Status::Error(strfmt("%s: tensor '%s': data [%llu, %llu) runs past end of file (size %llu)", file.c_str(),
                                name.c_str(), (unsigned long long)begin,
                                (unsigned long long)(checked_add(begin, bytes, &end) ? end : UINT64_MAX),
                                (unsigned long long)file_size));
  return Status::Ok();
}

TensorInfo make_tensor(const std::string& file, const std::string& name, FormatId fmt, const int64_t* shape, int ndim,
                       uint64_t bytes, const uint8_t* data) {
  TensorInfo ti;
  ti.name = name;
  ti.file = file;
  ti.bytes = size_t(bytes);
  TensorView& v = ti.view;
  v.format = fmt;
  v.ndim = ndim;
  for (int i = 0; i < ndim; ++i) v.shape[i] = shape[i];
  v.data = const_cast<uint8_t*>(data);  // views are read-only by convention; the map is PROT_READ
  // An empty tensor (a zero dimension) keeps zero strides: nothing to reach.
  if (ndim > 0 && bytes > 0) {
    const auto& t = formats::traits(fmt);
    // Innermost stride is one element for unblocked formats; blocked rows are
    // addressed whole (tensor.h), so it is 0 there.
    v.stride[ndim - 1] = t.block_size == 1 ? int64_t(t.block_bytes) : 0;
    // tensor_bytes() bounded the row bytes and every product of outer dims.
    if (ndim > 1) v.stride[ndim - 2] = int64_t(formats::row_bytes(fmt, shape[ndim - 1]));
    for (int i = ndim - 3; i >= 0; --i) v.stride[i] = v.stride[i + 1] * shape[i + 1];
  }
  return ti;
}

}  // namespace nb::io
