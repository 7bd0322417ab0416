// nibble convert: rewrite a model as GGUF (placeholder until the exporter lands).
#include "cli/common.h"

namespace nb::cli {

void add_convert(CLI::App& app) {
  CLI::App* c = app.add_subcommand("convert", "write a model as GGUF");
  c->callback([] { throw CLI::RuntimeError(fail("convert", Status::Error("not implemented yet"))); });
}

}  // namespace nb::cli
