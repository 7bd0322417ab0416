// Names of ggml's tensor type ids, so a GGUF holding a type nibble cannot read
// says which one ("unsupported tensor type 35 (TQ2_0)"). Which types nibble
// reads is the format table's business (formats::find_by_gguf_type), not this list's.
#pragma once
#include <cstdint>

namespace nb::io {

// ggml's name for a GGUF tensor type id, or nullptr for an id ggml never used.
const char* ggml_type_name(uint32_t type);

}  // namespace nb::io
