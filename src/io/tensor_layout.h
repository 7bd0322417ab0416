// Shared by every loader: the byte size of a densely stored tensor (rows of
// formats::row_bytes), its strides, and the check that its data lies inside
// the file. One place, so every format gets the same overflow-safe checks and
// the same messages.
#pragma once
#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/tensor.h"
#include "io/model_file.h"

namespace nb::io {

// Bytes of a tensor of `shape` (outermost first, entries >= 0) in `fmt`.
// Errors (naming file and tensor): more than kMaxDims dims, a row that is not
// a whole number of blocks, or a size that overflows or exceeds `limit`
// (the bytes available, so a hostile shape can never pass).
Result<uint64_t> tensor_bytes(const std::string& file, const std::string& name, FormatId fmt, const int64_t* shape,
                              int ndim, uint64_t limit);

// Error unless [begin, begin + bytes) lies inside a file of `file_size` bytes:
// "<file>: tensor 'x': data [b, e) runs past end of file (size N)".
Status check_in_file(const std::string& file, const std::string& name, uint64_t begin, uint64_t bytes,
                     uint64_t file_size);

// A TensorInfo for data already checked with the two functions above.
TensorInfo make_tensor(const std::string& file, const std::string& name, FormatId fmt, const int64_t* shape, int ndim,
                       uint64_t bytes, const uint8_t* data);

}  // namespace nb::io
