// A pre-parse guard for JSON from files. nlohmann::json parses without
// recursion, but copying a value (ordered_json copies when its object storage
// grows), dump() and comparisons recurse, so a hostile file nesting 100k
// brackets would overflow the stack. Model JSON nests a few levels; refuse
// deep nesting before parsing.
#pragma once
#include <string_view>

namespace nb::io {

constexpr int kMaxJsonDepth = 64;

// True when no bracket nests deeper than `max_depth` outside of strings.
inline bool json_depth_ok(std::string_view text, int max_depth = kMaxJsonDepth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

}  // namespace nb::io
