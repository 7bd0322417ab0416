#include "tokenizer/pair_merge.h"

#include <queue>

namespace nb::tok {

namespace {

struct Candidate {
  double score;
  int32_t left, right;  // positions in the original symbol array
  size_t size;          // left.size() + right.size() when queued
  int32_t id;
};

// std::priority_queue pops the "largest": best score, then leftmost.
struct Worse {
  bool operator()(const Candidate& a, const Candidate& b) const {
    if (a.score != b.score) return a.score < b.score;
    return a.left > b.left;
  }
};

}  // namespace

std::vector<Symbol> merge_pairs(std::vector<Symbol> syms, const PairScorer& score_pair) {
  const int32_t n = static_cast<int32_t>(syms.size());
  std::vector<int32_t> prev(n), next(n);
  for (int32_t i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  std::vector<bool> alive(n, true);
  std::priority_queue<Candidate, std::vector<Candidate>, Worse> queue;

  auto consider = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    double score;
    int32_t id = -1;
    if (score_pair(syms[l].text, syms[r].text, &score, &id))
      queue.push({score, l, r, syms[l].text.size() + syms[r].text.size(), id});
  };
  for (int32_t i = 1; i < n; ++i) consider(i - 1, i);

  while (!queue.empty()) {
    Candidate c = queue.top();
    queue.pop();
    // Stale: one side was merged away, or grew since this pair was queued.
    if (!alive[c.left] || !alive[c.right] || next[c.left] != c.right ||
        syms[c.left].text.size() + syms[c.right].text.size() != c.size)
      continue;
    syms[c.left].text += syms[c.right].text;
    syms[c.left].id = c.id;
    alive[c.right] = false;
    next[c.left] = next[c.right];
    if (next[c.right] >= 0) prev[next[c.right]] = c.left;
    consider(prev[c.left], c.left);
    consider(c.left, next[c.left]);
  }

  std::vector<Symbol> out;
  for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = next[i]) out.push_back(std::move(syms[i]));
  return out;
}

}  // namespace nb::tok
