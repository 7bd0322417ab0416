// Errors as values. A Status carries a message that names the file, the tensor,
// what was expected and what was found; the library never aborts on bad input.
#pragma once
#include <cstdio>
#include <optional>
#include <string>
#include <utility>

namespace nb {

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string msg) { Status s; s.err_ = std::move(msg); return s; }
  bool ok() const { return !err_.has_value(); }
  const std::string& message() const { static const std::string kOk = "ok"; return err_ ? *err_ : kOk; }
  // Prefix context ("loading foo.gguf: ") onto an error; no-op on success.
  Status with_context(const std::string& ctx) const {
    return ok() ? *this : Error(ctx + ": " + *err_);
  }
 private:
  std::optional<std::string> err_;
};

// printf-style message builder for errors.
std::string strfmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

template <class T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}             // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}     // NOLINT: must be an error
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace nb

#define NB_CONCAT_(a, b) a##b
#define NB_CONCAT(a, b) NB_CONCAT_(a, b)

// Return the Status if it is an error.
#define NB_TRY(expr)                              \
  do {                                            \
    ::nb::Status nb_st_ = (expr);                 \
    if (!nb_st_.ok()) return nb_st_;              \
  } while (0)

// `NB_ASSIGN_OR_RETURN(auto x, f());` — unwrap a Result or return its error.
#define NB_ASSIGN_OR_RETURN(lhs, expr) NB_ASSIGN_OR_RETURN_(NB_CONCAT(nb_r_, __LINE__), lhs, expr)
#define NB_ASSIGN_OR_RETURN_(tmp, lhs, expr) \
  auto tmp = (expr);                         \
  if (!tmp.ok()) return tmp.status();        \
  lhs = std::move(tmp).value()
