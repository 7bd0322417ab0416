// Streaming writer of a 2-D float32 .npy file (numpy format 1.0), for
// --logits-out: the shape is fixed up front, rows are appended as computed.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/status.h"

namespace nb::io {

class NpyWriter {
 public:
  ~NpyWriter();
  // Writes to "<path>.tmp"; finish() checks the row count and renames.
  Status open(const std::string& path, int64_t rows, int64_t cols);
  Status append(const float* data, int64_t rows);
  Status finish();

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
  int64_t rows_ = 0, cols_ = 0, written_ = 0;
};

}  // namespace nb::io
