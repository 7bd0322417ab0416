#include "tokenizer/vocab_data.h"

#include <cmath>

namespace nb {

Status validate_vocab(VocabData& v) {
  const size_t n = v.tokens.size();
  if (n == 0) return Status::Error("vocabulary '" + v.name + "' has no tokens");
  if (n > size_t(INT32_MAX)) return Status::Error("vocabulary '" + v.name + "' has too many tokens");
  if (v.scores.empty()) v.scores.assign(n, 0.0f);
  if (v.types.empty()) v.types.assign(n, 1);
  if (v.scores.size() != n)
    return Status::Error(strfmt("vocabulary '%s': %zu scores for %zu tokens", v.name.c_str(), v.scores.size(), n));
  if (v.types.size() != n)
    return Status::Error(strfmt("vocabulary '%s': %zu token types for %zu tokens", v.name.c_str(), v.types.size(), n));
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(v.scores[i]))
      return Status::Error(strfmt("vocabulary '%s': token %zu has a non-finite score", v.name.c_str(), i));
    if (v.types[i] < 0 || v.types[i] > 6)
      return Status::Error(strfmt("vocabulary '%s': token %zu has type %d, expected 0..6", v.name.c_str(), i, v.types[i]));
  }
  for (int32_t* id : {&v.bos, &v.eos, &v.unk}) {
    if (*id < -1 || *id >= int32_t(n))
      return Status::Error(strfmt("vocabulary '%s': special token id %d outside 0..%zu", v.name.c_str(), *id, n - 1));
  }
  return Status::Ok();
}

}  // namespace nb
