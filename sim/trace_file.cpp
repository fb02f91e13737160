#include "sim/trace_file.h"

#include <fmt/format.h>

#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sim/hash.h"

namespace cfsim {

using ojson = nlohmann::ordered_json;

std::string hash_hex(uint64_t h) { return fmt::format("0x{:016x}", h); }

namespace {

std::FILE* open_tmp(const std::string& tmp) {
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) throw TraceFileError(fmt::format("cannot create trace file '{}': {}", tmp, std::strerror(errno)));
  return f;
}

// JSON has no NaN or infinity (nlohmann writes them as null, which would not read back), so a
// non-finite double is written as {"f64": "0x<its 64 bits>"}: exact, payload and sign included,
// so the record keeps its hash.
ojson value_json(const Value& v) {
  switch (v.index()) {
    case 0: return std::get<int64_t>(v);
    case 1: return std::get<bool>(v);
    case 2: {
      double d = std::get<double>(v);
      if (std::isfinite(d)) return d;
      return ojson{{"f64", hash_hex(std::bit_cast<uint64_t>(d))}};
    }
    default: return std::get<std::string>(v);
  }
}

// "0x" + exactly 16 hex digits, as hash_hex writes them.
std::optional<uint64_t> parse_hex64(const std::string& h) {
  if (h.size() != 18 || h[0] != '0' || h[1] != 'x') return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(h.data() + 2, h.data() + h.size(), v, 16);
  if (ec != std::errc() || p != h.data() + h.size()) return std::nullopt;
  return v;
}

const char* phase_code(Phase p) { return p == Phase::begin ? "b" : p == Phase::end ? "e" : "i"; }

}  // namespace

std::string record_to_json(const Record& r, const BuildInfo& build) {
  ojson j;
  j["i"] = r.index;
  j["t"] = r.time.ns;
  j["f"] = r.fiber;
  j["fn"] = r.fiber_name;
  j["c"] = r.category;
  j["n"] = r.name;
  if (r.phase != Phase::instant) j["p"] = phase_code(r.phase);
  ojson a = ojson::object();
  for (const auto& [k, v] : r.fields) a[k] = value_json(v);
  j["a"] = std::move(a);
  if (!build.empty()) {
    ojson b = ojson::object();
    for (const auto& [k, v] : build) b[k] = v;
    j["build"] = std::move(b);
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// --- JSON lines ---------------------------------------------------------------------------------

JsonlSink::JsonlSink(std::string path, BuildInfo build)
    : path_(std::move(path)), tmp_(path_ + ".tmp"), build_(std::move(build)) {
  f_ = open_tmp(tmp_);
}

JsonlSink::~JsonlSink() { finish(nullptr); }

void JsonlSink::write(const Record& r) {
  if (!f_) return;
  std::string line = record_to_json(r, r.index == 0 ? build_ : BuildInfo{});
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), f_);
}

void JsonlSink::close(uint64_t hash, uint64_t records) {
  ojson footer;
  footer["end"] = {{"hash", hash_hex(hash)}, {"records", records}};
  std::string line = footer.dump() + "\n";
  finish(&line);
}

void JsonlSink::finish(const std::string* footer) {
  if (!f_) return;
  if (footer) std::fwrite(footer->data(), 1, footer->size(), f_);
  std::fclose(f_);
  f_ = nullptr;
  std::rename(tmp_.c_str(), path_.c_str());
}

// --- Perfetto / Chrome trace events --------------------------------------------------------------

PerfettoSink::PerfettoSink(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {
  f_ = open_tmp(tmp_);
  std::fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n", f_);
}

PerfettoSink::~PerfettoSink() { finish(); }

void PerfettoSink::emit(const std::string& json) {
  if (!f_) return;
  if (!first_) std::fputs(",\n", f_);
  first_ = false;
  std::fwrite(json.data(), 1, json.size(), f_);
}

void PerfettoSink::write(const Record& r) {
  if (!f_) return;
  if (!named_tracks_.count(r.fiber)) {
    named_tracks_[r.fiber] = true;
    ojson m = {{"ph", "M"}, {"pid", 1}, {"tid", r.fiber}, {"name", "thread_name"},
               {"args", {{"name", r.fiber == 0 ? std::string("kernel") : fmt::format("{} {}", r.fiber, r.fiber_name)}}}};
    emit(m.dump());
  }
  ojson e;
  e["name"] = r.name;
  e["cat"] = r.category;
  e["pid"] = 1;
  e["tid"] = r.fiber;
  e["ts"] = static_cast<double>(r.time.ns) / 1000.0;  // microseconds
  ojson args = ojson::object();
  for (const auto& [k, v] : r.fields) {
    // For a viewer, a non-finite double reads best as text ("nan", "inf", "-inf").
    if (v.index() == 2 && !std::isfinite(std::get<double>(v))) args[k] = fmt::format("{}", std::get<double>(v));
    else args[k] = value_json(v);
  }
  if (r.phase == Phase::instant) {
    e["ph"] = "i";
    e["s"] = "t";
  } else {
    // Async slices: begin and end match on category, name and id, across tracks.
    e["ph"] = r.phase == Phase::begin ? "b" : "e";
    e["id"] = hash_hex(hash_string(r.category + "/" + r.name + "/" + r.field_text("id")));
  }
  e["args"] = std::move(args);
  emit(e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void PerfettoSink::close(uint64_t, uint64_t) { finish(); }

void PerfettoSink::finish() {
  if (!f_) return;
  std::fputs("\n]}\n", f_);
  std::fclose(f_);
  f_ = nullptr;
  std::rename(tmp_.c_str(), path_.c_str());
}

// --- reading ---------------------------------------------------------------------------------------

namespace {

[[noreturn]] void bad(const std::string& origin, size_t line, const std::string& why) {
  throw TraceFileError(fmt::format("{}:{}: {}", origin, line, why));
}

Value parse_value(const std::string& key, const ojson& v, const std::string& origin, size_t line) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      bad(origin, line, fmt::format("field '{}': integer {} out of range", key, v.get<uint64_t>()));
    return v.get<int64_t>();
  }
  if (v.is_number_float()) return v.get<double>();
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.size() == 1 && v.contains("f64") && v.at("f64").is_string()) {
    if (auto bits = parse_hex64(v.at("f64").get<std::string>())) return std::bit_cast<double>(*bits);
  }
  bad(origin, line, fmt::format("field '{}': values must be numbers, booleans or strings", key));
}

const ojson& require(const ojson& j, const char* key, const std::string& origin, size_t line) {
  auto it = j.find(key);
  if (it == j.end()) bad(origin, line, fmt::format("record has no '{}'", key));
  return *it;
}

// Strict getters: nlohmann's get<> would quietly turn true, 1.5 or -1 into an integer.
std::string get_string(const ojson& j, const char* key, const std::string& origin, size_t line) {
  const ojson& v = require(j, key, origin, line);
  if (!v.is_string()) bad(origin, line, fmt::format("'{}' must be a string, not {}", key, v.type_name()));
  return v.get<std::string>();
}

int64_t get_int(const ojson& j, const char* key, int64_t lo, int64_t hi, const std::string& origin, size_t line) {
  const ojson& v = require(j, key, origin, line);
  if (!v.is_number_integer()) bad(origin, line, fmt::format("'{}' must be an integer, not {}", key, v.type_name()));
  // Non-negative JSON integers are stored unsigned (they may exceed INT64_MAX); callers pass hi >= 0.
  bool in_range = v.is_number_unsigned() ? (lo <= 0 || v.get<uint64_t>() >= static_cast<uint64_t>(lo)) &&
                                               v.get<uint64_t>() <= static_cast<uint64_t>(hi)
                                         : v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
  if (!in_range)
    bad(origin, line, fmt::format("'{}' = {} is out of range [{}, {}]", key, v.dump(), lo, hi));
  return v.get<int64_t>();
}

// The header line's "build" member: an object of strings.
BuildInfo parse_build(const ojson& b, const std::string& origin, size_t line) {
  if (!b.is_object()) bad(origin, line, "'build' must be an object");
  BuildInfo out;
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (!it.value().is_string()) bad(origin, line, fmt::format("build '{}' must be a string, not {}", it.key(), it.value().type_name()));
    out.emplace_back(it.key(), it.value().get<std::string>());
  }
  return out;
}

}  // namespace

TraceFile parse_jsonl(std::string_view text, const std::string& origin) {
  TraceFile out;
  size_t line_no = 0, pos = 0;
  bool ended = false;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    ++line_no;
    if (nl == std::string_view::npos) bad(origin, line_no, "truncated: the last line has no newline");
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    if (ended) bad(origin, line_no, "data after the end-of-trace footer");
    ojson j = ojson::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) bad(origin, line_no, "not a JSON object");
    if (auto e = j.find("end"); e != j.end()) {
      if (!e->is_object()) bad(origin, line_no, "malformed footer");
      std::string h = get_string(*e, "hash", origin, line_no);
      out.final_hash = parse_hex64(h);
      if (!out.final_hash) bad(origin, line_no, fmt::format("footer hash '{}' must be 0x followed by 16 hex digits", h));
      out.final_count = static_cast<uint64_t>(get_int(*e, "records", 0, INT64_MAX, origin, line_no));
      if (*out.final_count != out.records.size())
        bad(origin, line_no,
            fmt::format("footer says {} records, the file holds {}", *out.final_count, out.records.size()));
      ended = true;
      continue;
    }
    Record r;
    r.index = static_cast<uint64_t>(get_int(j, "i", 0, INT64_MAX, origin, line_no));
    if (r.index != out.records.size())
      bad(origin, line_no, fmt::format("record index {} out of sequence (expected {})", r.index, out.records.size()));
    r.time = Time::from_ns(get_int(j, "t", 0, INT64_MAX, origin, line_no));
    r.fiber = static_cast<uint32_t>(get_int(j, "f", 0, UINT32_MAX, origin, line_no));
    r.fiber_name = get_string(j, "fn", origin, line_no);
    r.category = get_string(j, "c", origin, line_no);
    r.name = get_string(j, "n", origin, line_no);
    if (auto p = j.find("p"); p != j.end()) {
      std::string code = p->is_string() ? p->get<std::string>() : "";
      if (code == "b") r.phase = Phase::begin;
      else if (code == "e") r.phase = Phase::end;
      else if (code == "i") r.phase = Phase::instant;
      else bad(origin, line_no, "phase must be \"b\", \"e\" or \"i\"");
    }
    auto a = j.find("a");
    if (a != j.end()) {
      if (!a->is_object()) bad(origin, line_no, "'a' must be an object");
      for (auto it = a->begin(); it != a->end(); ++it)
        r.fields.emplace_back(it.key(), parse_value(it.key(), it.value(), origin, line_no));
    }
    if (auto b = j.find("build"); b != j.end() && r.index == 0) out.build = parse_build(*b, origin, line_no);
    out.records.push_back(std::move(r));
  }
  if (out.records.empty() && !ended) throw TraceFileError(fmt::format("{}: empty trace", origin));
  return out;
}

TraceFile read_jsonl(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TraceFileError(fmt::format("cannot read trace file '{}': {}", path, std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_jsonl(ss.str(), path);
}

}  // namespace cfsim
