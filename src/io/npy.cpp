#include "io/npy.h"

#include <cerrno>
#include <cstring>

namespace nb::io {

NpyWriter::~NpyWriter() {
  if (f_) {
    std::fclose(f_);
    std::remove((path_ + ".tmp").c_str());
  }
}

Status NpyWriter::open(const std::string& path, int64_t rows, int64_t cols) {
  path_ = path;
  rows_ = rows;
  cols_ = cols;
  f_ = std::fopen((path + ".tmp").c_str(), "wb");
  if (!f_) return Status::Error(strfmt("%s: cannot write: %s", path.c_str(), std::strerror(errno)));
  std::string dict = strfmt("{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld), }", (long long)rows,
                            (long long)cols);
  // magic(6) + version(2) + header length(2) + dict, padded with spaces and a newline to a multiple of 64
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  uint16_t hlen = uint16_t(dict.size());
  const char magic[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
  std::fwrite(magic, 1, 8, f_);
  std::fwrite(&hlen, 2, 1, f_);
  std::fwrite(dict.data(), 1, dict.size(), f_);
  return std::ferror(f_) ? Status::Error(path + ": write failed") : Status::Ok();
}

Status NpyWriter::append(const float* data, int64_t rows) {
  if (written_ + rows > rows_) return Status::Error(path_ + ": more logits rows than announced");
  if (std::fwrite(data, sizeof(float), size_t(rows * cols_), f_) != size_t(rows * cols_))
    return Status::Error(strfmt("%s: write failed: %s", path_.c_str(), std::strerror(errno)));
  written_ += rows;
  return Status::Ok();
}

Status NpyWriter::finish() {
  if (!f_) return Status::Error(path_ + ": not open");
  if (written_ != rows_)
    return Status::Error(strfmt("%s: wrote %lld rows, announced %lld", path_.c_str(), (long long)written_, (long long)rows_));
  bool err = std::fclose(f_) != 0;
  f_ = nullptr;
  if (err || std::rename((path_ + ".tmp").c_str(), path_.c_str()) != 0) {
    std::remove((path_ + ".tmp").c_str());
    return Status::Error(path_ + ": cannot finish writing");
  }
  return Status::Ok();
}

}  // namespace nb::io
