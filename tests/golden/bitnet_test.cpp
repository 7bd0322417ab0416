// bitnet-small (bitllama2.c's trained BitNet b1.58 TinyStories model) through
// the nibble binary: greedy runs must print exactly what bitllama2.c's runbit.c
// printed, with the same ids, for every kernel ISA of this CPU and any thread
// count; prefill must equal token-by-token decode bit for bit; damaged files
// must fail with messages that say what is wrong.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "io/model_file.h"
#include "kernels/dispatch.h"
#include "models/bitnet.h"
#include "support/test_support.h"

namespace nb::test {
namespace {

const std::string kModel = "models/bitnet-small/model.bin";
const std::string kTok = "models/bitnet-small/tokenizer.bin";

struct Case {
  const char* prompt;
  const char* n;    // llama.cpp semantics: tokens to generate. runbit.c ran 256 forward passes,
                    // prompt included: 256 from BOS alone, 256 - 4 after the 5 ids of "Lily and Ben".
  const char* ref;  // file stem under models/bitnet-small/reference/
};
const Case kCases[] = {
    {"", "256", "bitnet-greedy"},
    {"Lily and Ben", "252", "bitnet-greedy-lily-and-ben"},
};

std::vector<std::string> isas() {
  std::vector<std::string> v;
  std::istringstream in(kernels::available_isas());
  for (std::string s; in >> s;) v.push_back(s);
  if (v.empty()) v.push_back("scalar");
  return v;
}

TEST(BitnetSmall, GreedyMatchesRunbitForEveryIsaAndThreadCount) {
  NB_REQUIRE_DATA(kModel);
  for (const std::string& isa : isas()) {
    setenv("NIBBLE_ISA", isa.c_str(), 1);  // inherited by the nibble child process
    for (const char* threads : {"1", "2"})
      for (const Case& c : kCases) {
        const std::string ids_out = temp_path(std::string(c.ref) + ".ids");
        RunResult r = run_nibble({"run", "-m", data_path(kModel), "--tokenizer", data_path(kTok), "-p", c.prompt,
                                  "--temp", "0", "-n", c.n, "-t", threads, "--ids-out", ids_out});
        SCOPED_TRACE(isa + ", " + threads + " threads, " + c.ref);
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.out, read_file(data_path("models/bitnet-small/reference/" + std::string(c.ref) + ".txt")));
        EXPECT_EQ(read_ids(ids_out), read_ids(data_path("models/bitnet-small/reference/" + std::string(c.ref) + ".ids.txt")));
      }
  }
  unsetenv("NIBBLE_ISA");
}

TEST(BitnetSmall, PrefillEqualsDecode) {
  NB_REQUIRE_DATA(kModel);
  auto mf = io::open_model(data_path(kModel));
  ASSERT_TRUE(mf.ok()) << mf.status().message();
  auto model = load_model(std::make_shared<const io::ModelFile>(std::move(mf).value()));
  ASSERT_TRUE(model.ok()) << model.status().message();
  Model& m = **model;
  EXPECT_EQ(m.info().arch, kBitnetArch);
  const int64_t V = m.info().n_vocab;
  std::vector<int32_t> ids = read_ids(data_path("models/bitnet-small/reference/bitnet-greedy-lily-and-ben.ids.txt"));
  ids.resize(40);
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    // all at once
    auto st = m.new_state(64);
    std::vector<float> all(ids.size() * size_t(V));
    ASSERT_TRUE(m.forward(ids, *st, all.data(), true, pool).ok());
    EXPECT_EQ(st->n_past, int64_t(ids.size()));
    // one token at a time, and in uneven chunks after a prefix
    auto one = m.new_state(64), chunked = m.new_state(64);
    std::vector<float> row(static_cast<size_t>(V)), rows(7 * static_cast<size_t>(V));
    for (size_t t = 0; t < ids.size(); ++t) {
      ASSERT_TRUE(m.forward(std::span<const int32_t>(&ids[t], 1), *one, row.data(), false, pool).ok());
      ASSERT_EQ(std::memcmp(row.data(), &all[t * size_t(V)], row.size() * sizeof(float)), 0)
          << "position " << t << ", " << threads << " threads";
    }
    for (size_t t0 = 0; t0 < ids.size(); t0 += 7) {
      const size_t n = std::min<size_t>(7, ids.size() - t0);
      ASSERT_TRUE(m.forward(std::span<const int32_t>(&ids[t0], n), *chunked, rows.data(), true, pool).ok());
      ASSERT_EQ(std::memcmp(rows.data(), &all[t0 * size_t(V)], n * size_t(V) * sizeof(float)), 0) << "chunk at " << t0;
    }
  }
}

TEST(BitnetSmall, ForwardRejectsBadIdsAndFullContext) {
  NB_REQUIRE_DATA(kModel);
  auto mf = io::open_model(data_path(kModel));
  ASSERT_TRUE(mf.ok()) << mf.status().message();
  auto model = load_model(std::make_shared<const io::ModelFile>(std::move(mf).value()));
  ASSERT_TRUE(model.ok()) << model.status().message();
  ThreadPool pool(1);
  auto st = (*model)->new_state(2);
  std::vector<float> logits(512 * 3);
  const int32_t bad[] = {1, 512};
  Status s = (*model)->forward(bad, *st, logits.data(), false, pool);
  EXPECT_NE(s.message().find("token id 512 is out of range"), std::string::npos) << s.message();
  const int32_t three[] = {1, 2, 3};
  s = (*model)->forward(three, *st, logits.data(), false, pool);
  EXPECT_NE(s.message().find("context is full"), std::string::npos) << s.message();
  EXPECT_EQ(st->n_past, 0);
}

TEST(BitnetSmall, Inspect) {
  NB_REQUIRE_DATA(kModel);
  RunResult r = run_nibble({"inspect", data_path(kModel)});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  for (const char* part : {"container: bitnet-c", "bitnet.n_kv_heads", "layers.7.w3", "architecture: bitnet-b1.58",
                           "matrices: t2"})
    EXPECT_NE(r.out.find(part), std::string::npos) << part << "\n" << r.out;
}

// A copy of model.bin with `edit` applied, written to a temporary file.
std::string damaged_copy(const std::string& name, void (*edit)(std::string&)) {
  std::string bytes = read_file(data_path(kModel));
  edit(bytes);
  const std::string path = temp_path(name);
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size()));
  return path;
}

TEST(BitnetSmall, DamagedFilesFailClearly) {
  NB_REQUIRE_DATA(kModel);
  struct Bad {
    const char* name;
    void (*edit)(std::string&);
    const char* message;
  };
  const Bad kBad[] = {
      {"truncated.bin", [](std::string& b) { b.pop_back(); },
       "should be 13124864 bytes (fp32 llama2.c) or 1312224 bytes (bitllama2.c ternary), found 1312223"},
      {"longer.bin", [](std::string& b) { b.push_back('\0'); }, "or 1312224 bytes (bitllama2.c ternary), found 1312225"},
      // The first code byte of layers.0.wq: header 256, rms_final 1024, embedding 524288, the scale 4.
      {"code10.bin", [](std::string& b) { b[525572] = 0x02; },
       "tensor 'layers.0.wq': invalid 2-bit code 10 in byte 0x02 at file offset 525572"},
      // shared_classifier 0 adds a classifier to both layouts (+ 512*256 floats, or + a 4 + 512*256/4 byte record)
      {"unshared.bin", [](std::string& b) { b[36] = 0; },
       "should be 13649152 bytes (fp32 llama2.c) or 1344996 bytes (bitllama2.c ternary), found 1312224"},
      {"heads.bin", [](std::string& b) { b[20] = 7; }, "n_heads does not divide dim"},
  };
  for (const Bad& bad : kBad) {
    const std::string path = damaged_copy(bad.name, bad.edit);
    for (const char* sub : {"run", "inspect"}) {
      RunResult r = std::string(sub) == "run"
                        ? run_nibble({"run", "-m", path, "--tokenizer", data_path(kTok), "-n", "1"})
                        : run_nibble({"inspect", path});
      EXPECT_EQ(r.exit_code, 1) << bad.name << " " << sub;
      EXPECT_NE(r.err.find(path), std::string::npos) << bad.name << " " << sub << ": " << r.err;
      EXPECT_NE(r.err.find(bad.message), std::string::npos) << bad.name << " " << sub << ": " << r.err;
    }
  }
}

}  // namespace
}  // namespace nb::test
