// The greedy pair-merge loop that every tokenizer here shares: repeatedly
// merge the adjacent pair with the best score, leftmost on ties, until no
// pair qualifies. llama2.c's encode() rescans all pairs each round (O(n^2));
// a priority queue with stale-entry checks picks the same pair every round
// (best score, then smallest position, and positions keep their order), so
// the results are identical at O(n log n).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace nb::tok {

struct Symbol {
  std::string text;
  int32_t id = -1;  // -1: not (yet) a known token
};

// `score_pair(left, right, &score, &id)` says whether `left`+`right` may
// merge, with which score (higher merges first) and into which id.
using PairScorer = std::function<bool(std::string_view left, std::string_view right, double* score, int32_t* id)>;

// Merges `syms` in place and returns the surviving symbols in order.
std::vector<Symbol> merge_pairs(std::vector<Symbol> syms, const PairScorer& score_pair);

}  // namespace nb::tok
