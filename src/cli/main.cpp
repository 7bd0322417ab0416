// nibble: one binary, one subcommand per file in this folder.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/common.h"
#include "core/log.h"

int main(int argc, char** argv) {
  CLI::App app{"nibble " NIBBLE_VERSION ": fast, exact inference for low-bit language models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", NIBBLE_VERSION);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "more messages on stderr");
  nb::cli::add_run(app);
  nb::cli::add_perplexity(app);
  nb::cli::add_bench(app);
  nb::cli::add_tokenize(app);
  nb::cli::add_inspect(app);
  nb::cli::add_convert(app);
  nb::cli::add_quantize(app);
  app.parse_complete_callback([&] { nb::set_log_level(verbose ? nb::LogLevel::Debug : nb::LogLevel::Warn); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a subcommand's own failure, already reported
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}
