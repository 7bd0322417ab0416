// nibble bench: prompt-processing and generation speed, mean ± sd over
// repetitions, with the memory read bandwidth measured in the same run so each
// result can be given as a fraction of this machine's roof. Output: markdown,
// or --json with llama-bench's field names where they overlap.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <numeric>
#include <sstream>

#include "cli/bench_kernels.h"
#include "cli/common.h"
#include "core/membw.h"
#include "formats/format.h"
#include "kernels/dispatch.h"
#include "models/hgrn_bit.h"
#include "models/llama.h"
#include "models/llama_weights.h"

namespace nb::cli {
namespace {

struct BenchFlags {
  std::string model, random_shape, type, threads = "", out_json;
  int64_t n_prompt = 128, n_gen = 64;
  int reps = 5;
  bool json = false, kernels = false, no_repack = false;
  std::vector<std::string> given;  // the options given on the command line (--kernels refuses most)
  uint64_t seed = 1;
};

double sample_mean(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }
double sample_sd(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = sample_mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1));
}

struct Test {
  int threads;
  int64_t n_prompt, n_gen;
  std::vector<double> samples_ts;
  // Generation: the read bandwidth probed just before its warm-up run and
  // just after its last run (a shared machine's bandwidth moves by tens of
  // percent within minutes, so a probe minutes earlier says little). The
  // probes stay outside the runs: probing between runs cost 10-20% of the
  // runs right after it at 1 thread (Zen 5 guest), a slowdown a user's
  // decode does not see.
  double bw_before = 0, bw_after = 0;
  double avg() const { return sample_mean(samples_ts); }
  double sd() const { return sample_sd(samples_ts); }
  // The bandwidth to print beside this test: for generation, the mean of its
  // two probes; otherwise the probe before all tests.
  double bw(double probe_first) const { return n_gen > 0 ? (bw_before + bw_after) / 2 : probe_first; }
};

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

Result<std::vector<int>> parse_threads(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    long t = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end || t < 1 || t > 1024) return Status::Error("-t: '" + item + "' is not a thread count");
    v.push_back(int(t));
  }
  if (v.empty()) v.push_back(physical_cores());
  return v;
}

std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

int run(const BenchFlags& f) {
  if (f.kernels) {
    for (const std::string& o : f.given)
      if (o != "--kernels" && o != "--type" && o != "--repetitions")
        return fail("bench", Status::Error("--kernels measures each kernel alone on one thread and takes only --type "
                                           "and -r/--repetitions, not " + o));
    return run_kernel_bench(f.type, f.reps);
  }
  if (f.model.empty() == f.random_shape.empty())
    return fail("bench", Status::Error("give exactly one of -m/--model or --random SHAPE"));
  auto threads = parse_threads(f.threads);
  if (!threads.ok()) return fail("bench", threads.status());
  int max_t = *std::max_element(threads->begin(), threads->end());

  std::unique_ptr<Model> model;
  std::shared_ptr<const io::ModelFile> file;
  std::string name;
  {
    ThreadPool pool(max_t);
    if (!f.random_shape.empty()) {
      const bool mmfree = f.random_shape.rfind("mmfree-", 0) == 0;
      const std::string type = !f.type.empty() ? f.type : (mmfree ? "t2" : "q8_0");
      const formats::FormatTraits* tr = formats::find_by_name(type);
      if (!tr) return fail("bench", Status::Error("unknown --type '" + type + "'"));
      std::fprintf(stderr, "nibble bench: building a random %s model in %s...\n", f.random_shape.c_str(), tr->name);
      Result<std::unique_ptr<Model>> m = Status::Error("");
      if (mmfree) {
        auto cfg = hgrn_bit_shape(f.random_shape);
        if (!cfg.ok()) return fail("bench", cfg.status());
        m = make_random_hgrn_bit(*cfg, tr->id, f.seed, pool);
      } else {
        auto cfg = llama_shape(f.random_shape);
        if (!cfg.ok()) return fail("bench", cfg.status());
        LoadOptions lo;
        lo.repack = !f.no_repack;
        m = make_random_llama(*cfg, tr->id, f.seed, pool, lo);
      }
      if (!m.ok()) return fail("bench", m.status());
      model = std::move(m).value();
      name = "random:" + f.random_shape;
    } else {
      ModelFlags mf;
      mf.model = f.model;
      mf.no_repack = f.no_repack;
      auto loaded = load(mf, false);
      if (!loaded.ok()) return fail("bench", loaded.status());
      model = std::move(loaded->model);
      file = loaded->file;
      name = f.model;
    }
  }
  const ModelInfo& info = model->info();
  const int64_t V = info.n_vocab;
  std::vector<float> logits(size_t(std::max<int64_t>(f.n_prompt, 1) * V));
  std::vector<Test> tests;
  std::vector<double> bw_by_threads;

  for (int t : *threads) {
    ThreadPool pool(t);
    bw_by_threads.push_back(measure_read_bandwidth(pool));
    std::vector<int32_t> ids(size_t(std::max<int64_t>(f.n_prompt, f.n_gen)));
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 7919 + 1) % size_t(V));
    auto st = model->new_state(f.n_prompt + f.n_gen + 1);
    for (int kind = 0; kind < 2; ++kind) {
      Test test{t, kind == 0 ? f.n_prompt : 0, kind == 1 ? f.n_gen : 0, {}, 0, 0};
      int64_t n = kind == 0 ? f.n_prompt : f.n_gen;
      if (n <= 0) continue;
      if (kind == 1) test.bw_before = measure_read_bandwidth(pool);
      for (int r = -1; r < f.reps; ++r) {  // r = -1: warm-up
        st->reset();
        double t0 = now_s();
        Status s;
        if (kind == 0) {
          s = model->forward(std::span<const int32_t>(ids.data(), size_t(n)), *st, logits.data(), false, pool);
        } else {
          for (int64_t i = 0; i < n && s.ok(); ++i)
            s = model->forward(std::span<const int32_t>(&ids[size_t(i)], 1), *st, logits.data(), false, pool);
        }
        if (!s.ok()) return fail("bench", s);
        double dt = now_s() - t0;
        if (r >= 0) test.samples_ts.push_back(double(n) / dt);
      }
      if (kind == 1) test.bw_after = measure_read_bandwidth(pool);
      tests.push_back(test);
    }
  }

  char date[32];
  std::time_t tt = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&tt));
  const std::string isa = kernels::active_table().isa, cpu = cpu_model_name();
  if (f.json) {
    std::printf("[\n");
    for (size_t i = 0; i < tests.size(); ++i) {
      const Test& x = tests[i];
      size_t ti = size_t(std::find(threads->begin(), threads->end(), x.threads) - threads->begin());
      double bw = x.bw(bw_by_threads[ti]);
      double wbps = x.n_gen > 0 ? x.avg() * double(info.weight_bytes) : 0;
      std::printf("  {\"build_commit\": %s, \"cpu_info\": %s, \"backends\": \"CPU\", \"kernel_isa\": %s, "
                  "\"model_filename\": %s, \"model_type\": %s, \"model_size\": %lld, \"model_n_params\": %lld, "
                  "\"n_threads\": %d, \"n_prompt\": %lld, \"n_gen\": %lld, \"test_time\": %s, "
                  "\"avg_ts\": %.6f, \"stddev_ts\": %.6f, \"samples_ts\": [",
                  json_str(NIBBLE_VERSION).c_str(), json_str(cpu).c_str(), json_str(isa).c_str(), json_str(name).c_str(),
                  json_str(info.arch + " " + info.weight_format).c_str(), (long long)info.weight_bytes,
                  (long long)info.n_params, x.threads, (long long)x.n_prompt, (long long)x.n_gen, json_str(date).c_str(),
                  x.avg(), x.sd());
      for (size_t k = 0; k < x.samples_ts.size(); ++k) std::printf(k ? ", %.6f" : "%.6f", x.samples_ts[k]);
      std::printf("], \"weights_bytes_per_s\": %.0f, \"read_bw_bytes_per_s\": %.0f", wbps, bw);
      if (x.n_gen > 0)
        std::printf(", \"read_bw_before_bytes_per_s\": %.0f, \"read_bw_after_bytes_per_s\": %.0f, "
                    "\"bw_fraction\": %.4f, \"stddev_bw_fraction\": %.4f",
                    x.bw_before, x.bw_after, wbps / bw, x.sd() * double(info.weight_bytes) / bw);
      std::printf("}%s\n", i + 1 < tests.size() ? "," : "");
    }
    std::printf("]\n");
    return 0;
  }
  std::printf("| model | format | size | params | isa | threads | test | t/s | weights GB/s | read BW GB/s | of BW |\n");
  std::printf("| --- | --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: |\n");
  for (const Test& x : tests) {
    size_t ti = size_t(std::find(threads->begin(), threads->end(), x.threads) - threads->begin());
    double bw = x.bw(bw_by_threads[ti]);
    std::string test = x.n_prompt ? "pp" + std::to_string(x.n_prompt) : "tg" + std::to_string(x.n_gen);
    std::string wcol = "", frac = "", bwcol = strfmt("%.1f", bw / 1e9);
    if (x.n_gen) {
      double wbps = x.avg() * double(info.weight_bytes);
      wcol = strfmt("%.1f", wbps / 1e9);
      frac = strfmt("%.0f ± %.0f%%", 100 * wbps / bw, 100 * x.sd() * double(info.weight_bytes) / bw);
      bwcol = strfmt("%.1f (%.1f-%.1f)", bw / 1e9, x.bw_before / 1e9, x.bw_after / 1e9);
    }
    std::printf("| %s | %s | %.2f GiB | %.2f M | %s | %d | %s | %.2f ± %.2f | %s | %s | %s |\n", name.c_str(),
                info.weight_format.c_str(), double(info.weight_bytes) / (1 << 30), double(info.n_params) / 1e6,
                isa.c_str(), x.threads, test.c_str(), x.avg(), x.sd(), wcol.c_str(), bwcol.c_str(), frac.c_str());
  }
  std::printf("\n%s, %s, %d repetitions; generation's read BW: the mean of the probes just before and just after\n"
              "its runs (in brackets); \"of BW\": weight bytes per second over that mean, ± its runs' sd\n",
              cpu.c_str(), date, f.reps);
  return 0;
}

}  // namespace

void add_bench(CLI::App& app) {
  auto f = std::make_shared<BenchFlags>();
  CLI::App* c = app.add_subcommand("bench", "measure prompt and generation speed against memory bandwidth");
  c->add_option("-m,--model", f->model, "model file or folder");
  c->add_option("--random", f->random_shape, "random weights of a named shape (tinyllama-1.1b, llama-7b, stories260k, mmfree-370m, mmfree-1.3b, mmfree-2.7b)");
  c->add_option("--type", f->type, "weight format for --random: Llama shapes f32, f16, bf16, q8_0 (default), q4_0, q4_k, q5_k, q6_k, mxfp4, "
                "mxfp4_fpq, nvfp4, int4_g32, "
                "int4_g64, int4_g128, tq1_0, tq2_0; mmfree shapes t2 (default), t1_6; with --kernels a comma-separated list "
                "(default: all of these)");
  c->add_option("-p,--n-prompt", f->n_prompt, "prompt tokens per test")->check(CLI::Range(int64_t(0), int64_t(1) << 16));
  c->add_option("-n,--n-gen", f->n_gen, "generated tokens per test")->check(CLI::Range(int64_t(0), int64_t(1) << 16));
  c->add_option("-r,--repetitions", f->reps, "repetitions of each test")->check(CLI::Range(1, 1000));
  c->add_option("-t,--threads", f->threads, "comma-separated thread counts, e.g. 1,2 (default: physical cores)");
  c->add_option("--seed", f->seed, "seed for --random weights");
  c->add_flag("--kernels", f->kernels,
              "measure each format's matmul kernel alone (one thread, weights in L2): decode GB/s and prefill GMAC/s");
  c->add_flag("--json", f->json, "print a JSON array (llama-bench field names where they overlap)");
  c->add_flag("--no-repack", f->no_repack, kNoRepackHelp);
  c->callback([f, c] {
    for (const CLI::Option* o : c->get_options())
      if (o->count() > 0) f->given.push_back(o->get_name());
    int rc = run(*f);
    if (rc) throw CLI::RuntimeError(rc);
  });
}

}  // namespace nb::cli
