// nibble inspect: what a model file holds; --system: this CPU and the kernels chosen.
#include <cstdio>

#include "cli/common.h"
#include "core/membw.h"
#include "formats/format.h"
#include "kernels/amx.h"
#include "kernels/dispatch.h"

namespace nb::cli {
namespace {

struct InspectFlags {
  std::string model;
  bool system = false, bandwidth = false, all_meta = false;
  int threads = 0;
};

int system_info(const InspectFlags& f) {
  CpuFeatures c = cpu_features();
  std::printf("cpu: %s\n", cpu_model_name().c_str());
  std::printf("physical cores: %d\n", physical_cores());
  std::printf("features: avx2=%d fma=%d f16c=%d avx512f=%d avx512bw=%d avx512vl=%d avx512vnni=%d avx512bf16=%d avx512vbmi=%d amx_int8=%d "
              "amx_bf16=%d\n",
              c.avx2, c.fma, c.f16c, c.avx512f, c.avx512bw, c.avx512vl, c.avx512vnni, c.avx512bf16, c.avx512vbmi,
              c.amx_int8, c.amx_bf16);
  std::printf("kernel ISAs available: %s\n", kernels::available_isas().c_str());
  const auto& t = kernels::active_table();
  std::printf("kernel table in use: %s\n", t.isa.c_str());
  // "any order": the entries that sum in another order, which the Llama
  // models take (KernelTable::matmul_prefill / matmul_decode).
  std::printf("  %-10s %-10s %-13s %-22s %s\n", "format", "activation", "matmul kernel", "rearranged at load to",
              "any order");
  for (size_t i = 0; i < size_t(FormatId::kCount); ++i) {
    const auto& tr = formats::traits(FormatId(i));
    if (!tr.dot) continue;
    const FormatId to = t.load_layout[i];
    const char* any = t.matmul_prefill[i] ? (t.matmul_decode[i] ? "prefill, decode" : "prefill")
                                          : (t.matmul_decode[i] ? "decode" : "-");
    std::printf("  %-10s %-10s %-13s %-22s %s\n", tr.name, formats::traits(tr.dot_type).name,
                t.matmul[i] ? (t.matmul_isa[i] ? t.matmul_isa[i] : "?") : "none",
                to == FormatId::kCount ? "-" : formats::traits(to).name, any);
  }
  if (kernels::amx_bf16_ready())
    std::printf("  (any order: f32, f16 and bf16 prefill of the Llama models runs on the AMX tile unit too)\n");
  if (f.bandwidth) {
    int n = f.threads > 0 ? f.threads : physical_cores();
    ThreadPool pool(n);
    std::printf("memory read bandwidth (%d threads): %.1f GB/s\n", n, measure_read_bandwidth(pool) / 1e9);
  }
  return 0;
}

int model_info(const InspectFlags& f) {
  auto mf = io::open_model(f.model);
  if (!mf.ok()) return fail("inspect", mf.status());
  std::printf("file: %s\ncontainer: %s\n", mf->path.c_str(), mf->container.c_str());
  std::printf("metadata (%zu keys):\n", mf->meta.size());
  for (const auto& [k, v] : mf->meta) std::printf("  %-40s %s\n", k.c_str(), v.to_string(f.all_meta ? 1u << 30 : 8).c_str());
  int64_t total = 0, params = 0;
  std::printf("tensors (%zu):\n", mf->tensors.size());
  for (const auto& t : mf->tensors) {
    std::printf("  %-48s %-6s %-20s %12zu bytes\n", t.name.c_str(), formats::traits(t.view.format).name,
                shape_string(t.view).c_str(), t.bytes);
    total += int64_t(t.bytes);
    params += t.view.numel();
  }
  std::printf("total: %lld parameters, %lld bytes (%.2f bits per weight)\n", (long long)params, (long long)total,
              params ? 8.0 * double(total) / double(params) : 0.0);
  // The model's own view: architecture and hyper-parameters, if it loads.
  auto file = std::make_shared<const io::ModelFile>(std::move(mf).value());
  auto model = load_model(file);
  if (!model.ok()) {
    std::printf("model: does not load: %s\n", model.status().message().c_str());
    return 1;
  }
  const ModelInfo& info = (*model)->info();
  std::printf("architecture: %s\n", info.arch.c_str());
  for (const auto& [k, v] : info.hparams) std::printf("  %-20s %s\n", k.c_str(), v.c_str());
  std::printf("weights streamed per token: %lld bytes (matrices: %s)\n", (long long)info.weight_bytes,
              info.weight_format.c_str());
  auto tok = tokenizer_for_model(*file);
  std::printf("tokenizer: %s\n", tok.ok() ? ((*tok)->kind() + ", " + std::to_string((*tok)->n_vocab()) + " tokens").c_str()
                                          : ("none (" + tok.status().message() + ")").c_str());
  return 0;
}

}  // namespace

void add_inspect(CLI::App& app) {
  auto f = std::make_shared<InspectFlags>();
  CLI::App* c = app.add_subcommand("inspect", "show a model's architecture, metadata and tensors, or this system");
  c->add_option("model", f->model, "GGUF file, llama2.c .bin, or Hugging Face folder");
  c->add_flag("--system", f->system, "print CPU features and the kernels chosen");
  c->add_flag("--bandwidth", f->bandwidth, "with --system: also measure memory read bandwidth");
  c->add_option("-t,--threads", f->threads, "threads for --bandwidth");
  c->add_flag("--all", f->all_meta, "print metadata arrays in full");
  c->callback([f] {
    int rc = 0;
    if (f->system) rc = system_info(*f);
    else if (!f->model.empty()) rc = model_info(*f);
    else rc = fail("inspect", Status::Error("give a model path, or --system"));
    if (rc) throw CLI::RuntimeError(rc);
  });
}

}  // namespace nb::cli
