// rearrange_for_kernels: every matrix the active kernels would rather read in
// another layout gets it, keeps its values, and a random model's original
// buffers are given back (the weights are held once), while a buffer that
// something else still uses (the tied embedding) is kept.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "formats/format.h"
#include "kernels/ops.h"
#include "models/llama.h"
#include "models/llama_weights.h"

namespace nb {
namespace {

LlamaConfig tiny() {
  LlamaConfig c;
  c.dim = 64;
  c.hidden_dim = 128;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 16;
  c.rot_dim = 16;
  c.vocab_size = 96;
  c.n_ctx_train = 32;
  return c;
}

std::vector<float> values(const TensorView& t) {
  std::vector<float> v(size_t(t.rows() * t.cols()));
  for (int64_t r = 0; r < t.rows(); ++r)
    formats::traits(t.format).to_float(t.row<const char>(r), v.data() + r * t.cols(), t.cols());
  return v;
}

TEST(LlamaWeights, RearrangingGivesTheOriginalBuffersBack) {
  ThreadPool pool(2);
  auto made = random_llama_weights(tiny(), FormatId::Q8_0, 7, pool);
  ASSERT_TRUE(made.ok()) << made.status().message();
  LlamaWeights w = std::move(made).value();
  if (!kernels::wants_kernel_layout(w.layers[0].wq)) GTEST_SKIP() << "these kernels read Q8_0 as it is";
  for (Buffer& b : w.owned)  // tie the head to the embedding: its own matrix goes
    if (b.data() == w.output.data) b = Buffer();
  w.output = w.tok_embd;
  const std::vector<float> wq = values(w.layers[1].wq), head = values(w.output);
  const void* embd = w.tok_embd.data;
  rearrange_for_kernels(w);
  EXPECT_NE(w.layers[1].wq.format, FormatId::Q8_0);
  EXPECT_EQ(values(w.layers[1].wq), wq);
  EXPECT_EQ(values(w.output), head);
  EXPECT_EQ(values(w.tok_embd), head);
  // Every buffer still held is something the model uses (no orphaned
  // original), and the embedding, which the tied head shared, is one of them.
  std::vector<const void*> used = {w.tok_embd.data, w.output.data, w.out_norm};
  for (const LlamaLayer& L : w.layers)
    used.insert(used.end(), {L.attn_norm, L.ffn_norm, L.wq.data, L.wk.data, L.wv.data, L.wo.data, L.w_gate.data,
                             L.w_up.data, L.w_down.data});
  for (const Buffer& b : w.owned) {
    if (b.size() == 0) continue;
    const auto* lo = static_cast<const char*>(b.data());
    bool in_use = false;
    for (const void* p : used) {
      const auto* q = static_cast<const char*>(p);
      in_use = in_use || (q >= lo && q < lo + b.size());
    }
    EXPECT_TRUE(in_use) << "a buffer of " << b.size() << " bytes that nothing uses";
  }
  EXPECT_EQ(w.tok_embd.data, embd);
}

}  // namespace
}  // namespace nb
