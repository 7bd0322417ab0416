// A Hugging Face checkpoint folder: config.json, then model.safetensors or
// model.safetensors.index.json with its shards. config.json becomes "hf.*"
// metadata; the shards' tensors are merged into one ModelFile.
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include <map>
#include <set>

#include "io/json_depth.h"
#include "io/parse.h"

namespace nb::io {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kMaxConfigDepth = 16;  // config.json nests 2-3 deep; deeper is hostile or not a config
constexpr size_t kMaxJsonBytes = 64u << 20;

std::string join(const std::string& dir, const std::string& name) {
  return !dir.empty() && dir.back() == '/' ? dir + name : dir + "/" + name;
}

bool is_file(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<Json> parse_json(std::string_view text, const std::string& name) {
  if (!json_depth_ok(text)) return Status::Error(strfmt("%s: JSON nests deeper than %d levels", name.c_str(), kMaxJsonDepth));
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const std::exception& e) {
    return Status::Error(name + ": not valid JSON: " + e.what());
  }
}

// An array of scalars as one MetaValue; nothing when the array mixes kinds or
// holds objects, arrays or nulls, which GGUF-style metadata cannot say. Such
// arrays do not occur in the config keys nibble reads.
bool array_value(const Json& a, MetaValue* out) {
  bool all_int = true, all_num = true, all_str = true, all_bool = true;
  for (const Json& e : a) {
    const bool fits_i64 = e.is_number_integer() && !(e.is_number_unsigned() && e.get<uint64_t>() > uint64_t(INT64_MAX));
    all_int &= fits_i64;
    all_num &= e.is_number();
    all_str &= e.is_string();
    all_bool &= e.is_boolean();
  }
  if (all_int) {  // also the empty array
    std::vector<int64_t> v;
    for (const Json& e : a) v.push_back(e.get<int64_t>());
    *out = MetaValue::IntArray(std::move(v), MetaType::I64);
  } else if (all_num) {
    std::vector<double> v;
    for (const Json& e : a) v.push_back(e.get<double>());
    *out = MetaValue::FloatArray(std::move(v), MetaType::F64);
  } else if (all_str) {
    std::vector<std::string> v;
    for (const Json& e : a) v.push_back(e.get<std::string>());
    *out = MetaValue::StrArray(std::move(v));
  } else if (all_bool) {
    std::vector<int64_t> v;
    for (const Json& e : a) v.push_back(e.get<bool>());
    *out = MetaValue::IntArray(std::move(v), MetaType::Bool);
  } else {
    return false;
  }
  return true;
}

Status flatten(const Json& obj, const std::string& prefix, int depth, const std::string& name,
               std::map<std::string, MetaValue>* meta) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string key = prefix + it.key();
    const Json& v = it.value();
    MetaValue m;
    if (v.is_null()) continue;
    if (v.is_object()) {
      if (depth + 1 >= kMaxConfigDepth)
        return Status::Error(strfmt("%s: %s: objects nested more than %d deep", name.c_str(), key.c_str(), kMaxConfigDepth));
      NB_TRY(flatten(v, key + ".", depth + 1, name, meta));
      continue;
    }
    if (v.is_boolean()) m = MetaValue::Bool(v.get<bool>());
    else if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
      m = MetaValue::Int(int64_t(v.get<uint64_t>()), MetaType::U64);  // bit-cast, as model_file.h says
    else if (v.is_number_integer()) m = MetaValue::Int(v.get<int64_t>(), MetaType::I64);
    else if (v.is_number_float()) m = MetaValue::Float(v.get<double>(), MetaType::F64);
    else if (v.is_string()) m = MetaValue::Str(v.get<std::string>());
    else if (v.is_array() && array_value(v, &m)) {
    } else {
      continue;  // arrays of objects/arrays/mixed kinds: see array_value()
    }
    if (!meta->emplace(key, std::move(m)).second)
      return Status::Error(strfmt("%s: key '%s' appears twice after flattening", name.c_str(), key.c_str()));
  }
  return Status::Ok();
}

Result<std::string> read_small_file(const std::string& path) {
  NB_ASSIGN_OR_RETURN(auto map, MappedFile::open(path));
  if (map->size() > kMaxJsonBytes)
    return Status::Error(strfmt("%s: %zu bytes is too large for a JSON file (cap %zu)", path.c_str(), map->size(),
                                kMaxJsonBytes));
  return std::string(reinterpret_cast<const char*>(map->data()), map->size());
}

// Adds `shard`'s tensors and metadata to `m`, checking a tensor is not in two shards.
Status merge(ModelFile&& shard, ModelFile& m, std::map<std::string, std::string>& owner) {
  for (TensorInfo& t : shard.tensors) {
    auto [it, fresh] = owner.emplace(t.name, t.file);
    if (!fresh)
      return Status::Error(strfmt("%s: tensor '%s' is in two shards: %s and %s", m.path.c_str(), t.name.c_str(),
                                  it->second.c_str(), t.file.c_str()));
    m.tensors.push_back(std::move(t));
  }
  for (auto& kv : shard.meta) m.meta.emplace(kv.first, std::move(kv.second));  // first shard's wins
  for (auto& map : shard.maps) m.maps.push_back(std::move(map));
  return Status::Ok();
}

Result<ModelFile> open_shard(const std::string& path) {
  NB_ASSIGN_OR_RETURN(auto map, MappedFile::open(path));
  return parse_mapped(std::move(map), parse_safetensors);
}

}  // namespace

Status flatten_hf_config(std::string_view text, const std::string& name, std::map<std::string, MetaValue>* meta) {
  NB_ASSIGN_OR_RETURN(Json j, parse_json(text, name));
  if (!j.is_object()) return Status::Error(name + ": expected a JSON object, found " + j.type_name());
  return flatten(j, "hf.", 0, name, meta);
}

Result<std::vector<ShardEntry>> parse_hf_index(std::string_view text, const std::string& name) {
  NB_ASSIGN_OR_RETURN(Json j, parse_json(text, name));
  if (!j.is_object()) return Status::Error(name + ": expected a JSON object, found " + j.type_name());
  auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object()) return Status::Error(name + ": no \"weight_map\" object");
  std::vector<ShardEntry> out;
  out.reserve(wm->size());
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it.value().is_string())
      return Status::Error(strfmt("%s: weight_map['%s']: expected a file name, found %s", name.c_str(),
                                  it.key().c_str(), it.value().type_name()));
    const std::string& shard = it.value().get_ref<const std::string&>();
    // Shards live beside the index; a path elsewhere is a mistake or an attack.
    if (shard.empty() || shard == "." || shard == ".." || shard.find_first_of(std::string("/\\\0", 3)) != std::string::npos)
      return Status::Error(strfmt("%s: weight_map['%s']: '%s' is not a plain file name", name.c_str(),
                                  it.key().c_str(), shard.c_str()));
    out.push_back({it.key(), shard});
  }
  return out;
}

Result<ModelFile> open_hf_folder(const std::string& dir) {
  ModelFile m;
  m.path = dir;
  m.container = "hf";
  m.meta_file = join(dir, "config.json");
  if (!is_file(m.meta_file))
    return Status::Error(dir + ": no config.json (a Hugging Face folder holds config.json and model.safetensors "
                               "or model.safetensors.index.json)");
  NB_ASSIGN_OR_RETURN(std::string config, read_small_file(m.meta_file));
  NB_TRY(flatten_hf_config(config, m.meta_file, &m.meta));

  std::map<std::string, std::string> owner;  // tensor -> shard file
  const std::string single = join(dir, "model.safetensors");
  const std::string index_path = join(dir, "model.safetensors.index.json");
  if (is_file(single)) {  // as transformers does, a single file wins over an index
    NB_ASSIGN_OR_RETURN(ModelFile shard, open_shard(single));
    NB_TRY(merge(std::move(shard), m, owner));
  } else if (is_file(index_path)) {
    NB_ASSIGN_OR_RETURN(std::string text, read_small_file(index_path));
    NB_ASSIGN_OR_RETURN(std::vector<ShardEntry> entries, parse_hf_index(text, index_path));
    std::vector<std::string> shards;  // in order of first mention, each opened once
    std::map<std::string, std::vector<std::string>> wanted;
    for (const ShardEntry& e : entries) {
      auto& list = wanted[e.shard];
      if (list.empty()) shards.push_back(e.shard);
      list.push_back(e.tensor);
    }
    for (const std::string& s : shards) {
      const std::string path = join(dir, s);
      auto shard = open_shard(path);
      if (!shard.ok()) return shard.status().with_context(index_path + ": shard '" + s + "'");
      for (const std::string& t : wanted[s])
        if (!shard->find(t))
          return Status::Error(strfmt("%s: tensor '%s' is mapped to %s, which does not hold it", index_path.c_str(),
                                      t.c_str(), s.c_str()));
      NB_TRY(merge(std::move(shard.value()), m, owner));
    }
  } else {
    return Status::Error(dir + ": neither model.safetensors nor model.safetensors.index.json is there");
  }
  NB_TRY(m.build_index());
  return m;
}

}  // namespace nb::io
