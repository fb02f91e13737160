#include "sim/trace.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <stdexcept>

#include "sim/hash.h"

namespace cfsim {

const Value* Record::field(std::string_view key) const {
  for (const auto& [k, v] : fields)
    if (k == key) return &v;
  return nullptr;
}

std::string Record::field_text(std::string_view key) const {
  const Value* v = field(key);
  return v ? value_text(*v) : std::string();
}

std::string value_text(const Value& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) return x;
        else if constexpr (std::is_same_v<T, bool>) return x ? "true" : "false";
        else return fmt::format("{}", x);
      },
      v);
}

namespace {

void hash_value(Hasher& h, const FieldValue& v) {
  h.add(v.index());
  switch (v.index()) {
    case 0: h.add_signed(std::get<int64_t>(v)); break;
    case 1: h.add(std::get<bool>(v) ? 1 : 0); break;
    case 2: h.add(std::bit_cast<uint64_t>(std::get<double>(v))); break;
    case 3: h.add_bytes(std::get<std::string_view>(v)); break;
  }
}

FieldValue view_of(const Value& v) {
  switch (v.index()) {
    case 0: return std::get<int64_t>(v);
    case 1: return std::get<bool>(v);
    case 2: return std::get<double>(v);
    default: return std::string_view(std::get<std::string>(v));
  }
}

Value own(const FieldValue& v) {
  switch (v.index()) {
    case 0: return std::get<int64_t>(v);
    case 1: return std::get<bool>(v);
    case 2: return std::get<double>(v);
    default: return std::string(std::get<std::string_view>(v));
  }
}

}  // namespace

Hasher record_prefix(std::string_view category, std::string_view name, Phase phase, size_t field_count) {
  Hasher h;
  h.add_bytes(category);
  h.add_bytes(name);
  h.add(static_cast<uint64_t>(phase));
  h.add(field_count);
  return h;
}

uint64_t record_hash(Time time, uint32_t fiber, std::string_view category, std::string_view name,
                     Phase phase, std::span<const Field> fields) {
  Hasher h = record_prefix(category, name, phase, fields.size());
  h.add_signed(time.ns);
  h.add(fiber);
  for (const Field& f : fields) {
    h.add_bytes(f.key);
    hash_value(h, f.value);
  }
  return h.value();
}

uint64_t record_hash(const Record& r) {
  std::vector<Field> views;
  views.reserve(r.fields.size());
  for (const auto& [k, v] : r.fields) {
    Field f(k, int64_t{0});
    f.value = view_of(v);
    views.push_back(f);
  }
  return record_hash(r.time, r.fiber, r.category, r.name, r.phase, views);
}

void Trace::record(Time t, uint32_t fiber, std::string_view fiber_name, std::string_view category,
                   std::string_view name, Phase phase, std::span<const Field> fields) {
  // A key given twice would be hashed twice but could not survive a trace file (a JSON object
  // keeps one value per key), so the file would no longer replay to the same hash.
  for (size_t i = 1; i < fields.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (fields[i].key == fields[j].key)
        throw std::invalid_argument(
            fmt::format("trace record {}.{}: field '{}' given twice", category, name, fields[i].key));
  uint64_t rh = record_hash(t, fiber, category, name, phase, fields);
  hash_ = mix64(hash_ ^ rh) + count_;
  if (!sinks_.empty() && !closed_) {  // after close() (a world being torn down) only the hash moves
    Record r;
    r.index = count_;
    r.time = t;
    r.fiber = fiber;
    r.fiber_name = std::string(fiber_name);
    r.category = std::string(category);
    r.name = std::string(name);
    r.phase = phase;
    r.fields.reserve(fields.size());
    for (const Field& f : fields) r.fields.emplace_back(std::string(f.key), own(f.value));
    for (auto& s : sinks_) s->write(r);
  }
  ++count_;
}

void Trace::record_prehashed(const Hasher& prefix, Time t, uint32_t fiber, std::string_view fiber_name,
                             std::string_view category, std::string_view name, Phase phase) {
  if (!sinks_.empty() && !closed_) {  // the general path builds the owned record the sinks need
    record(t, fiber, fiber_name, category, name, phase, {});
    return;
  }
  Hasher h = prefix;
  h.add_signed(t.ns);
  h.add(fiber);
  hash_ = mix64(hash_ ^ h.value()) + count_;
  ++count_;
}

void Trace::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& s : sinks_) s->close(hash_, count_);
}

std::optional<TraceDifference> first_difference(std::span<const Record> left, std::span<const Record> right) {
  size_t n = std::min(left.size(), right.size());
  for (size_t i = 0; i < n; ++i) {
    if (record_hash(left[i]) != record_hash(right[i])) return TraceDifference{i, left[i], right[i]};
  }
  if (left.size() == right.size()) return std::nullopt;
  TraceDifference d;
  d.index = n;
  if (n < left.size()) d.left = left[n];
  if (n < right.size()) d.right = right[n];
  return d;
}

namespace {

// A string value is quoted when it would otherwise be ambiguous or break the line: empty, or
// holding a space, a control character (newline...), a quote, '=' or a backslash.
bool needs_quotes(std::string_view s) {
  if (s.empty()) return true;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= ' ' || u == 127 || c == '"' || c == '=' || c == '\\') return true;
  }
  return false;
}

// Double quotes with C-style escapes, so a record stays on one line and reads back unambiguously.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < ' ' || u == 127) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace

std::string format_record(const Record& r) {
  std::string out = fmt::format("{:>14} ", format_time(r.time));
  if (r.fiber == 0) out += "[kernel] ";
  else out += fmt::format("[{} {}] ", r.fiber, r.fiber_name);
  if (r.phase == Phase::begin) out += "begin ";
  if (r.phase == Phase::end) out += "end ";
  out += r.category;
  out += '.';
  out += r.name;
  for (const auto& [k, v] : r.fields) {
    out += ' ';
    out += k;
    out += '=';
    std::string text = value_text(v);
    if (std::holds_alternative<std::string>(v) && needs_quotes(text)) out += quoted(text);
    else out += text;
  }
  return out;
}

}  // namespace cfsim
